"""End-to-end latency at steady rates: conveyor beside the tuned raw loop, with and
without transactions, each from the send to the enriched record readable.

conveyor: orders POSTed one a request to a real ``conveyor api`` (over
``_CONNECTIONS`` keep-alive connections, so the API's answer time never holds a send
back), processed by one ``conveyor worker`` and published by its outbox; each clock runs
from the request's send to the record's hand-over to a ``read_committed`` reader
(``bench/arrivals.py``). The raw loops (``bench/raw_loop.py``) are fed by a bare producer
with the API's producer settings, in a process of its own as the load generator is, and
read by the same reader. Each side's processes start once and first carry an unmeasured
warm-up; then each rate in turn, on fresh orders.

Also, at the headline rate: POST to ``succeeded`` at the job's status URL, as a client
polling it sees it. Polling every job would put many GETs a second on the API being
measured, so one job in ``follow_every`` is followed, its status URL polled every
``poll_seconds`` from its ``202``; nothing is subtracted, so the figure is late by up to
a poll's interval plus a GET's answer.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conveyor.bench.arrivals import Arrivals
from conveyor.bench.loadgen import Follow, http_get, http_post, run_load
from conveyor.bench.raw_loop import raw_loop
from conveyor.bench.report import Samples, percentiles
from conveyor.bench.services import api_process, bench_settings, bench_stream, worker_process
from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.identity import job_path
from conveyor.producers.direct import DirectProducer

__all__ = ["LatencyPlan", "bench_latency"]

Note = Callable[[str], None]
# Sends orders at a rate; returns when each was sent (wall clock).
Send = Callable[[list[dict[str, Any]], int], list[float]]

_CONNECTIONS = 128
# The sides, as the figures and samples name them.
_SIDES = ("e2e", "raw_e2e", "raw_txn_e2e")


@dataclass(frozen=True)
class LatencyPlan:
    rates: tuple[int, ...] = (1_000,)  # events a second, each for ``seconds``
    headline: int = 1_000  # the rate of the headline figures and of the status URL run
    seconds: int = 10
    follow_every: int = 20
    poll_seconds: float = 0.02

    def __post_init__(self) -> None:
        if self.headline not in self.rates:
            raise ValueError(f"the headline rate {self.headline} is not among {self.rates}")


def bench_latency(
    settings: Settings, plan: LatencyPlan, note: Note
) -> tuple[dict[str, Any], Samples]:
    """The figures (headline percentiles and ratios, and one row a rate), and the headline
    rate's latencies: ``e2e``, ``raw_e2e``, ``raw_txn_e2e`` and ``status``."""
    runs = [
        (rate, sample_orders(rate * plan.seconds, datetime.now(UTC), seed=20 + n))
        for n, rate in enumerate(plan.rates)
    ]
    # As long as a measured run: a broker started for the bench spends its first minutes
    # compiling its hot paths (the JIT took up to half a core), and at 1,000/s conveyor's
    # p50 fell from ~300 to ~90 ms over its first minute of traffic as the broker's CPU fell
    # from 0.93 to 0.58 of a core; a fifth of a run as warm-up measured that start-up.
    warmup = sample_orders(max(plan.headline * plan.seconds, 100), datetime.now(UTC), seed=19)
    measured: dict[str, dict[int, tuple[list[float], float]]] = {}
    for side, transactional in (("raw_e2e", False), ("raw_txn_e2e", True)):
        note(f"end to end: raw loop ({'transactions' if transactional else 'at-least-once'})")
        with _raw_side(settings, side, warmup, runs, transactional=transactional) as sender:
            measured[side] = _sweep(sender, warmup, runs, plan.headline, note)
    note("end to end: API and worker")
    followed = sample_orders(plan.headline * plan.seconds, datetime.now(UTC), seed=18)
    with _conveyor_side(settings) as (sender, status):
        measured["e2e"] = _sweep(sender, warmup, runs, plan.headline, note)
        note(f"end to end: POST to succeeded at the status URL, at {plan.headline:,}/s")
        settled = status(followed, plan)
    headline = {side: measured[side][plan.headline][0] for side in _SIDES}
    figures: dict[str, Any] = {
        "latency_rate_per_s": plan.headline,
        "latency_events": len(headline["e2e"]),
        **_percentiles_ms(headline),
        "status_events": len(settled),
        "status_follow_every": plan.follow_every,
        "status_poll_ms": round(plan.poll_seconds * 1000),
        **_percentiles_ms({"status": settled}),
        "sweep": [
            {
                "rate_per_s": rate,
                "events": len(orders),
                **{
                    side: {
                        "sent_per_s": round(measured[side][rate][1]),
                        **_percentiles_ms({"": measured[side][rate][0]}),
                    }
                    for side in _SIDES
                },
            }
            for rate, orders in runs
        ],
    }
    for name in ("p50", "p99"):
        figures[f"{name}_ratio"] = round(
            figures[f"e2e_{name}_ms"] / figures[f"raw_e2e_{name}_ms"], 3
        )
        figures[f"{name}_txn_ratio"] = round(
            figures[f"e2e_{name}_ms"] / figures[f"raw_txn_e2e_{name}_ms"], 3
        )
    return figures, {**headline, "status": settled}


def _percentiles_ms(samples: dict[str, list[float]]) -> dict[str, float]:
    """``{name}_p50_ms`` and ``{name}_p99_ms`` of each (``p50_ms``, ``p99_ms`` for "")."""
    out = {}
    for name, latencies in samples.items():
        p50, p99 = percentiles(latencies)
        prefix = f"{name}_" if name else ""
        out[f"{prefix}p50_ms"], out[f"{prefix}p99_ms"] = round(p50 * 1000, 1), round(p99 * 1000, 1)
    return out


def _sweep(
    sender: tuple[Send, Arrivals],
    warmup: list[dict[str, Any]],
    runs: Sequence[tuple[int, list[dict[str, Any]]]],
    headline: int,
    note: Note,
) -> dict[int, tuple[list[float], float]]:
    """Each rate's latencies, and the rate the sends kept (below the rate asked when the
    sender could not keep up)."""
    post, arrivals = sender
    note(f"  warm-up: {len(warmup):,} orders at {headline:,}/s, not measured")
    post(warmup, headline)
    arrivals.wait([o["event_id"] for o in warmup])
    measured = {}
    for rate, orders in runs:
        note(f"  {len(orders):,} orders at {rate:,}/s")
        sent = post(orders, rate)
        arrived = arrivals.wait([o["event_id"] for o in orders])
        latencies = [arrived[o["event_id"]] - at for o, at in zip(orders, sent, strict=True)]
        span = max(sent) - min(sent)
        measured[rate] = (latencies, (len(sent) - 1) / span if span > 0 else float(rate))
    return measured


@contextmanager
def _raw_side(
    settings: Settings,
    label: str,
    warmup: list[dict[str, Any]],
    runs: Sequence[tuple[int, list[dict[str, Any]]]],
    *,
    transactional: bool,
) -> Iterator[tuple[Send, Arrivals]]:
    stream = bench_stream(settings, "orders", label.replace("_", "-"))
    expected = len(warmup) + sum(len(orders) for _, orders in runs)
    with (
        raw_loop(settings, stream, expected, transactional=transactional),
        Arrivals(settings, stream.outputs["enriched"].topic) as arrivals,
        multiprocessing.get_context("spawn").Pool(
            1, initializer=_open_producer, initargs=(settings, stream)
        ) as sender,
    ):

        def send(orders: list[dict[str, Any]], rate: int) -> list[float]:
            sent: list[float] = sender.apply(_produce, (orders, rate))
            return sent

        yield send, arrivals


# The sender process's producer, kept open from one run to the next so that no run's first
# records pay for its connections and producer id, which the API's long-running one has.
_producer: DirectProducer | None = None


def _open_producer(settings: Settings, stream: StreamDeclaration) -> None:
    global _producer  # noqa: PLW0603 - one per process, made by the pool's initializer
    _producer = DirectProducer(settings, stream).__enter__()


def _produce(orders: list[dict[str, Any]], rate: int) -> list[float]:
    assert _producer is not None
    return _producer.send(orders, rate=rate)


@contextmanager
def _conveyor_side(
    settings: Settings,
) -> Iterator[
    tuple[tuple[Send, Arrivals], Callable[[list[dict[str, Any]], LatencyPlan], list[float]]]
]:
    stream = bench_stream(settings, "orders", "e2e")
    with (
        bench_settings(settings, stream) as config,
        api_process(config) as (host, port, _),
        worker_process(config),
        Arrivals(settings, stream.outputs["enriched"].topic) as arrivals,
    ):
        path = f"/v1/streams/{stream.name}/events"

        def requests(orders: list[dict[str, Any]]) -> list[bytes]:
            return [
                http_post(host, port, path, json.dumps(json_ready(o)).encode(), "application/json")
                for o in orders
            ]

        def send(orders: list[dict[str, Any]], rate: int) -> list[float]:
            load = run_load(host, port, requests(orders), len(orders), _CONNECTIONS, rate=rate)
            _check_accepted(load.statuses)
            return load.sent_at

        def status(orders: list[dict[str, Any]], plan: LatencyPlan) -> list[float]:
            polls = {
                k: http_get(host, port, job_path(o["event_id"]))
                for k, o in enumerate(orders)
                if k % plan.follow_every == 0
            }
            load = run_load(
                host,
                port,
                requests(orders),
                len(orders),
                _CONNECTIONS,
                rate=plan.headline,
                follow=Follow(polls, plan.poll_seconds),
            )
            _check_accepted(load.statuses)
            if unsucceeded := {k: s for k, s in load.final_status.items() if s != "succeeded"}:
                raise RuntimeError(
                    f"{len(unsucceeded)} followed jobs did not succeed: {unsucceeded}"
                )
            return [load.final_at[k] - load.sent_at[k] for k in sorted(polls)]

        yield (send, arrivals), status


def _check_accepted(statuses: dict[int, int]) -> None:
    if refused := {s: n for s, n in statuses.items() if s != 202}:
        raise RuntimeError(f"the API refused requests during the benchmark: {refused}")
