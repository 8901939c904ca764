"""A local KRaft cluster of one or three nodes, its processes recorded in its data dir.

Every node is a combined broker and controller on 127.0.0.1. The cluster is
described by ``cluster.json`` in the data directory (shape, ports, cluster id and
the pid of each node), which is how ``stop`` and ``status`` find it from another
shell, and how a second ``start`` reuses the same storage.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from conveyor.infra import processes
from conveyor.infra.exceptions import InfraError, NotRunningError, StartupError
from conveyor.infra.kafka.properties import NodeSpec, log4j2_properties, server_properties
from conveyor.infra.kafka.runtime import kafka_classpath
from conveyor.infra.kafka.sasl import SaslUser
from conveyor.infra.maven import java_executable

__all__ = ["LocalCluster", "NodeStatus"]

log = logging.getLogger(__name__)

STATE_FILE = "cluster.json"
# The exception a node died of, e.g. "org.apache.kafka.common.KafkaException: Socket server
# failed to bind to 127.0.0.1:9092: Address already in use." below "Exiting Kafka due to ...".
_FATAL = re.compile(r"^[\w.$]+(?:Exception|Error): (.+)$", re.MULTILINE)
JVM_OPTIONS = ["-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    port: int
    pid: int | None
    running: bool
    in_metadata: bool


class LocalCluster:
    """One or three Kafka nodes under ``data_dir``; no process is touched until :meth:`start`.

    With ``sasl`` the nodes authenticate every client, and each other, as that user.
    """

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        nodes: int = 1,
        port: int = 9092,
        sasl: SaslUser | None = None,
    ) -> None:
        if nodes not in (1, 3):
            raise InfraError(f"a local cluster has 1 or 3 nodes, not {nodes}")
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.nodes = [
            NodeSpec(node_id=i + 1, port=port + i, directory=self.data_dir / f"node-{i + 1}")
            for i in range(nodes)
        ]
        self.sasl = sasl
        self._cluster_id = ""
        self._pids: dict[int, int] = {}
        # The mechanism and user the storage was made with, as recorded (None: plaintext).
        self._recorded_sasl: dict[str, str] | None = None

    @classmethod
    def recorded(
        cls, data_dir: Path, cache_dir: Path, sasl: SaslUser | None = None
    ) -> LocalCluster:
        """The cluster whose state is recorded in ``data_dir`` (``sasl``: the user to ask
        it questions as, if it listens with SASL)."""
        state_path = data_dir / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except FileNotFoundError:
            raise NotRunningError(f"no local Kafka cluster recorded in {data_dir}") from None
        cluster = cls(data_dir, cache_dir, nodes=state["nodes"], port=state["port"], sasl=sasl)
        cluster._cluster_id = state["cluster_id"]
        cluster._pids = {int(k): v for k, v in state["pids"].items()}
        return cluster

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def log_files(self) -> list[Path]:
        return [n.log_file for n in self.nodes]

    def node(self, node_id: int) -> NodeSpec:
        for spec in self.nodes:
            if spec.node_id == node_id:
                return spec
        raise InfraError(f"no node {node_id} in this cluster")

    def start(self, timeout: float = 120.0) -> None:
        """Start every node and wait until each is in the cluster metadata."""
        self._adopt_recorded_state()
        if self._recorded_sasl is not None and self._recorded_sasl != self._sasl_record():
            raise InfraError(
                f"the cluster in {self.data_dir} was made to listen with SASL "
                f"{self._recorded_sasl['mechanism']} as {self._recorded_sasl['username']}; "
                "start it the same way, or use another --data-dir"
            )
        running = [n.node_id for n in self.nodes if self._running(n)]
        if running:
            raise InfraError(
                f"the cluster in {self.data_dir} is already running (nodes {running}); "
                "`conveyor broker stop` first"
            )
        processes.ensure_ports_free(
            [port for n in self.nodes for port in (n.port, n.controller_port)]
        )
        java = java_executable()
        classpath = kafka_classpath(self.cache_dir)
        if not self._cluster_id:
            self._cluster_id = _new_cluster_id()
        for node in self.nodes:
            self._prepare(node, java, classpath)
        try:
            for node in self.nodes:
                self._spawn(node, java, classpath)
            self.wait_ready(timeout)
        except StartupError as exc:
            stopped = self._stop_started()
            raise StartupError(f"{exc.reason}; {stopped}", exc.logs) from exc
        except BaseException:
            # Interrupted, or a spawn failed: the nodes run in sessions of their own and
            # would outlive us, holding their ports, with nobody told.
            self._stop_started()
            raise

    def _stop_started(self) -> str:
        """Stop every node a failed start left running; what was done, for a message."""
        running = [n.node_id for n in self.nodes if self._running(n)]
        if self._pids:
            self.stop()
        if not running:
            return "no node was left running"
        return f"stopped node{'s' if len(running) > 1 else ''} {', '.join(map(str, running))}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until every node is registered in the metadata, or raise with log paths."""
        expected = {n.node_id for n in self.nodes}
        deadline = time.monotonic() + timeout
        while True:
            dead = [n for n in self.nodes if not self._running(n)]
            if dead:
                ids = ", ".join(str(n.node_id) for n in dead)
                raise StartupError(
                    f"Kafka node {ids} exited during startup: {_why_exited(dead[0])}",
                    [n.log_file for n in dead] + [n.stdout_file for n in dead],
                )
            if self._registered() >= expected:
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"Kafka did not form a {len(expected)}-node cluster in {timeout:.0f}s",
                    self.log_files,
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``); the ids that were killed."""
        self._adopt_recorded_state()
        if not self._pids:
            raise NotRunningError(f"no local Kafka cluster recorded in {self.data_dir}")
        killed = [
            n.node_id
            for n in self.nodes
            if n.node_id in self._pids
            and processes.stop(self._pids[n.node_id], str(n.config_file), timeout)
        ]
        self._pids = {}
        self._save()
        return killed

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: a hard crash, for fault tests."""
        node = self.node(node_id)
        processes.kill(self._pids[node_id], str(node.config_file))

    def restart(self, node_id: int, timeout: float = 120.0) -> None:
        """Start a node that was stopped or killed, and wait until the cluster is whole."""
        node = self.node(node_id)
        if self._running(node):
            raise InfraError(f"node {node_id} is still running")
        self._spawn(node, java_executable(), kafka_classpath(self.cache_dir))
        self.wait_ready(timeout)

    def status(self) -> list[NodeStatus]:
        self._adopt_recorded_state()
        if self._recorded_sasl is not None and self.sasl is None:
            raise InfraError(
                f"the cluster in {self.data_dir} listens with SASL "
                f"({self._recorded_sasl['mechanism']}, user {self._recorded_sasl['username']}): "
                "set KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD as for its clients"
            )
        registered = self._registered() if any(self._running(n) for n in self.nodes) else set()
        return [
            NodeStatus(
                node_id=n.node_id,
                port=n.port,
                pid=self._pids.get(n.node_id),
                running=self._running(n),
                in_metadata=n.node_id in registered,
            )
            for n in self.nodes
        ]

    def _adopt_recorded_state(self) -> None:
        state_path = self.data_dir / STATE_FILE
        if not state_path.exists():
            return
        state = json.loads(state_path.read_text())
        if (state["nodes"], state["port"]) != (len(self.nodes), self.nodes[0].port):
            raise InfraError(
                f"{self.data_dir} holds a {state['nodes']}-node cluster on port {state['port']}; "
                "use the same --nodes, or another --data-dir"
            )
        self._cluster_id = state["cluster_id"]
        self._pids = {int(k): v for k, v in state["pids"].items()}
        self._recorded_sasl = state.get("sasl")

    def _prepare(self, node: NodeSpec, java: str, classpath: str) -> None:
        """Write the node's configuration and format its storage on first use."""
        node.log_file.parent.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text(server_properties(node, self.nodes, self.sasl))
        if self.sasl is not None:
            node.config_file.chmod(0o600)  # it holds the password the brokers log in with
        (node.directory / "log4j2.properties").write_text(log4j2_properties(node))
        if (node.directory / "data" / "meta.properties").exists():
            return
        result = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                self._cluster_id,
                "--config",
                str(node.config_file),
                "--ignore-formatted",
                *(self.sasl.format_arguments() if self.sasl is not None else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            format_log = node.directory / "logs" / "format.log"
            format_log.write_text(result.stdout + result.stderr)
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StartupError(
                f"formatting storage of node {node.node_id} failed: {last[0][-300:]}", [format_log]
            )

    def _spawn(self, node: NodeSpec, java: str, classpath: str) -> None:
        argv = [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.log_file.parent}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(node.config_file),
        ]
        self._pids[node.node_id] = processes.spawn(argv, node.stdout_file, cwd=node.directory)
        self._save()  # at once: whoever stops us next must find every process
        log.info(
            "started kafka node %d pid=%d port=%d",
            node.node_id,
            self._pids[node.node_id],
            node.port,
        )

    def _running(self, node: NodeSpec) -> bool:
        pid = self._pids.get(node.node_id)
        return pid is not None and processes.is_running(pid, str(node.config_file))

    def _registered(self) -> set[int]:
        """The nodes that answer on their own port and list themselves in the metadata.

        Each node is asked itself: the others' metadata may still list a node that was
        killed (with no active controller, nobody fences it), and a restarted node serves
        clients only once it has caught up with the quorum and registered again.
        """
        return {n.node_id for n in self.nodes if n.node_id in self._listed_by(n)}

    def _listed_by(self, node: NodeSpec) -> set[int]:
        """The node ids in ``node``'s answer to a metadata request (empty if none came)."""
        # log_level 0: while nodes boot, librdkafka would print every refused connection.
        admin = AdminClient(
            {
                "bootstrap.servers": f"127.0.0.1:{node.port}",
                "log_level": 0,
                **(self.sasl.client_config() if self.sasl is not None else {}),
            }
        )
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return set()
        return set(metadata.brokers)

    def _save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "nodes": len(self.nodes),
            "port": self.nodes[0].port,
            "cluster_id": self._cluster_id,
            "pids": {str(k): v for k, v in self._pids.items()},
            "bootstrap_servers": self.bootstrap_servers,
            "sasl": self._sasl_record(),
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _sasl_record(self) -> dict[str, str] | None:
        """How the cluster listens, as recorded: the mechanism and user, never the password."""
        if self.sasl is None:
            return None
        return {"mechanism": self.sasl.mechanism, "username": self.sasl.username}


def _why_exited(node: NodeSpec) -> str:
    """The message of the exception the node died of (a port it could not bind names the
    port), else the end of its output."""
    for path in (node.log_file, node.stdout_file):
        if fatal := _FATAL.findall(processes.tail(path, 200)):
            return str(fatal[-1])[:300]
    excerpt = processes.tail(node.stdout_file, 5) or processes.tail(node.log_file, 5)
    return excerpt.strip()[-300:]


def _new_cluster_id() -> str:
    # KRaft cluster ids are 16 random bytes in URL-safe base64 without padding. One in 64
    # starts with "-", which kafka-storage's argument parser takes for an option; Kafka's
    # own Uuid.randomUuid() draws again in that case, and so does this.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
