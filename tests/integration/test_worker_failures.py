"""What workers do with bad records and failing mail: dead letters with their story,
retries through the retry tiers, and never a second e-mail."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session
from confluent_kafka import Producer

from conveyor.config import Settings
from conveyor.processors.pipeline.notifications import message_id
from support.events import orders_json, read_all
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


def test_undecodable_and_invalid_orders_are_dead_lettered_and_the_rest_flows(
    pipeline: Pipeline,
) -> None:
    orders_topic = pipeline.settings.streams["orders"].topic
    producer = Producer({"bootstrap.servers": pipeline.settings.kafka.bootstrap_servers})
    producer.produce(orders_topic, key=b"c-0001", value=b"\x00not avro at all")
    producer.produce(orders_topic, key=b"c-0002", value=b"{}", headers=[("ce_id", b"raw-2")])
    assert producer.flush(10) == 0
    good, bad = orders_json(3, seed=5)[:2], orders_json(1, seed=6)[0]
    bad["amount_cents"] = int(str(bad["amount_cents"])) + 1  # no longer the sum of its lines
    response = pipeline.api.post("/v1/streams/orders/events", json=[*good, bad])
    assert response.status_code == 202
    bad_id = response.json()["events"][2]["event_id"]
    _wait_settled(pipeline.settings, 5)

    assert job_statuses(pipeline.settings) == {"succeeded": 2, "dead_lettered": 3}
    dead = read_all(pipeline.settings, pipeline.settings.streams["orders"].dlq_topic, decode=False)
    assert len(dead) == 3
    by_error = {r["headers"]["conveyor.error.type"].decode(): r for r in dead if r}
    assert set(by_error) == {"DecodeError", "InvalidEventError"}
    invalid = by_error["InvalidEventError"]["headers"]
    assert invalid["ce_id"].decode() == bad_id
    assert b"not the sum of the lines" in invalid["conveyor.error.message"]
    assert invalid["conveyor.original.topic"].decode() == orders_topic
    assert invalid["conveyor.attempts"] == b"1"
    assert {"conveyor.original.partition", "conveyor.original.offset"} <= set(invalid)
    assert pipeline.api.get(f"/v1/jobs/{bad_id}").json()["status"] == "dead_lettered"


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
