"""server.properties and log4j2 configuration for one node of a local KRaft cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conveyor.infra.kafka.sasl import LISTENER, SaslUser

__all__ = ["NodeSpec", "log4j2_properties", "server_properties"]

# Controllers listen this far above the broker ports, so 1 or 3 brokers take
# 9092.. and their controllers 9192.. without overlapping.
CONTROLLER_PORT_OFFSET = 100


@dataclass(frozen=True)
class NodeSpec:
    """One combined broker+controller node."""

    node_id: int
    port: int
    directory: Path

    @property
    def controller_port(self) -> int:
        return self.port + CONTROLLER_PORT_OFFSET

    @property
    def config_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.directory / "logs" / "stdout.log"


# A local three-node quorum shares a laptop's or a CI runner's few cores with everything
# else: with Kafka's defaults (2 s without a fetch from a majority and the active controller
# resigns, 1 s election timeouts) a starved quorum that has lost one voter kept electing and
# resigning for half a minute, fencing nobody meanwhile. More patience keeps it steady; a
# dead controller is replaced a few seconds later than it would be on idle machines.
_QUORUM_ON_A_BUSY_MACHINE = {
    "controller.quorum.fetch.timeout.ms": 6000,
    "controller.quorum.election.timeout.ms": 3000,
}


def server_properties(node: NodeSpec, voters: list[NodeSpec], sasl: SaslUser | None = None) -> str:
    """A node's configuration; with ``sasl``, clients and the other brokers log in as that
    user on its one listener (the controllers' own listener stays plaintext)."""
    size = len(voters)
    listener = LISTENER if sasl is not None else "PLAINTEXT"
    # With three nodes a write is durable on two before it is acknowledged, and the
    # cluster keeps accepting writes with one node down; one node cannot do better than 1.
    replication = 3 if size >= 3 else 1
    min_isr = 2 if size >= 3 else 1
    quorum = ",".join(f"{v.node_id}@127.0.0.1:{v.controller_port}" for v in voters)
    props = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": quorum,
        "listeners": f"{listener}://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"{listener}://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": listener,
        "listener.security.protocol.map": f"{listener}:{listener},CONTROLLER:PLAINTEXT",
        "log.dirs": node.directory / "data",
        "num.partitions": 3,
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": 12,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 12,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        # conveyor provisions every topic it uses; a typo must fail, not create a topic.
        "auto.create.topics.enable": "false",
        # A local cluster serves tests and demos: start groups at once instead of
        # waiting 3 s for more members to join.
        "group.initial.rebalance.delay.ms": 0,
        **(_QUORUM_ON_A_BUSY_MACHINE if size >= 3 else {}),
        **(sasl.broker_properties() if sasl is not None else {}),
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def log4j2_properties(node: NodeSpec) -> str:
    return (
        "status = warn\n"
        "appender.file.type = RollingFile\n"
        "appender.file.name = file\n"
        f"appender.file.fileName = {node.log_file}\n"
        f"appender.file.filePattern = {node.log_file}.%i\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "appender.file.policies.type = Policies\n"
        "appender.file.policies.size.type = SizeBasedTriggeringPolicy\n"
        "appender.file.policies.size.size = 50MB\n"
        "appender.file.strategy.type = DefaultRolloverStrategy\n"
        "appender.file.strategy.max = 3\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = file\n"
    )
