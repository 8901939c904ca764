"""What ``conveyor bench all`` writes: one JSON document, a Markdown report, and the
README's benchmark section rewritten from it."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from conveyor.bench.exceptions import BenchError
from conveyor.bench.report import (
    dashboard_rows,
    ingest_rows,
    jobs_rows,
    latency_rows,
    priorities_rows,
    replay_rows,
    throughput_rows,
    wait_rows,
)
from conveyor.bench.suite import SuitePlan, SuiteResult
from conveyor.common.text_table import format_markdown_table

__all__ = ["README_BEGIN", "README_END", "document", "markdown", "rewrite_readme"]

README_BEGIN = "<!-- bench all: begin (written by `conveyor bench all --readme`) -->"
README_END = "<!-- bench all: end -->"

# What the distributions are called in the report, by their samples' names.
LATENCIES = {
    "e2e": "end to end, conveyor (POST to enriched record readable)",
    "raw_e2e": "end to end, raw loop at-least-once (bare producer to enriched record readable)",
    "raw_txn_e2e": "end to end, raw loop with transactions (the same)",
    "status": "POST to succeeded at the status URL (polled; a sample of the jobs)",
    "api_single": "API single-event request to its 202",
    "priority_high": "high-priority order, sent to settled, beside a low backlog",
    "priority_low": "low-priority order of that backlog, sent to settled",
    "wait_answer": "a caller waiting on its job (?wait=): the job ended to the answer",
    "poll_answer": "a caller polling every 100 ms: the job ended to the answer",
}


def document(result: SuiteResult, plan: SuitePlan, files: dict[str, str]) -> dict[str, Any]:
    """Every figure, the latency distributions' percentiles, the machine and the sizes."""
    return {
        "machine": result.machine,
        "began": result.began.isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 1),
        "scale": plan.scale,
        **result.figures,
        "latency_ms": {name: _distribution(result.samples[name]) for name in LATENCIES},
        "files": files,
    }


def markdown(result: SuiteResult, images: dict[str, str]) -> str:
    """The report: the machine, one table of every figure beside its baseline, the plots
    (``images``: alt text to path, relative to where the Markdown will live)."""
    f = result.figures
    rows = [
        ("benchmark", "figure", "conveyor", "raw baseline", "ratio"),
        *(("ingest", *row) for row in ingest_rows(f["ingest"])),
        *(("process", *row) for row in throughput_rows(f["process"])),
        *(("end to end", *row) for row in latency_rows(f["end_to_end"])),
        *(("priorities", *row) for row in priorities_rows(f["priorities"])),
        *(("replay", *row) for row in replay_rows(f["replay"])),
        *(("dashboard", *row) for row in dashboard_rows(f["dashboard"])),
        *(("jobs", *row) for row in jobs_rows(f["jobs"])),
        *(("wait", *row) for row in wait_rows(f["wait"])),
    ]
    m = result.machine
    lines = [
        f"Measured by `conveyor bench all` on {result.began:%Y-%m-%d %H:%M} UTC, "
        f"in {result.seconds / 60:.1f} minutes: {m['cpus']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB, {m['platform']}, Python {m['python']}, {m['kafka']}; the "
        "broker, the registry, the load generators and the processes measured all on this "
        f"machine, whose load average was {m['load_average']} as the run began. Ratios are "
        "conveyor over its raw baseline: for throughput higher is better, for latency lower; "
        "priorities' are the high level's waits over the low level's in the same run; jobs' "
        "are one worker's jobs/s over the ideal, over the same jobs one at a time, and in "
        "the process pool over the loop; wait's are callers waiting on their jobs over the same "
        "callers polling (the baseline column).",
        "",
        format_markdown_table(rows, "llrrr"),
        "",
        *(f"![{alt}]({path})" for alt, path in images.items()),
    ]
    return "\n".join(lines) + "\n"


def rewrite_readme(readme: Path, report: str) -> None:
    """Put ``report`` between the README's bench-all markers, in place of what was there."""
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise BenchError(
            f"{readme} has no section to rewrite: put the lines {README_BEGIN!r} and "
            f"{README_END!r} where the figures should go"
        )
    head, tail = text[: begin + len(README_BEGIN)], text[end:]
    readme.write_text(f"{head}\n{report}{tail}")


def _distribution(samples: list[float]) -> dict[str, float]:
    """Percentiles in milliseconds."""
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    return {
        "count": len(samples),
        "p50": round(cuts[499] * 1000, 2),
        "p90": round(cuts[899] * 1000, 2),
        "p99": round(cuts[989] * 1000, 2),
        "p99.9": round(cuts[998] * 1000, 2),
        "max": round(max(samples) * 1000, 2),
    }
