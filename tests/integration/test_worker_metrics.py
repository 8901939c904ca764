"""A worker's ``/metrics`` (consumer lag of its partitions, what became of each event) and
its JSON log lines about events."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conveyor.client.samples import sample_orders
from conveyor.config import Settings, TelemetrySettings
from conveyor.infra.processes import free_port_block
from conveyor.producers.direct import DirectProducer
from support.events import send_poisoned_orders
from support.waiting import wait_for
from support.workers import running_workers

ORDERS = 40

# Every sample of a scrape, by name and labels (sorted pairs).
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Samples:
    """Every sample of ``url``'s metrics, by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as response:  # our own loopback URL
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _total(samples: Samples, name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


def _scrape_when(url: str, ready: Callable[[Samples], bool]) -> Callable[[], Samples | None]:
    """For :func:`wait_for`: the samples of ``url`` once ``ready`` holds of them."""

    def scrape() -> Samples | None:
        samples = _scrape(url)
        return samples if ready(samples) else None

    return scrape


def _metered(settings: Settings, **telemetry: str) -> tuple[Settings, str]:
    """``settings`` with the worker's /metrics on a port of this test's, measuring lag
    often; and that /metrics URL."""
    port = free_port_block(1)
    workers = {"metrics_port": port, "lag_interval_seconds": 0.3}
    config = settings.model_copy(
        update={
            "workers": settings.workers.model_copy(update=workers),
            "telemetry": TelemetrySettings.model_validate(telemetry),
        }
    )
    return config, f"http://127.0.0.1:{port}/metrics"


def test_a_held_workers_metrics_show_its_lag_and_zero_once_it_drained_every_event(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    config, url = _metered(stack_settings())
    stream = config.streams["orders"]
    with running_workers(config, tmp_path):
        # The result store held by another writer: the worker takes its batch and waits,
        # committing nothing, as it would through a store outage.
        store = sqlite3.connect(tmp_path / "conveyor.db", isolation_level=None)
        store.execute("BEGIN EXCLUSIVE")
        try:
            with DirectProducer(config, stream) as producer:
                producer.send(sample_orders(ORDERS, datetime.now(UTC), seed=21))
            held = wait_for(
                _scrape_when(url, lambda s: _total(s, "conveyor_worker_consumer_lag") == ORDERS),
                what=f"a lag of {ORDERS} on the worker's /metrics",
            )
        finally:
            store.execute("ROLLBACK")
            store.close()
        drained = wait_for(
            _scrape_when(
                url,
                lambda s: (
                    _total(s, "conveyor_worker_consumer_lag") == 0
                    and _total(s, "conveyor_worker_events_total") == ORDERS
                ),
            ),
            timeout=60,
            what="the worker to drain to a lag of 0",
        )

    lag = {
        (labels["topic"], labels["partition"]): value
        for (name, pairs), value in held.items()
        if name == "conveyor_worker_consumer_lag" and (labels := dict(pairs))
    }
    held_orders = {key: value for key, value in lag.items() if key[0] == stream.topic}
    assert len(held_orders) == stream.partitions  # one worker holds every partition
    assert sum(held_orders.values()) == ORDERS
    assert _total(held, "conveyor_worker_events_total") == 0
    succeeded = (("outcome", "succeeded"), ("stream", "orders"))
    assert drained[("conveyor_worker_events_total", succeeded)] == ORDERS
    orders = (("stream", "orders"),)
    assert drained[("conveyor_worker_processing_seconds_count", orders)] == ORDERS
    assert drained[("conveyor_worker_end_to_end_seconds_count", orders)] == ORDERS
    assert drained[("conveyor_worker_sink_seconds_count", orders)] >= 1
    # Orders were accepted seconds ago, and the store was held for some of them.
    assert drained[("conveyor_worker_end_to_end_seconds_sum", orders)] > 0


def test_dead_letters_are_counted_by_error_and_logged_as_json_lines_naming_each_event(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    config, url = _metered(stack_settings(), log_format="json")
    stream = config.streams["orders"]
    with running_workers(config, tmp_path):
        invalid = send_poisoned_orders(config, 20, seed=22, every=10, garbage=[b"not avro"])
        samples = wait_for(
            _scrape_when(url, lambda s: _total(s, "conveyor_worker_events_total") == 21),
            what="the worker to settle 21 records",
        )

    dead = "conveyor_worker_dead_letters_total"
    assert samples[(dead, (("error", "InvalidEventError"), ("stream", "orders")))] == 2
    assert samples[(dead, (("error", "DecodeError"), ("stream", "orders")))] == 1
    succeeded = (("outcome", "succeeded"), ("stream", "orders"))
    assert samples[("conveyor_worker_events_total", succeeded)] == 18
    lines = [
        json.loads(line)
        for line in (tmp_path / "worker-1.log").read_text().splitlines()
        if line.startswith("{")
    ]
    not_applied = {
        line["event_id"]: line for line in lines if line["message"].startswith("event not applied")
    }
    assert set(not_applied) >= {order["event_id"] for order in invalid}
    for order in invalid:
        line = not_applied[order["event_id"]]
        assert line["topic"] == stream.topic
        assert isinstance(line["partition"], int)
        assert isinstance(line["offset"], int)
        assert len(line["trace_id"]) == 32
    # The record that is not Avro has no id or trace of its own: it is named by position.
    (garbage,) = set(not_applied) - {order["event_id"] for order in invalid}
    assert garbage.startswith(f"{stream.topic}:")
    assert not_applied[garbage]["trace_id"] is None
