"""``bench all``'s pictures: throughput beside the raw baseline, latency distributions,
latency against load, and one worker's jobs (``bench jobs``).

Drawn on matplotlib's Agg canvas through its object API (as ``monitoring/lag_plot.py``):
no display, no global figure state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from conveyor.bench.report import Samples

__all__ = ["plot_jobs", "plot_latency", "plot_load", "plot_throughput"]

_CONVEYOR, _RAW, _RAW_TXN, _API = "#1f6fb4", "#9a9a9a", "#4d4d4d", "#e07b28"

# The end-to-end sides: sample or figure name, label, colour.
_SIDES = (
    ("e2e", "conveyor (API, Kafka, worker, outbox)", _CONVEYOR),
    ("raw_e2e", "raw loop, at-least-once", _RAW),
    ("raw_txn_e2e", "raw loop, a transaction a batch", _RAW_TXN),
)

# (benchmark, title, conveyor's figure, the baseline's, their ratio, unit)
_THROUGHPUT = (
    (
        "ingest",
        "Ingest: API batches of 500\nvs bare producer",
        "api_batch_events_per_s",
        "raw_producer_events_per_s",
        "batch_ratio",
        "events/s",
    ),
    (
        "process",
        "Processing: one worker\nvs raw consume-transform-produce",
        "worker_events_per_s",
        "raw_loop_events_per_s",
        "process_ratio",
        "events/s",
    ),
    (
        "replay",
        "Replay: re-publish a topic\nvs raw copy loop",
        "conveyor_records_per_s",
        "raw_records_per_s",
        "replay_ratio",
        "records/s",
    ),
)


def plot_throughput(figures: dict[str, dict[str, Any]], path: Path) -> None:
    """One panel per benchmark: conveyor's bar beside its baseline's, ratio in the title
    (the benchmarks' rates differ by orders of magnitude, so each has its own scale)."""
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    for ax, (bench, title, ours, raw, ratio, unit) in zip(
        figure.subplots(1, len(_THROUGHPUT)), _THROUGHPUT, strict=True
    ):
        f = figures[bench]
        values = [f[ours], f[raw]]
        bars = ax.barh(["conveyor", "raw baseline"], values, color=[_CONVEYOR, _RAW])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=4)
        ax.invert_yaxis()  # conveyor on top
        ax.set_xlim(0, max(values) * 1.3)  # room for the labels
        ax.set_xlabel(unit)
        ax.xaxis.set_major_locator(MaxNLocator(4))  # more would run into each other
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.set_title(f"{title}\nconveyor = {f[ratio]:.2f} x raw", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    figure.suptitle("Throughput beside the raw baseline, same run, same machine")
    figure.savefig(path, format="png", dpi=110, metadata={"Title": "conveyor throughput"})


def plot_jobs(figures: dict[str, Any], path: Path) -> None:
    """``bench jobs``: slow calls at the stream's concurrency beside the ideal and one at a
    time, and CPU-bound jobs in the process pool beside the loop, ratios in the titles."""
    f = figures
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    calls, cpu = figure.subplots(1, 2)
    _bars(
        calls,
        [
            (f"concurrency {f['concurrency']}", f["concurrent_jobs_per_s"], _CONVEYOR),
            (f"ideal ({f['concurrency']} / {f['delay_ms']} ms)", f["ideal_jobs_per_s"], _RAW),
            (f"one at a time ({f['serial_jobs']:,} jobs)", f["serial_jobs_per_s"], _RAW_TXN),
        ],
    )
    calls.set_title(
        f"{f['jobs']:,} jobs calling a {f['delay_ms']} ms HTTP service, one worker\n"
        f"= {f['ideal_ratio']:.2f} x ideal, {f['serial_ratio']:,.0f} x one at a time",
        fontsize="medium",
    )
    _bars(
        cpu,
        [
            (f"process pool ({f['pool_processes']})", f["pool_jobs_per_s"], _CONVEYOR),
            ("on the loop", f["loop_jobs_per_s"], _RAW),
        ],
    )
    cpu.set_title(
        f"CPU-bound jobs of ~{f['cpu_job_ms']} ms each ({f['rounds']} rounds, medians)\n"
        f"process pool = {f['pool_ratio']:.2f} x the loop",
        fontsize="medium",
    )
    figure.suptitle("Jobs through one worker process, same run, same machine")
    figure.savefig(path, format="png", dpi=110, metadata={"Title": "conveyor jobs"})


def _bars(ax: Axes, bars: list[tuple[str, float, str]]) -> None:
    """Horizontal bars, first on top, each labelled with its jobs/s."""
    labels, values, colours = zip(*bars, strict=True)
    drawn = ax.barh(labels, values, color=colours)
    ax.bar_label(drawn, labels=[f"{v:,.1f}" for v in values], padding=4)
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.3)  # room for the labels
    ax.set_xlabel("jobs/s")
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.grid(axis="x", alpha=0.3)


def plot_latency(samples: Samples, rate: int, path: Path) -> None:
    """Each latency as a distribution: the share of requests at most x ms (log x), with
    its p50 and p99 marked, conveyor's end to end beside each raw loop's."""
    figure = Figure(figsize=(12, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    end_to_end, api = figure.subplots(1, 2)
    for name, label, colour in _SIDES:
        _cdf(end_to_end, samples[name], label, colour)
    end_to_end.set_title(
        f"End to end at {rate:,} events/s: sent to output readable (read_committed)",
        fontsize="medium",
    )
    _cdf(api, samples["api_single"], "single-event POST to 202", _API)
    _cdf(api, samples["status"], "POST to succeeded at the status URL (polled)", _CONVEYOR)
    api.set_title("API: single-event requests, and jobs followed", fontsize="medium")
    figure.suptitle("Latency distributions (dashed: p50, dotted: p99)")
    figure.savefig(path, format="png", dpi=110, metadata={"Title": "conveyor latency"})


def plot_load(sweep: list[dict[str, Any]], path: Path) -> None:
    """End-to-end p50 (solid) and p99 (dashed) against the rate asked, for each side
    (both axes log: the rates and the latencies each span orders of magnitude)."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    rates = [point["rate_per_s"] for point in sweep]
    for name, label, colour in _SIDES:
        for cut, style in (("p50", "-"), ("p99", "--")):
            ax.plot(
                rates,
                [point[name][f"{cut}_ms"] for point in sweep],
                style,
                marker="o",
                color=colour,
                label=f"{label}, {cut}",
            )
        # A sender that fell behind measured a lighter load than the axis says: name it.
        for point in sweep:
            if (sent := point[name]["sent_per_s"]) < 0.95 * point["rate_per_s"]:
                ax.annotate(
                    f"sent {sent:,}/s",
                    (point["rate_per_s"], point[name]["p50_ms"]),
                    textcoords="offset points",
                    xytext=(-8, -14),
                    ha="right",
                    fontsize="small",
                    color=colour,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(rates)
    # After the scales: setting a scale puts its own formatters back.
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("events/s asked (log scale)")
    ax.set_ylabel("sent to output readable, ms (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    figure.suptitle("End-to-end latency against load, same run, same machine")
    figure.savefig(path, format="png", dpi=110, metadata={"Title": "conveyor latency by load"})


def _cdf(ax: Axes, seconds: list[float], label: str, colour: str) -> None:
    ms = np.sort(np.asarray(seconds) * 1000)
    share = np.arange(1, len(ms) + 1) / len(ms) * 100
    p50, p99 = np.percentile(ms, [50, 99])
    ax.step(
        ms,
        share,
        where="post",
        color=colour,
        linewidth=2,
        label=f"{label}\np50 {p50:,.1f} ms, p99 {p99:,.1f} ms",
    )
    ax.axvline(p50, color=colour, linestyle="--", linewidth=1)
    ax.axvline(p99, color=colour, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    # Ticks at 1, 2 and 5 of each decade, written as plain milliseconds.
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("latency, ms (log scale)")
    ax.set_ylabel("% of requests at most this long")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3, which="both")
    # Below the axes: inside, it would cover the curves it names.
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.16), fontsize="small", frameon=False)
