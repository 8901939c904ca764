"""The broker configuration of one- and three-node local clusters, and their ids."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conveyor.infra.kafka import cluster as local_cluster
from conveyor.infra.kafka.properties import NodeSpec, server_properties


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def nodes(count: int) -> list[NodeSpec]:
    return [NodeSpec(i + 1, 9092 + i, Path(f"/data/node-{i + 1}")) for i in range(count)]


def test_three_nodes_replicate_three_times_and_need_two_in_sync() -> None:
    cluster = nodes(3)

    props = [parse(server_properties(node, cluster)) for node in cluster]

    for p in props:
        assert p["default.replication.factor"] == "3"
        assert p["min.insync.replicas"] == "2"
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == "2"
        assert p["controller.quorum.voters"] == (
            "1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
        )
        # Patient enough that a starved two-voter quorum keeps its controller.
        assert p["controller.quorum.fetch.timeout.ms"] == "6000"
    assert [p["listeners"] for p in props] == [
        f"PLAINTEXT://127.0.0.1:{9092 + i},CONTROLLER://127.0.0.1:{9192 + i}" for i in range(3)
    ]


def test_one_node_replicates_once_and_never_auto_creates_topics() -> None:
    (node,) = nodes(1)

    props = parse(server_properties(node, [node]))

    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == "/data/node-1/data"


def test_a_new_cluster_id_never_starts_with_a_dash_that_kafka_storage_takes_for_an_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(int=1)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))

    assert local_cluster._new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAQ"
