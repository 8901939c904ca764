"""Lag over time, gathered snapshot by snapshot, as the lines a plot draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from conveyor.monitoring.snapshot import LagSnapshot

__all__ = ["LagLine", "LagSeries"]

# group, topic, and partition (None for the group's total on the topic).
_Key = tuple[str, str, int | None]


@dataclass(frozen=True, slots=True)
class LagLine:
    """One line of a plot: a group's total on a topic (``partition`` None) or one
    partition's lag, as points (seconds since the first sample, lag)."""

    group: str
    partition: int | None
    seconds: list[float]
    lag: list[int]
    beside_partitions: bool = False  # a total drawn among its partitions says so

    @property
    def label(self) -> str:
        if self.partition is not None:
            return f"{self.group} p{self.partition}"
        return f"{self.group} total" if self.beside_partitions else self.group


@dataclass
class LagSeries:
    """Every group's lag on every topic, in total and per partition, sample by sample."""

    started_at: datetime | None = None
    samples: int = 0
    _points: dict[_Key, tuple[list[float], list[int]]] = field(default_factory=dict)

    def add(self, snapshot: LagSnapshot) -> None:
        if self.started_at is None:
            self.started_at = snapshot.taken_at
        seconds = (snapshot.taken_at - self.started_at).total_seconds()
        self.samples += 1
        for reading in snapshot.groups:
            for topic in reading.topics:
                self._point((reading.group, topic, None), seconds, reading.topic_lag(topic))
                for p in reading.partitions(topic):
                    self._point((reading.group, topic, p.partition), seconds, p.lag)

    def _point(self, key: _Key, seconds: float, lag: int) -> None:
        times, lags = self._points.setdefault(key, ([], []))
        times.append(seconds)
        lags.append(lag)

    @property
    def topics(self) -> list[str]:
        """Every topic sampled, in the order first seen."""
        return list(dict.fromkeys(topic for _, topic, _ in self._points))

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(group for group, _, _ in self._points))

    def lines(self, topic: str, per_partition: bool = False) -> list[LagLine]:
        """A line per group on ``topic`` (its total lag, labelled by the group), and with
        ``per_partition`` one per partition too (``group p3``, beside ``group total``)."""
        lines = []
        for (group, t, partition), (times, lags) in self._points.items():
            if t != topic or (partition is not None and not per_partition):
                continue
            lines.append(LagLine(group, partition, times, lags, per_partition))
        return lines
