"""What a settled batch counts in the worker's metrics, and how a line about an event is logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from conveyor.kafka.events import Consumed, Event, event_from, event_log_fields
from conveyor.processors.exceptions import InvalidEventError
from conveyor.processors.handler import Processed
from conveyor.processors.metrics import BatchHistogram, WorkerMetrics
from conveyor.processors.stream_processor import Outcome, SettledBatch
from conveyor.runtime.logs import LogFormat, configure_logging, current_logging, log_as
from conveyor.store import JobStatus

ACCEPTED = "2026-11-01T12:00:00.000Z"
ACCEPTED_NS = 1_793_534_400 * 10**9  # ACCEPTED as Unix ns
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _event(n: int, attempts: int = 0) -> Event:
    headers = [
        ("ce_id", f"e-{n}".encode()),
        ("ce_time", ACCEPTED.encode()),
        ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode()),
    ]
    event = event_from(Consumed("orders", n % 3, 100 + n, b"k", b"v", headers), None)
    event.attempts = attempts
    return event


def _outcome(
    event: Event, status: JobStatus, attempts: int, error: Exception | None = None
) -> Outcome:
    return Outcome(
        event,
        status,
        attempts,
        processed=Processed({}) if status is JobStatus.SUCCEEDED else None,
        error=error,
        began_ns=ACCEPTED_NS + 10**9,
        ended_ns=ACCEPTED_NS + 10**9 + 2_000_000,  # 2 ms in the handler
    )


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_settled_batch_counts_each_record_once_by_what_became_of_it() -> None:
    events = [_event(n) for n in range(6)]
    outcomes = [
        _outcome(events[0], JobStatus.SUCCEEDED, 1),
        _outcome(events[1], JobStatus.SUCCEEDED, 3),  # two retries in place
        _outcome(events[2], JobStatus.DEAD_LETTERED, 1, InvalidEventError("bad")),
        _outcome(events[3], JobStatus.PROCESSING, 1, RuntimeError("later")),  # to a retry tier
        _outcome(events[4], JobStatus.SUCCEEDED, 1),  # another worker settled it first
    ]
    # events[5] was final before; and one record is a second copy of events[0].
    batch = SettledBatch(
        stream="orders",
        records=7,
        events={e.event_id: e for e in events},
        fresh={e.event_id for e in events[:5]},
        outcomes=outcomes,
        moved={e.event_id for e in events[:4]},
        began_ns=ACCEPTED_NS + 10**9,
        settle_began_ns=ACCEPTED_NS + 2 * 10**9,
        settled_ns=ACCEPTED_NS + 2 * 10**9 + 30_000_000,
    )
    metrics = WorkerMetrics()

    metrics.observe(batch)

    events_total = "conveyor_worker_events_total"
    by_outcome = {
        outcome: _sample(metrics, events_total, stream="orders", outcome=outcome)
        for outcome in ("succeeded", "dead_lettered", "retried", "failed", "duplicate")
    }
    assert by_outcome == {
        "succeeded": 2,
        "dead_lettered": 1,
        "retried": 1,
        "failed": 0,
        "duplicate": 3,
    }
    retries = "conveyor_worker_retries_total"
    assert _sample(metrics, retries, stream="orders", kind="in_place") == 2
    assert _sample(metrics, retries, stream="orders", kind="retry_topic") == 1
    dead = "conveyor_worker_dead_letters_total"
    assert _sample(metrics, dead, stream="orders", error="InvalidEventError") == 1
    # Every handled event was timed; the four that settled here were measured end to end.
    assert _sample(metrics, "conveyor_worker_processing_seconds_count", stream="orders") == 5
    handled = _sample(metrics, "conveyor_worker_processing_seconds_sum", stream="orders")
    assert handled == pytest.approx(5 * 0.002)
    assert _sample(metrics, "conveyor_worker_end_to_end_seconds_count", stream="orders") == 4
    end_to_end = _sample(metrics, "conveyor_worker_end_to_end_seconds_sum", stream="orders")
    assert end_to_end == pytest.approx(4 * 2.03)
    assert _sample(metrics, "conveyor_worker_sink_seconds_sum", stream="orders") == pytest.approx(
        0.03
    )


def test_a_batch_histogram_reads_as_prometheus_clients_own() -> None:
    buckets = (0.01, 0.1, 1.0)
    values = {"orders": [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0], "mail": [0.2]}
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("took_seconds", "How long.", ["stream"], registry=theirs, buckets=buckets)
    batched = BatchHistogram("took_seconds", "How long.", buckets)
    ours.register(batched)
    for stream, taken in values.items():
        for value in taken:
            histogram.labels(stream).observe(value)
        batched.observe(stream, taken)
    batched.observe("orders", [])  # an empty batch counts nothing

    def exposed(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return sorted(line for line in text.splitlines() if "_created" not in line)

    assert exposed(ours) == exposed(theirs)


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What configure_logging writes to stderr; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield lambda: capsys.readouterr().err
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_log_line_about_an_event_carries_its_id_trace_and_position(
    stderr: Callable[[], str],
) -> None:
    configure_logging(0, "json")
    event = _event(4)

    logging.getLogger("conveyor.test").warning(
        "event not applied event_id=%s", event.event_id, extra=event_log_fields(event)
    )

    (line,) = stderr().splitlines()
    logged = json.loads(line)
    assert logged["message"] == "event not applied event_id=e-4"
    assert (logged["level"], logged["logger"]) == ("WARNING", "conveyor.test")
    assert logged["event_id"] == "e-4"
    assert logged["trace_id"] == TRACE
    assert (logged["topic"], logged["partition"], logged["offset"]) == ("orders", 1, 104)


def test_text_log_lines_stay_one_line_without_the_json_fields(stderr: Callable[[], str]) -> None:
    configure_logging(0, "text")
    event = _event(4)

    logging.getLogger("conveyor.test").warning(
        "event not applied event_id=%s", event.event_id, extra=event_log_fields(event)
    )

    (line,) = stderr().splitlines()
    assert line.endswith("WARNING conveyor.test event not applied event_id=e-4")


@pytest.mark.parametrize(("verbosity", "log_format"), [(1, "json"), (0, "text")])
def test_a_process_started_by_the_worker_logs_at_its_level_and_in_its_format(
    stderr: Callable[[], str], verbosity: int, log_format: LogFormat
) -> None:
    configure_logging(verbosity, log_format)
    setup = current_logging()
    logging.getLogger().handlers.clear()

    log_as(setup)  # what a handler's pool process does with what its worker passed
    logging.getLogger("conveyor.test").info("built handler stream=reports")

    lines = stderr().splitlines()
    if verbosity == 0:
        assert lines == []  # INFO is below the worker's level
    else:
        (line,) = lines
        assert json.loads(line)["message"] == "built handler stream=reports"
