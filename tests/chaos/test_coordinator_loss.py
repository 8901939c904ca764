"""Lag and group questions survive the group's coordinator dying.

librdkafka aborts a process some time after one of its admin requests to a group
coordinator timed out inside it (librdkafka #3663, #4605). The API measures the workers'
lag every second, so a broker bounce (or a fresh cluster still loading its offsets topic)
killed the API with it. Here the broker that leads the group's offsets partition is
SIGKILLed while another process keeps asking, with one-second waits, through the
failover: it must live through it and get answers again once a new coordinator is elected.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conveyor.infra.kafka import LocalCluster
from support import group_queries
from support.brokers import restart_in_sync
from support.stack import unique
from support.waiting import wait_for

_OFFSETS_TOPIC = "__consumer_offsets"


def test_lag_and_group_questions_live_through_their_coordinator_being_killed(
    three_nodes: LocalCluster,
) -> None:
    servers = three_nodes.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": servers})
    topic, group = unique("watched"), unique("group")
    admin.create_topics([NewTopic(topic, 3)])[topic].result(30)
    wait_for(lambda: _commit(servers, group, topic), timeout=60, what=f"{group}'s first commit")
    leader = _coordinator(admin, group)

    three_nodes.kill(leader)
    try:
        rounds = group_queries.run(servers, topic, 30, [group])
    finally:
        restart_in_sync(three_nodes, leader)

    # The coordinator was away for a while (the questions timed out) and came back.
    assert any(r["lag"] != "ok" for r in rounds[:3]), rounds[:3]
    assert rounds[-1]["lag"] == rounds[-1]["describe"] == "ok", rounds[-3:]


def _commit(servers: str, group: str, topic: str) -> bool:
    """Commit an offset for ``group``; False while the coordinator is not ready."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        return True
    except KafkaException:
        return False
    finally:
        consumer.close()


def _coordinator(admin: AdminClient, group: str) -> int:
    """The node leading the offsets partition of ``group``: its coordinator."""
    partitions = (
        admin.describe_topics(TopicCollection([_OFFSETS_TOPIC]))[_OFFSETS_TOPIC]
        .result(30)
        .partitions
    )
    # Kafka's own choice: abs(Java's String.hashCode of the group id) % partitions.
    code = 0
    for char in group:
        code = (31 * code + ord(char)) & 0xFFFFFFFF
    signed = code - (1 << 32) if code >= 1 << 31 else code
    positive = 0 if signed == -(1 << 31) else abs(signed)  # Kafka's Utils.abs
    leader = partitions[positive % len(partitions)].leader
    assert leader is not None
    return int(leader.id)
