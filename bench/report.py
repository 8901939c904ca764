"""Benchmark figures: percentiles, a table for people, one JSON object for scripts."""

from __future__ import annotations

import os
import platform
import statistics
from typing import Any

from conveyor.common.text_table import format_table

__all__ = [
    "Row",
    "Samples",
    "ingest_rows",
    "ingest_table",
    "latency_rows",
    "machine",
    "percentiles",
    "priorities_rows",
    "priorities_table",
    "process_table",
    "replay_rows",
    "replay_table",
    "throughput_rows",
]

# Latencies in seconds by what was measured, for the distributions `bench all` draws.
Samples = dict[str, list[float]]
# A figure: its name, conveyor's value, the raw baseline's and their ratio, as text.
Row = tuple[str, str, str, str]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # What else the machine was doing as the run began (other work moves the figures).
        "load_average": round(os.getloadavg()[0], 1),
    }


def _cpu_model() -> str:
    """The processor's name (Linux reports it in /proc/cpuinfo; elsewhere what Python says)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``samples``."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def ingest_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "conveyor API", "raw producer", "ratio"), ingest_rows(figures))


def process_table(figures: dict[str, Any]) -> str:
    rows = throughput_rows(figures) + latency_rows(figures)
    return _table(("figure", "conveyor", "raw loop", "ratio"), rows)


def priorities_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "high level", "low level", "ratio"), priorities_rows(figures))


def replay_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "conveyor", "raw loop", "ratio"), replay_rows(figures))


def ingest_rows(f: dict[str, Any]) -> list[Row]:
    return [
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
    ]


def throughput_rows(f: dict[str, Any]) -> list[Row]:
    """One worker's throughput (``bench process``'s first figure)."""
    return [
        (
            "one worker process, events/s",
            f"{f['worker_events_per_s']:,}",
            f"{f['raw_loop_events_per_s']:,}",
            f"{f['process_ratio']:.2f}",
        )
    ]


def latency_rows(f: dict[str, Any]) -> list[Row]:
    """End-to-end latency at a steady rate (``bench process``'s last figures)."""
    return [
        (
            f"end-to-end {name} at {f['latency_rate_per_s']:,}/s, ms",
            f"{f[f'e2e_{name}_ms']}",
            f"{f[f'raw_e2e_{name}_ms']}",
            f"{f[f'e2e_{name}_ms'] / f[f'raw_e2e_{name}_ms']:.1f}x",
        )
        for name in ("p50", "p99")
    ]


def priorities_rows(f: dict[str, Any]) -> list[Row]:
    """Waits from send to settled, high-priority orders beside the low backlog they overtake."""
    return [
        (
            f"wait {name}, {f['high_events']:,} high at {f['high_rate_per_s']:,}/s "
            f"beside {f['backlog']:,} low queued, ms",
            f"{f[f'high_{name}_ms']}",
            f"{f[f'low_{name}_ms']}",
            f"{f[f'{name}_ratio']:.3f}",
        )
        for name in ("p50", "p99")
    ]


def replay_rows(f: dict[str, Any]) -> list[Row]:
    return [
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
    ]


def _table(header: Row, rows: list[Row]) -> str:
    return format_table([header, *rows], align="lrrr")
