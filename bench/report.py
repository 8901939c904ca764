"""Benchmark figures: percentiles, a table for people, one JSON object for scripts."""

from __future__ import annotations

import os
import platform
import statistics
from typing import Any

from conveyor.text_table import format_table

__all__ = ["ingest_table", "machine", "percentiles", "process_table", "replay_table"]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``samples``."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def ingest_table(figures: dict[str, Any]) -> str:
    f = figures
    return _table(
        ("figure", "conveyor API", "raw producer", "ratio"),
        (
            "batch ingest, events/s",
            f"{f['api_batch_events_per_s']:,}",
            f"{f['raw_producer_events_per_s']:,}",
            f"{f['batch_ratio']:.2f}",
        ),
        (
            f"single-event requests/s (concurrency {f['api_single_concurrency']})",
            f"{f['api_single_requests_per_s']:,}",
            "-",
            "-",
        ),
        (
            "single-event 202 latency p50 / p99, ms",
            f"{f['api_single_p50_ms']} / {f['api_single_p99_ms']}",
            "-",
            "-",
        ),
    )


def process_table(figures: dict[str, Any]) -> str:
    f = figures
    return _table(
        ("figure", "conveyor", "raw loop", "ratio"),
        (
            "one worker process, events/s",
            f"{f['worker_events_per_s']:,}",
            f"{f['raw_loop_events_per_s']:,}",
            f"{f['process_ratio']:.2f}",
        ),
        (
            f"end-to-end p50 at {f['latency_rate_per_s']:,}/s, ms",
            f"{f['e2e_p50_ms']}",
            f"{f['raw_e2e_p50_ms']}",
            f"{f['e2e_p50_ms'] / f['raw_e2e_p50_ms']:.1f}x",
        ),
        (
            f"end-to-end p99 at {f['latency_rate_per_s']:,}/s, ms",
            f"{f['e2e_p99_ms']}",
            f"{f['raw_e2e_p99_ms']}",
            f"{f['e2e_p99_ms'] / f['raw_e2e_p99_ms']:.1f}x",
        ),
    )


def replay_table(figures: dict[str, Any]) -> str:
    f = figures
    return _table(
        ("figure", "conveyor", "raw loop", "ratio"),
        (
            f"re-publish {f['records']:,} records, records/s",
            f"{f['conveyor_records_per_s']:,}",
            f"{f['raw_records_per_s']:,}",
            f"{f['replay_ratio']:.2f}",
        ),
        (
            f"seconds ({f['partitions']} partitions, {f['mapping']} to {f['mapping']})",
            f"{f['conveyor_seconds']}",
            f"{f['raw_seconds']}",
            "-",
        ),
    )


def _table(*rows: tuple[str, str, str, str]) -> str:
    return format_table(rows, align="lrrr")
