"""Sampling on a steady beat: how many samples, and when."""

from __future__ import annotations

from itertools import islice

from conveyor.monitoring.sampling import every


class FakeClock:
    """Time that moves only when slept through or when a measurement takes ``cost``."""

    def __init__(self, cost: float = 0.0) -> None:
        self.now = 100.0
        self.cost = cost
        self.taken: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds

    def measure(self) -> float:
        self.taken.append(self.now - 100.0)
        self.now += self.cost
        return self.now


def test_a_duration_gives_a_sample_at_each_beat_including_the_last() -> None:
    clock = FakeClock(cost=0.05)

    samples = list(every(0.5, clock.measure, duration=2.0, clock=clock, sleep=clock.sleep))

    assert len(samples) == 5
    assert clock.taken == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_a_measurement_slower_than_the_interval_skips_beats_rather_than_drifting() -> None:
    clock = FakeClock(cost=1.2)

    list(every(0.5, clock.measure, duration=3.0, clock=clock, sleep=clock.sleep))

    assert clock.taken == [0.0, 1.5, 3.0]


def test_without_a_duration_sampling_goes_on_until_the_caller_stops() -> None:
    clock = FakeClock()

    samples = list(islice(every(2.0, clock.measure, clock=clock, sleep=clock.sleep), 50))

    assert len(samples) == 50
    assert clock.taken[-1] == 98.0
