"""Topic names of conveyor's own (a stream's topics are named by its declaration in config)."""

from __future__ import annotations

__all__ = ["OUTBOX_TOPIC"]

# Holds no records: the outbox relay commits its progress as this topic's offset,
# inside the transaction that publishes (Kafka accepts offsets only for real topics).
OUTBOX_TOPIC = "_conveyor-outbox"
