"""Apache Kafka in KRaft mode, from its Maven Central artifacts, on 127.0.0.1."""

from conveyor.infra.kafka.cluster import LocalCluster, NodeStatus
from conveyor.infra.kafka.runtime import KAFKA_POM, kafka_version
from conveyor.infra.kafka.sasl import SaslUser

__all__ = ["KAFKA_POM", "LocalCluster", "NodeStatus", "SaslUser", "kafka_version"]
