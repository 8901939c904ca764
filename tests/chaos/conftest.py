"""A three-node cluster for the chaos tests that kill brokers through conveyor's launcher.

One for the session: each test leaves it whole (a broker it killed is back and every
partition in sync) and works on topics of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor.infra.kafka import LocalCluster
from support.brokers import local_cluster


@pytest.fixture(scope="session")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("three-nodes"), nodes=3) as cluster:
        yield cluster
