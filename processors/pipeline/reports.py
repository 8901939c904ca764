"""Reports: a PNG chart of the revenue windows, drawn in a process of the stream's pool.

The reference slow job: it reads the windows the orders built (``revenue_per_minute``),
draws revenue per minute, one line per region and currency, with matplotlib's Agg canvas
(no display), and writes the file where ``reports.directory`` says. Drawing holds the CPU,
and with it Python's GIL, for a good part of a second: on the worker's loop it would
stall every other job, so the stream is declared ``executor: process``. Its result is
the file's path; a retry draws the same file again, under the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sqlalchemy import select

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, HandlerContext, Processed
from conveyor.store.tables import revenue_per_minute

__all__ = ["RevenueChartHandler", "report_path"]


def report_path(directory: Path, event_id: str) -> Path:
    """Where the report of ``event_id`` lands."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in event_id)
    return directory / f"revenue-{safe}.png"


class RevenueChartHandler(Handler):
    def __init__(self, context: HandlerContext) -> None:
        super().__init__(context)
        settings = context.settings
        self._directory = settings.reports.directory or settings.data_dir / "reports"

    def process(self, event: Event) -> Processed:
        request = event.value
        self.context.progress(0.05, "reading the revenue windows")
        query = select(revenue_per_minute).order_by(revenue_per_minute.c.window_start)
        if request.get("region"):
            query = query.where(revenue_per_minute.c.region == request["region"])
        if request.get("currency"):
            query = query.where(revenue_per_minute.c.currency == request["currency"])
        with self.context.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        series: dict[str, tuple[list[int], list[float]]] = {}
        for row in rows:
            starts, amounts = series.setdefault(f"{row.region} {row.currency}", ([], []))
            starts.append(row.window_start)
            amounts.append(row.revenue_cents / 100)
        self.context.progress(0.3, f"drawing {len(rows)} windows")
        path = report_path(self._directory, event.event_id)
        _draw(series, path)
        self.context.progress(1.0, "drawn")
        return Processed({"path": str(path), "windows": len(rows), "series": len(series)})


def _draw(series: dict[str, tuple[list[int], list[float]]], path: Path) -> None:
    # Imported here: matplotlib takes a good part of a second to load, paid by the pool's
    # processes (once each) rather than by every worker that never draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(10, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for label, (starts, amounts) in sorted(series.items()):
        times = np.array(starts, dtype="datetime64[ms]")  # window starts, Unix milliseconds
        ax.plot(times, amounts, marker=".", linewidth=1, label=label)
    ax.set_title("Revenue per minute")
    ax.set_ylabel("revenue")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left", fontsize="small", ncols=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a reader never sees half a file, and a retry replaces it.
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    figure.savefig(partial, format="png", dpi=100)
    partial.replace(path)
