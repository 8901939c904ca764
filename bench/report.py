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
    "dashboard_rows",
    "ingest_rows",
    "ingest_table",
    "jobs_rows",
    "jobs_table",
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
    """``figures``: ``bench process``'s throughput and ``bench latency``'s, together."""
    rows = throughput_rows(figures) + latency_rows(figures)
    return _table(("figure", "conveyor", "raw loop", "ratio"), rows)


def priorities_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "high level", "low level", "ratio"), priorities_rows(figures))


def jobs_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "conveyor", "baseline", "ratio"), jobs_rows(figures))


def wait_table(figures: dict[str, Any]) -> str:
    return _table(("figure", "waiting", "polling", "ratio"), wait_rows(figures))


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
    """One worker's throughput beside each raw loop's (``bench process``'s first figures)."""
    return [
        (
            f"one worker process, events/s (raw: {raw})",
            f"{f['worker_events_per_s']:,}",
            f"{f[f'raw_{loop}_events_per_s']:,}",
            f"{f[f'process_{ratio}']:.2f}",
        )
        for raw, loop, ratio in (
            ("at-least-once", "loop", "ratio"),
            ("transactions", "txn_loop", "txn_ratio"),
        )
    ]


def latency_rows(f: dict[str, Any]) -> list[Row]:
    """End-to-end latency: at the headline rate beside each raw loop, POST to succeeded
    at the status URL, and each rate of the sweep beside the raw loop with transactions."""
    rate = f"{f['latency_rate_per_s']:,}/s"
    rows: list[Row] = [
        (
            f"end-to-end {name} at {rate}, ms (raw: {raw})",
            f"{f[f'e2e_{name}_ms']}",
            f"{f[f'raw{side}_e2e_{name}_ms']}",
            f"{f[f'{name}{side}_ratio']:.2f}x",
        )
        for name in ("p50", "p99")
        for raw, side in (("at-least-once", ""), ("transactions", "_txn"))
    ]
    rows.append(
        (
            f"POST to succeeded at the status URL p50 / p99 at {rate} "
            f"(1 job in {f['status_follow_every']}, polled every {f['status_poll_ms']} ms), ms",
            f"{f['status_p50_ms']} / {f['status_p99_ms']}",
            "-",
            "-",
        )
    )
    rows.extend(
        (
            f"end-to-end p50 / p99 at {point['rate_per_s']:,}/s "
            f"(sent at {point['e2e']['sent_per_s']:,}/s), ms (raw: transactions)",
            f"{point['e2e']['p50_ms']} / {point['e2e']['p99_ms']}",
            f"{point['raw_txn_e2e']['p50_ms']} / {point['raw_txn_e2e']['p99_ms']}",
            f"{point['e2e']['p99_ms'] / point['raw_txn_e2e']['p99_ms']:.2f}x (p99)",
        )
        for point in f["sweep"]
    )
    return rows


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


def dashboard_rows(f: dict[str, Any]) -> list[Row]:
    """The jobs page's searches: no raw baseline, the acceptance is an absolute (200 ms)."""
    return [
        (
            f"job search among {f['jobs']:,} jobs, with its next page, p50 / p99 ms",
            f"{f['search_p50_ms']:.1f} / {f['search_p99_ms']:.1f}",
            "none",
            "",
        )
    ]


def jobs_rows(f: dict[str, Any]) -> list[Row]:
    """One worker's jobs/s: slow calls beside the ideal and beside one at a time (a smaller
    count, the same rate), and CPU-bound jobs in the process pool beside the loop."""
    calls = (
        f"{f['jobs']:,} jobs calling a {f['delay_ms']} ms service, "
        f"concurrency {f['concurrency']}, jobs/s"
    )
    return [
        (
            f"{calls} (baseline: the ideal, concurrency / {f['delay_ms']} ms)",
            f"{f['concurrent_jobs_per_s']:,.1f}",
            f"{f['ideal_jobs_per_s']:,.0f}",
            f"{f['ideal_ratio']:.2f}",
        ),
        (
            f"{calls} (baseline: one at a time, {f['serial_jobs']:,} jobs at concurrency 1)",
            f"{f['concurrent_jobs_per_s']:,.1f}",
            f"{f['serial_jobs_per_s']:,.2f}",
            f"{f['serial_ratio']:,.1f}",
        ),
        (
            f"CPU-bound jobs of ~{f['cpu_job_ms']} ms, jobs/s (process pool of "
            f"{f['pool_processes']}; baseline: on the loop; median of {f['rounds']} rounds "
            f"of {f['cpu_jobs']:,})",
            f"{f['pool_jobs_per_s']:,.2f}",
            f"{f['loop_jobs_per_s']:,.2f}",
            f"{f['pool_ratio']:.2f}",
        ),
    ]


def wait_rows(f: dict[str, Any]) -> list[Row]:
    """Callers learning their jobs' outcomes by waiting (``?wait=``) beside polling."""
    who = f"{f['callers']:,} callers at {f['rate']:,}/s, jobs of {f['job_ms']} ms"
    return [
        (
            f"{who}: answer after the job ended, p50 / p99 ms",
            f"{f['wait_p50_ms']:,.1f} / {f['wait_p99_ms']:,.1f}",
            f"{f['poll_p50_ms']:,.1f} / {f['poll_p99_ms']:,.1f}",
            "",
        ),
        (
            f"{who}: requests",
            f"{f['wait_requests']:,}",
            f"{f['poll_requests']:,}",
            f"{f['wait_requests'] / f['poll_requests']:.2f}",
        ),
        (
            f"{who}: the API process's CPU seconds",
            f"{f['wait_api_cpu_s']:,.1f}",
            f"{f['poll_api_cpu_s']:,.1f}",
            f"{f['cpu_ratio']:.2f}",
        ),
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
