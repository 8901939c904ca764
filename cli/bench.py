"""``conveyor bench``: throughput and latency beside raw baselines, in the same run."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from conveyor.bench.dashboard import bench_dashboard
from conveyor.bench.ingest import IngestPlan, bench_ingest
from conveyor.bench.jobs import JobsPlan, bench_jobs
from conveyor.bench.latency import LatencyPlan, bench_latency
from conveyor.bench.priorities import PrioritiesPlan, bench_priorities
from conveyor.bench.process import bench_process
from conveyor.bench.replay import bench_replay
from conveyor.bench.report import (
    ingest_table,
    jobs_table,
    machine,
    priorities_table,
    process_table,
    replay_table,
    wait_table,
)
from conveyor.bench.suite import SuitePlan, SuiteResult, run_suite
from conveyor.bench.summary import document, markdown, rewrite_readme
from conveyor.bench.waiting import WaitPlan, bench_wait
from conveyor.cli.options import echo_json, note, settings
from conveyor.cli.progress import progress
from conveyor.config import Settings
from conveyor.infra.kafka import kafka_version
from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import free_port_block
from conveyor.infra.stack import local_stack

__all__ = ["bench"]


@click.group()
def bench() -> None:
    """Benchmarks (a readable table; --json for one JSON object with every figure)."""


@bench.command()
@click.option("--events", type=click.IntRange(1_000), default=100_000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 1_000), default=500, show_default=True)
@click.option(
    "--requests",
    "single_requests",
    type=click.IntRange(1_000),
    default=30_000,
    show_default=True,
    help="Single-event requests.",
)
@click.option("--concurrency", type=click.IntRange(1, 1_024), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def ingest(
    events: int, batch_size: int, single_requests: int, concurrency: int, as_json: bool
) -> None:
    """API batch and single-event ingest beside the bare confluent-kafka producer."""
    plan = IngestPlan(events, batch_size, single_requests, concurrency)
    with _stack() as running:
        figures, _ = bench_ingest(running, plan, note)
    _report("ingest", figures, ingest_table, as_json)


@bench.command()
@click.option("--events", type=click.IntRange(1_000), default=50_000, show_default=True)
@click.option(
    "--rate",
    "rates",
    type=click.IntRange(10),
    multiple=True,
    default=(1_000,),
    show_default=True,
    help="Events a second for the end-to-end latency; repeat it for a sweep of rates "
    "(the first is the headline, also of POST to succeeded at the status URL).",
)
@click.option(
    "--seconds",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="How long to send at each --rate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def process(events: int, rates: tuple[int, ...], seconds: int, as_json: bool) -> None:
    """One worker process beside a raw confluent-kafka consume-transform-produce loop
    (at-least-once, and with transactions), and end-to-end latency from the send to the
    output topic beside each."""
    plan = LatencyPlan(rates=tuple(dict.fromkeys(rates)), headline=rates[0], seconds=seconds)
    with _stack() as running:
        figures = bench_process(running, events, note)
        latency, _ = bench_latency(running, plan, note)
    _report("process", {**figures, **latency}, process_table, as_json)


@bench.command()
@click.option("--backlog", type=click.IntRange(1_000), default=20_000, show_default=True)
@click.option("--high", type=click.IntRange(100), default=400, show_default=True)
@click.option(
    "--rate",
    type=click.IntRange(10),
    default=100,
    show_default=True,
    help="High-priority orders a second, sent while the backlog drains.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def priorities(backlog: int, high: int, rate: int, as_json: bool) -> None:
    """How long high-priority orders wait while one worker drains a low-priority backlog,
    beside how long the backlog's orders wait."""
    with _stack() as running:
        figures, _ = bench_priorities(running, PrioritiesPlan(backlog, high, rate), note)
    _report("priorities", figures, priorities_table, as_json)


@bench.command()
@click.option("--records", type=click.IntRange(1_000), default=1_000_000, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def replay(records: int, rounds: int, as_json: bool) -> None:
    """conveyor's re-publish of a topic beside a raw confluent-kafka consume-produce loop
    copying the same records (medians of interleaved rounds)."""
    with _stack() as running:
        figures = bench_replay(running, records, note, progress, rounds)
    _report("replay", figures, replay_table, as_json)


@bench.command()
@click.option("--callers", type=click.IntRange(100), default=10_000, show_default=True)
@click.option(
    "--rate", type=click.IntRange(10), default=200, show_default=True, help="Callers a second."
)
@click.option(
    "--job-ms",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="How long each job takes.",
)
@click.option(
    "--poll-ms",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="The polling callers' interval.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def wait(callers: int, rate: int, job_ms: int, poll_ms: int, as_json: bool) -> None:
    """Callers each waiting for their job's outcome (GET /v1/jobs/{id}?wait=60) beside the
    same callers polling every --poll-ms, through one API process: how long after each job
    ended its caller knew, and the API's CPU seconds."""
    with _stack() as running:
        figures, _ = bench_wait(running, WaitPlan(callers, rate, job_ms, poll_ms), note)
    _report("wait", figures, wait_table, as_json)


@bench.command()
@click.option(
    "--jobs",
    type=click.IntRange(1),
    default=5_000,
    show_default=True,
    help="Jobs calling the slow service at --concurrency.",
)
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option(
    "--serial-jobs",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="The same jobs one at a time (concurrency 1): fewer, as each takes --delay-ms.",
)
@click.option(
    "--delay-ms",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="How long the service takes to answer.",
)
@click.option(
    "--cpu-jobs",
    type=click.IntRange(1),
    default=70,
    show_default=True,
    help="CPU-bound jobs a round, in the process pool and on the loop each.",
)
@click.option(
    "--cpu-ms",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="The arithmetic of one CPU-bound job, as timed on this machine first.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1, 9),
    default=3,
    show_default=True,
    help="Interleaved rounds of the CPU-bound jobs (medians).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the figures as a PNG here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def jobs(
    *,
    jobs: int,
    concurrency: int,
    serial_jobs: int,
    delay_ms: int,
    cpu_jobs: int,
    cpu_ms: int,
    rounds: int,
    plot: Path | None,
    as_json: bool,
) -> None:
    """One worker process running jobs that call a real HTTP service on loopback answering
    after --delay-ms: jobs/s at --concurrency beside the ideal (concurrency / delay) and
    beside the same jobs one at a time; and CPU-bound jobs in the process pool beside the
    same jobs on the worker's loop (medians of interleaved rounds)."""
    plan = JobsPlan(jobs, concurrency, serial_jobs, delay_ms, cpu_jobs, cpu_ms, rounds)
    with _stack() as running:
        figures = bench_jobs(running, plan, note)
    if plot is not None:
        from conveyor.bench.plots import plot_jobs  # noqa: PLC0415 - see all_

        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_jobs(figures, plot)
        note(f"wrote {plot}")
    _report("jobs", figures, jobs_table, as_json)


@bench.command()
@click.option("--jobs", type=click.IntRange(1_000), default=100_000, show_default=True)
@click.option("--searches", type=click.IntRange(10), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def dashboard(jobs: int, searches: int, as_json: bool) -> None:
    """The dashboard's job searches (each kind, with its next page) against a store of
    JOBS jobs: p50 and p99 in milliseconds. Needs no Kafka."""
    figures = bench_dashboard(jobs, searches, note)
    if as_json:
        echo_json({"dashboard": figures})
        return
    click.echo(
        f"{figures['searches']:,} searches of {jobs:,} jobs: "
        f"p50 {figures['search_p50_ms']:.2f} ms, p99 {figures['search_p99_ms']:.2f} ms"
    )


@bench.command("all")
@click.option(
    "--scale",
    type=click.FloatRange(0.01, 100),
    default=1.0,
    show_default=True,
    help="Sizes relative to the default (a few minutes on two cores); 5 for steadier figures.",
)
@click.option(
    "--rate", type=click.IntRange(10), default=1_000, show_default=True, help="End-to-end events/s."
)
@click.option("--rounds", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
    help="Where bench.json, bench.md, throughput.png, latency.png, load.png and jobs.png go.",
)
@click.option(
    "--readme",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Rewrite this README's bench-all section with the report.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead.")
def all_(
    *, scale: float, rate: int, rounds: int, out: Path, readme: Path | None, as_json: bool
) -> None:
    """Every benchmark (ingest, processing, end to end at several rates, priorities,
    replay, the dashboard's searches, jobs) beside its baseline, in one run: a JSON
    document, a Markdown table and PNG plots in --out."""
    # Imported here: matplotlib takes a good part of a second to load, which only the
    # commands that draw should pay.
    from conveyor.bench.plots import (  # noqa: PLC0415
        plot_jobs,
        plot_latency,
        plot_load,
        plot_throughput,
    )

    plan = SuitePlan(scale, rate, rounds)
    with _stack() as running:
        result = run_suite(running, plan, _machine(running), note, progress)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "table": "bench.md",
        "throughput": "throughput.png",
        "latency": "latency.png",
        "load": "load.png",
        "jobs": "jobs.png",
    }
    plot_throughput(result.figures, out / files["throughput"])
    plot_latency(result.samples, rate, out / files["latency"])
    plot_load(result.figures["end_to_end"]["sweep"], out / files["load"])
    plot_jobs(result.figures["jobs"], out / files["jobs"])
    images = {
        "Throughput beside the raw baselines": files["throughput"],
        "Latency distributions": files["latency"],
        "End-to-end latency against load": files["load"],
        "Jobs through one worker": files["jobs"],
    }
    (out / files["table"]).write_text(markdown(result, images))
    report = document(result, plan, files)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    if readme is not None:
        relative = {alt: os.path.relpath(out / name, readme.parent) for alt, name in images.items()}
        rewrite_readme(readme, markdown(result, relative))
        note(f"rewrote the benchmark section of {readme}")
    note(f"wrote bench.json, bench.md and {', '.join(images.values())} to {out}")
    if as_json:
        echo_json(report)
    else:
        click.echo(_tables(result))


def _machine(running: Settings) -> dict[str, object]:
    """:func:`machine`, and which Kafka: the bench's own (a known version) or one configured."""
    started = "bootstrap_servers" not in settings().kafka.model_fields_set
    kafka = (
        f"Apache Kafka {kafka_version()} (one KRaft node)"
        if started
        else f"the Kafka cluster at {running.kafka.bootstrap_servers}"
    )
    return {**machine(), "kafka": kafka}


def _tables(result: SuiteResult) -> str:
    f = result.figures
    return "\n\n".join(
        [
            ingest_table(f["ingest"]),
            process_table({**f["process"], **f["end_to_end"]}),
            priorities_table(f["priorities"]),
            replay_table(f["replay"]),
            jobs_table(f["jobs"]),
        ]
    )


@contextmanager
def _stack() -> Iterator[Settings]:
    """The configured Kafka and registry, or a local pair on free ports in a scratch dir."""
    with (
        tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp,
        local_stack(
            settings(),
            Path(tmp),
            kafka_port=free_port_block(1, offset=CONTROLLER_PORT_OFFSET),
            registry_port=free_port_block(1),
        ) as running,
    ):
        yield running


def _report(
    name: str, figures: dict[str, Any], table: Callable[[dict[str, Any]], str], as_json: bool
) -> None:
    if as_json:
        click.echo(json.dumps({"machine": machine(), name: figures}))
    else:
        click.echo(table(figures))
