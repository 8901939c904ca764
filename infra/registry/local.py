"""Apicurio Registry on 127.0.0.1, storing its schemas in the Kafka cluster.

Apicurio serves the Confluent Schema Registry API at ``/apis/ccompat/v7``, so
confluent-kafka's ``SchemaRegistryClient``, serializers and any other Confluent
client use it unchanged. Its ``kafkasql`` storage keeps every schema in a Kafka
topic of the cluster it serves, as Confluent's registry does with ``_schemas``:
the schema ids inside messages live and die with the messages.
"""

from __future__ import annotations

import json
import logging
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from conveyor.config import KafkaSettings
from conveyor.infra import processes
from conveyor.infra.exceptions import InfraError, NotRunningError, StartupError
from conveyor.infra.kafka.sasl import jaas_config
from conveyor.infra.maven import java_executable, resolve
from conveyor.infra.services import http_ok

__all__ = ["APICURIO_VERSION", "LocalRegistry"]

log = logging.getLogger(__name__)

# 3.0.x is the newest Apicurio line whose classes run on Java 17 (3.1+ needs 21).
APICURIO_VERSION = "3.0.9"
_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
_RUNNER = f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
# The Confluent API; Apicurio's own API lives beside it under /apis/registry.
CCOMPAT_PATH = "/apis/ccompat/v7"
STATE_FILE = "registry.json"
# Quarkus reads this file below the working directory over the packaged configuration;
# Apicurio hands every ``apicurio.kafka.common.*`` property to each of its Kafka clients.
_KAFKA_CONFIG = Path("config") / "application.properties"
_KAFKA_COMMON = "apicurio.kafka.common."


class LocalRegistry:
    """One registry process whose state file lives in ``data_dir``, storing its schemas
    in the cluster ``kafka`` connects to (with its SASL and SSL settings)."""

    def __init__(
        self, data_dir: Path, cache_dir: Path, kafka: KafkaSettings, port: int = 8081
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.kafka = kafka
        self.port = port
        self.pid: int | None = None

    @classmethod
    def recorded(cls, data_dir: Path, cache_dir: Path) -> LocalRegistry:
        try:
            state = json.loads((data_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            raise NotRunningError(f"no local schema registry recorded in {data_dir}") from None
        kafka = KafkaSettings(bootstrap_servers=state["bootstrap_servers"])
        registry = cls(data_dir, cache_dir, kafka, state["port"])
        registry.pid = state["pid"]
        return registry

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def url(self) -> str:
        """What ``SCHEMA_REGISTRY_URL`` should be for Confluent clients."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "registry.log"

    @property
    def running(self) -> bool:
        return self.pid is not None and processes.is_running(self.pid, self._marker)

    @property
    def _marker(self) -> str:
        return f"-Dconveyor.registry.dir={self.data_dir}"

    def start(self, timeout: float = 120.0) -> None:
        """Start the registry, wait until it answers, and make BACKWARD the default."""
        if self.running:
            raise InfraError(f"the registry in {self.data_dir} is already running")
        processes.ensure_ports_free([self.port])
        java = java_executable()
        home = _resolve_apicurio(self.cache_dir)
        argv = [
            java,
            "-Xms128m",
            "-Xmx512m",
            self._marker,
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={self.port}",
            "-Dapicurio.storage.kind=kafkasql",
            f"-Dapicurio.kafkasql.bootstrap.servers={self.bootstrap_servers}",
            "-jar",
            str(home / _RUNNER),
        ]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_kafka_config()
        self.pid = processes.spawn(argv, self.log_file, cwd=self.data_dir)
        self._save()
        self._wait_ready(timeout)
        # Confluent's registry defaults to BACKWARD, Apicurio to no check at all.
        self._request("PUT", "/config", {"compatibility": "BACKWARD"})
        log.info("schema registry ready url=%s pid=%d", self.url, self.pid)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the registry; True if it had to be killed."""
        if self.pid is None:
            raise NotRunningError(f"no local schema registry recorded in {self.data_dir}")
        killed = processes.stop(self.pid, self._marker, timeout)
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self.pid = None
        return killed

    def _write_kafka_config(self) -> None:
        """How the registry's Kafka clients log in: in a file only its owner reads, not on
        its command line, where every process could read the password."""
        path = self.data_dir / _KAFKA_CONFIG
        properties = _java_client_properties(self.kafka)
        if not properties:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            "".join(f"{_KAFKA_COMMON}{k}={_escaped(v)}\n" for k, v in properties.items())
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise StartupError(
                    f"the schema registry exited during startup: "
                    f"{processes.tail(self.log_file, 3).strip()[-300:]}",
                    [self.log_file],
                )
            if http_ok(f"{self.url}/subjects"):
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"the schema registry did not answer within {timeout:.0f}s", [self.log_file]
                )
            time.sleep(0.5)

    def _request(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a fixed http:// URL on loopback
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def _save(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "bootstrap_servers": self.kafka.bootstrap_servers,
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def _java_client_properties(kafka: KafkaSettings) -> dict[str, str]:
    """The Java client's security settings for ``kafka``'s own (librdkafka's) ones."""
    properties: dict[str, str] = {}
    if kafka.security_protocol != "PLAINTEXT":
        properties["security.protocol"] = kafka.security_protocol
    if kafka.sasl_mechanism is not None:
        properties["sasl.mechanism"] = kafka.sasl_mechanism
        if kafka.sasl_username is not None and kafka.sasl_password is not None:
            properties["sasl.jaas.config"] = jaas_config(
                kafka.sasl_mechanism, kafka.sasl_username, kafka.sasl_password
            )
    if kafka.ssl_ca_location is not None:
        properties["ssl.truststore.type"] = "PEM"
        properties["ssl.truststore.location"] = str(kafka.ssl_ca_location)
    return properties


def _escaped(value: str) -> str:
    """A value as a Java properties file holds it: backslashes doubled, no line breaks."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _resolve_apicurio(cache_dir: Path) -> Path:
    def unpack(out: Path) -> None:
        archive = out / "apicurio.tar.gz"
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")
        archive.unlink()

    return resolve(
        f"apicurio-registry-{APICURIO_VERSION}",
        cache_dir,
        # Plugin 2.8 on purpose: its `get` fetches the archive alone, while newer
        # versions insist on the parent pom, which Maven Central does not carry.
        lambda out: [
            "org.apache.maven.plugins:maven-dependency-plugin:2.8:get",
            "-Dtransitive=false",
            f"-Dartifact={_ARTIFACT}",
            f"-Ddest={out / 'apicurio.tar.gz'}",
        ],
        finish=unpack,
    )
