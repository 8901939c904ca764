"""Lag over time as a PNG: one panel per topic, a line per group (and per partition).

Drawn on matplotlib's Agg canvas through its object API rather than pyplot, so no
display and no global figure state is involved: it works on a server over SSH.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from conveyor.monitoring.lag_series import LagSeries

__all__ = ["plot_lag"]

_PANEL_HEIGHT = 2.8  # inches per topic: enough for a readable y axis and legend
_MARKERS_UP_TO = 60  # samples; beyond that markers only clutter the line
_PARTITION_STYLES = ("--", ":", "-.")


def plot_lag(series: LagSeries, path: Path, per_partition: bool = False) -> int:
    """Draw ``series`` into the PNG at ``path``; returns how many samples were drawn
    (the most points on any line)."""
    topics = series.topics
    panels = max(len(topics), 1)  # an empty series still makes a (blank) picture
    figure = Figure(figsize=(11, 1.2 + _PANEL_HEIGHT * panels), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    marker = "o" if series.samples <= _MARKERS_UP_TO else None
    # A group keeps its colour on every panel; its partitions are thin dashed lines of
    # the same colour, so "which group" reads first and "which partition" second.
    colours = {group: f"C{n}" for n, group in enumerate(series.groups)}
    drawn = 0
    for ax, topic in zip(axes, topics, strict=False):
        for line in series.lines(topic, per_partition):
            total = line.partition is None
            style = "-" if line.partition is None else _PARTITION_STYLES[line.partition % 3]
            ax.plot(
                line.seconds,
                line.lag,
                label=line.label,
                color=colours[line.group],
                marker=marker,
                markersize=4 if total else 2.5,
                linewidth=2 if total else 1,
                linestyle=style,
                alpha=1 if total else 0.7,
            )
            drawn = max(drawn, len(line.seconds))
        ax.set_title(f"topic {topic}", loc="left", fontsize="medium")
        ax.set_ylabel("lag (records)")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    start = f"{series.started_at:%Y-%m-%d %H:%M:%S} UTC" if series.started_at else "no samples"
    axes[-1].set_xlabel(f"seconds since {start}")
    figure.suptitle(
        f"Consumer lag of {', '.join(series.groups)} ({series.samples} samples)",
        fontsize="large",
    )
    figure.savefig(
        path,
        format="png",
        dpi=110,
        metadata={"Title": "conveyor lag", "Description": f"{drawn} samples"},
    )
    return drawn
