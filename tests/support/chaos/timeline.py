"""A chaos run over time, as a PNG: events sent and settled, with each fault shaded.

A line that flattens under a shaded span and climbs again after it is the recovery,
which reads at a glance where a column of numbers does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from support.chaos.faults import FiredFault

__all__ = ["Timeline"]


@dataclass
class Timeline:
    seconds: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)

    def sample(self, at: float, sent: int, settled: int) -> None:
        self.seconds.append(at)
        self.sent.append(sent)
        self.settled.append(settled)

    def draw(self, path: Path, faults: list[FiredFault], title: str) -> None:
        figure = Figure(figsize=(11, 5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        axes.plot(self.seconds, self.sent, label="events sent (through the API)")
        axes.plot(self.seconds, self.settled, label="jobs settled (result store)")
        for n, fault in enumerate(faults, start=1):
            axes.axvspan(fault.began, max(fault.ended, fault.began + 0.5), alpha=0.2)
            axes.annotate(
                f"{n}. {fault.name}",
                (fault.began, 0),
                xytext=(3, 6 + 12 * (n % 4)),
                textcoords="offset points",
                fontsize=7,
            )
        axes.set_xlabel("seconds into the run")
        axes.set_ylabel("events")
        axes.set_title(title)
        axes.legend(loc="upper left")
        axes.grid(alpha=0.3)
        figure.savefig(path, dpi=110)
