"""A job's webhook, queued in the transaction that settles it.

When a job of a stream moves to a final status and has a callback (its event's
``conveyor.callback.url`` header, or its stream's declared ``webhook``), the settle appends
one record to the webhooks stream's topic through the outbox, in the same transaction: a
delivery exists exactly when its job settled, once, and the outbox relay publishes it once
for ``read_committed`` readers. The webhooks stream's own worker then POSTs it
(``processors/pipeline/webhooks.py``), with the engine's retries, dead letters and
effectively-once gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.events import Event
from conveyor.kafka.headers import header_text
from conveyor.kafka.identity import ce_type, child_traceparent, cloudevent_headers
from conveyor.kafka.records import OutboxRecord
from conveyor.kafka.webhooks import (
    CALLBACK_SIGNER,
    CALLBACK_URL,
    delivery_id,
    stream_signer,
    webhook_id,
)
from conveyor.schemas.serde import AvroEncoder
from conveyor.store import JobRecord

__all__ = ["WebhookOutbox", "webhook_payload"]


def webhook_payload(job: JobRecord) -> dict[str, Any]:
    """The JSON body of ``job``'s webhook, in the Standard Webhooks shape: ``type``,
    ``timestamp`` and the job as ``data`` (as ``GET /v1/jobs/{event_id}`` shows it)."""
    data: dict[str, Any] = {
        "event_id": job.event_id,
        "stream": job.stream,
        "status": job.status.value,
        "attempts": job.attempts,
        "accepted_at": job.accepted_at.isoformat(),
        "settled_at": job.updated_at.isoformat(),
    }
    if job.result is not None:
        data["result"] = job.result
    if job.error is not None:
        data["error"] = job.error
    return {
        "type": f"job.{job.status.value}",
        "timestamp": job.updated_at.isoformat(),
        "data": data,
    }


class WebhookOutbox:
    """The delivery records of one stream's jobs that settled."""

    def __init__(self, settings: Settings, stream: StreamDeclaration, encoder: AvroEncoder) -> None:
        delivering = settings.streams[settings.webhooks.stream]
        self._topic = delivering.topic
        self._ce_type = ce_type(delivering.avro_schema)
        self._source = f"/conveyor/{stream.name}/webhook"
        self._encoder = encoder
        declared = stream.webhook
        self._stream_url = declared.url if declared is not None else None
        self._stream_signer = stream_signer(stream.name)

    def records(
        self, settled: Iterable[tuple[Event, JobRecord]], now: datetime
    ) -> list[OutboxRecord]:
        """One delivery per job of ``settled`` (each moved to a final status now) that has
        a callback: its event's own, else its stream's."""
        headers_of = cloudevent_headers(self._source, self._ce_type, now)
        records = []
        for event, job in settled:
            url = header_text(event.headers, CALLBACK_URL)
            signer = header_text(event.headers, CALLBACK_SIGNER)
            if url is None or signer is None:
                if self._stream_url is None:
                    continue
                url, signer = self._stream_url, self._stream_signer
            status = job.status.value
            delivery_event_id = delivery_id(job.event_id, status)
            delivery: dict[str, object] = {
                "event_id": delivery_event_id,
                "webhook_id": webhook_id(job.event_id, status),
                "job_id": job.event_id,
                "stream": job.stream,
                "status": status,
                "url": url,
                "signer": signer,
                "payload": json.dumps(webhook_payload(job), separators=(",", ":"), default=str),
                "settled_at": job.updated_at,
            }
            traceparent = child_traceparent(header_text(event.headers, "traceparent"))
            records.append(
                OutboxRecord(
                    self._topic,
                    job.event_id.encode(),
                    self._encoder.encode(delivery),
                    headers_of(delivery_event_id, traceparent),
                )
            )
        return records
