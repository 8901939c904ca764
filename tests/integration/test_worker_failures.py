"""What workers do with bad records and failing mail: dead letters with their story,
retries through the retry tiers, and never a second e-mail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session

from conveyor.config import Settings
from conveyor.kafka.admin import admin_client
from conveyor.monitoring.lag import measure_lag
from conveyor.processors.pipeline.notifications import message_id
from support.events import read_all, send_poisoned_orders
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size


class RefusingMailbox(Mailbox):
    """Refuses ``later@`` recipients once with 451 (try again), ``nobody@`` always with 550."""

    refused_once: ClassVar[set[str]] = set()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@") and address not in self.refused_once:
            self.refused_once.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _wait_settled(settings: Settings, count: int) -> None:
    def settled() -> bool:
        statuses = job_statuses(settings)
        done = sum(n for s, n in statuses.items() if s not in {"queued", "processing"})
        return done >= count and outbox_size(settings) == 0

    wait_for(settled, timeout=120, what=f"{count} jobs settled")


def test_one_percent_poison_is_dead_lettered_with_reasons_and_every_partition_drains(
    pipeline: Pipeline,
) -> None:
    settings = pipeline.settings
    stream = settings.streams["orders"]
    # 1%: ten orders whose lines do not add up, ten records that are not Avro at all.
    garbage = [b"\x00\x00\x00\x7f\xffnot avro" if n % 2 else b'{"not": "avro"}' for n in range(10)]
    invalid = send_poisoned_orders(settings, 2_000, seed=5, every=200, garbage=garbage)
    _wait_settled(settings, 2_010)

    assert job_statuses(settings) == {"succeeded": 1_990, "dead_lettered": 20}
    dead = read_all(settings, stream.dlq_topic, decode=False)
    assert len(dead) == 20
    errors = Counter(r["headers"]["conveyor.error.type"].decode() for r in dead)
    assert errors == {"DecodeError": 10, "InvalidEventError": 10}
    invalid_ids = {o["event_id"] for o in invalid}
    for record in dead:
        headers = record["headers"]
        assert headers["conveyor.original.topic"].decode() == stream.topic
        assert headers["conveyor.attempts"] == b"1"
        assert {"conveyor.original.partition", "conveyor.original.offset"} <= set(headers)
        assert {"conveyor.first.failure", "conveyor.last.failure"} <= set(headers)
        if headers["conveyor.error.type"] == b"InvalidEventError":
            assert headers["ce_id"].decode() in invalid_ids
            assert b"not the sum of the lines" in headers["conveyor.error.message"]
    job = pipeline.api.get(f"/v1/jobs/{invalid[0]['event_id']}").json()
    assert job["status"] == "dead_lettered"
    assert "not the sum of the lines" in job["error"]

    # No partition stalls behind its poison: the group commits to the end of each one.
    admin = admin_client(settings.kafka)

    def drained() -> bool:
        lag = measure_lag(admin, settings.workers.group_id, [stream.topic])
        return all(p.committed == p.end for p in lag.values())

    wait_for(drained, timeout=30, what=f"the group committed to the end of {stream.topic}")


def test_a_refused_email_is_retried_later_and_sent_once_and_a_rejected_one_dead_lettered(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
) -> None:
    with make_pipeline(mail_handler=RefusingMailbox) as pipeline:
        _refused_email_story(pipeline)


def _refused_email_story(pipeline: Pipeline) -> None:
    notes = [
        {"recipient": "later@example.test", "subject": "s", "body": "b"},
        {"recipient": "now@example.test", "subject": "s", "body": "b"},
        {"recipient": "nobody@example.test", "subject": "s", "body": "b"},
    ]
    response = pipeline.api.post("/v1/streams/notifications/events", json=notes)
    later, now, nobody = (r["event_id"] for r in response.json()["events"])
    _wait_settled(pipeline.settings, 3)

    received = sorted(m["Message-ID"] for m in pipeline.mail.messages())
    assert received == sorted([message_id(later), message_id(now)])
    jobs = {i: pipeline.api.get(f"/v1/jobs/{i}").json() for i in (later, now, nobody)}
    assert jobs[later]["status"] == "succeeded"
    assert jobs[later]["attempts"] == 2
    assert jobs[now]["attempts"] == 1
    assert jobs[nobody]["status"] == "dead_lettered"
    assert "550" in jobs[nobody]["error"]
    stream = pipeline.settings.streams["notifications"]
    retried = read_all(pipeline.settings, stream.retry_topics[0], idle=1.0, decode=False)
    assert [r["headers"]["ce_id"].decode() for r in retried] == [later]
    assert b"451" in retried[0]["headers"]["conveyor.error.message"]
