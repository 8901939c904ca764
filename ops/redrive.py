"""Sending dead letters back to their stream's topic, each one once.

**The ledger.** Every dead letter redriven gets a record in ``<topic>.dlq.redriven``
(compacted, keyed by the dead letter's ``partition:offset``), written in the same
Kafka transaction as the redriven records themselves: the two commit together or not
at all, which no table in the result store could promise (it cannot share a
transaction with Kafka). The transactional id is per DLQ, and the ledger is read only
after ``init_transactions``: a redrive started beside another fences it, and reads a
ledger that includes whatever that one committed, so no dead letter is redriven twice
even by two operators at once. An entry also holds the dead letter's timestamp, so a
DLQ topic deleted and made again (offsets from 0) is not mistaken for the old one.

**Reopening jobs.** The worker's gate skips an event whose job is final, and
``dead_lettered`` and ``failed`` are final. So before the redriven records become
visible (the transaction's commit), their jobs move back to ``queued``. That keeps
every output effectively once: a job that ended dead-lettered or failed has had no
effect but its dead letter (outputs, aggregates and e-mails are applied only by the
transaction that moves a job to ``succeeded``, and only one can), jobs that succeeded
are never reopened, and when a redriven record and an old copy of the same event both
arrive, the gate lets one through. An e-mail whose outcome was unknown (``failed``)
carries its commit mark, so its handler reports it sent rather than sending it again.
If the transaction fails after the jobs were reopened, they wait as ``queued`` until
the redrive is run again (the ledger has no entry for them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaException, Producer

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.config import producer_config
from conveyor.kafka.headers import redriven_headers
from conveyor.kafka.identity import KafkaHeaders
from conveyor.ops.deadletters import DeadLetter, read_dead_letters, read_topic
from conveyor.ops.exceptions import ReplayError
from conveyor.ops.ranges import resolve_ranges
from conveyor.ops.topics import ensure_topics
from conveyor.store import JobStore

__all__ = [
    "RedrivePlan",
    "Selection",
    "plan_redrive",
    "read_ledger",
    "redrive",
    "was_redriven",
]

log = logging.getLogger(__name__)

_TIMEOUT = 60.0

# A dead letter's place in its DLQ topic: (partition, offset).
Position = tuple[int, int]


@dataclass(frozen=True)
class Selection:
    """Which dead letters: all of those conditions that are given (``all_`` alone: every one)."""

    errors: frozenset[str] = frozenset()
    event_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    all_: bool = False

    @property
    def empty(self) -> bool:
        """Nothing chosen at all: a redrive must be told which records, never guess."""
        return not (self.errors or self.event_ids or self.since or self.until or self.all_)

    def matches(self, letter: DeadLetter) -> bool:
        # The times narrowed the read already (the broker's time index); checked again
        # here because a partition's timestamps need not rise with its offsets.
        return (
            (not self.errors or letter.error_type in self.errors)
            and (not self.event_ids or letter.event.event_id in self.event_ids)
            and (self.since is None or letter.timestamp >= self.since)
            and (self.until is None or letter.timestamp < self.until)
        )


@dataclass(frozen=True)
class RedrivePlan:
    stream: StreamDeclaration
    chosen: list[DeadLetter]  # to send: the latest dead letter of each event
    superseded: list[DeadLetter]  # earlier dead letters of the same events, settled with them
    already: int  # matching dead letters redriven before
    missing: list[str] = field(default_factory=list)  # event ids asked for and not found

    @property
    def settled(self) -> list[DeadLetter]:
        """Every dead letter this redrive enters in the ledger."""
        return [*self.chosen, *self.superseded]


def read_ledger(settings: Settings, stream: StreamDeclaration) -> dict[Position, int]:
    """The dead letters of ``stream`` redriven so far: position → their timestamp (ms)."""
    admin = admin_client(settings.kafka)
    try:
        ranges = resolve_ranges(admin, stream.redriven_topic)
    except ReplayError:
        return {}  # no ledger yet: nothing was ever redriven
    ledger = {}
    for consumed, _ in read_topic(settings, ranges):
        if consumed.key is None or consumed.value is None:
            continue
        partition, _, offset = consumed.key.decode().partition(":")
        ledger[(int(partition), int(offset))] = int(json.loads(consumed.value)["timestamp"])
    return ledger


def plan_redrive(
    settings: Settings, stream: StreamDeclaration, selection: Selection
) -> RedrivePlan:
    """What a redrive of ``selection`` would send; reads, writes nothing."""
    ledger = read_ledger(settings, stream)
    letters = read_dead_letters(settings, stream, since=selection.since, until=selection.until)
    matching = [letter for letter in letters if selection.matches(letter)]
    fresh = [letter for letter in matching if not was_redriven(letter, ledger)]
    latest: dict[str, DeadLetter] = {}
    for letter in sorted(fresh, key=lambda d: d.millis):
        latest[letter.event.event_id] = letter
    chosen = sorted(latest.values(), key=lambda d: (d.partition, d.offset))
    found = {letter.event.event_id for letter in matching}
    return RedrivePlan(
        stream,
        chosen,
        [letter for letter in fresh if latest[letter.event.event_id] is not letter],
        len(matching) - len(fresh),
        sorted(selection.event_ids - found),
    )


def redrive(
    settings: Settings, stream: StreamDeclaration, selection: Selection, store: JobStore
) -> tuple[RedrivePlan, set[str]]:
    """Send the chosen dead letters back to ``stream``'s topic with their attempts reset;
    returns the plan carried out and the event ids whose jobs were reopened."""
    ensure_topics(settings.kafka, [stream])  # the ledger, on a cluster provisioned before it
    producer = Producer(
        producer_config(
            settings.kafka, **{"transactional.id": f"conveyor.redrive.{stream.dlq_topic}"}
        )
    )
    try:
        # Fences any other redrive of this DLQ; only then is the ledger known complete.
        producer.init_transactions(_TIMEOUT)
        plan = plan_redrive(settings, stream, selection)
        if not plan.chosen:
            return plan, set()
        reopened = store.reopen([letter.event.event_id for letter in plan.chosen])
        producer.begin_transaction()
        _send(producer, stream, plan)
        producer.commit_transaction(_TIMEOUT)
    except KafkaException as exc:
        raise ReplayError.from_kafka(
            exc,
            f"redrive of {stream.dlq_topic} not committed (nothing was sent; jobs reopened "
            "stay queued until it is run again)",
        ) from exc
    log.info(
        "redriven dlq=%s records=%d reopened=%d", stream.dlq_topic, len(plan.chosen), len(reopened)
    )
    return plan, reopened


def _send(producer: Producer, stream: StreamDeclaration, plan: RedrivePlan) -> None:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    for letter in plan.chosen:
        event = letter.event
        # By key, as the API wrote it: the same partition as before, if the count held;
        # back to its priority level, or to the default level from a delay tier (its
        # time has passed).
        level = event.topic if event.topic in stream.level_topics else stream.topic
        _produce(
            producer,
            level,
            event.key,
            event.raw,
            redriven_headers(list(event.headers.items()), letter.where),
        )
    for letter in plan.settled:
        entry = {
            "timestamp": letter.millis,
            "event_id": letter.event.event_id,
            "redriven_at": at,
        }
        key = f"{letter.partition}:{letter.offset}".encode()
        _produce(producer, stream.redriven_topic, key, json.dumps(entry).encode(), [])


def _produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: KafkaHeaders,
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)  # the local queue is full: let deliveries drain


def was_redriven(letter: DeadLetter, ledger: dict[Position, int]) -> bool:
    """Whether ``ledger`` holds ``letter`` (the same position and timestamp)."""
    return ledger.get((letter.partition, letter.offset)) == letter.millis
