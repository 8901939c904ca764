"""Lag is asked of a cluster that has just started, before its offsets topic is loaded.

The group coordinators of a fresh cluster answer "loading" at first. librdkafka's admin
ListConsumerGroupOffsets crashed the process on that answer (a segfault), which is how
the API, whose monitor measures the workers' lag from its first second, died with a
cluster started alongside it. Groups spread over the offsets topic's partitions are
asked at once, from the moment the cluster is up, in a child process that must live.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from support import group_queries
from support.brokers import local_cluster


def test_lag_of_many_groups_is_answered_while_a_fresh_cluster_loads_its_offsets(
    tmp_path: Path,
) -> None:
    with local_cluster(tmp_path, nodes=1) as cluster:
        servers = cluster.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": servers})
        admin.create_topics([NewTopic("watched", 3)])["watched"].result(30)
        rounds = group_queries.run(servers, "watched", 10, [f"group-{n}" for n in range(24)])

    assert rounds[-1]["lag"] == rounds[-1]["describe"] == "ok", rounds[-3:]
