"""SASL reaches every Kafka client, and no secret reaches a log.

A one-node cluster that accepts only SASL/SCRAM logins (conveyor's launcher, the clients'
own user), the schema registry storing its schemas in it, the API and a worker as
processes logging at DEBUG, and the CLI's admin and consumer commands: every one of them
works against it through the settings alone, while a client without the login, or with
a wrong password, gets nowhere. Afterwards no log holds the SASL password or an API key
(the valid one, or a wrong one a client tried). PLAIN is proven on a cluster of its own.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
from aiokafka.client import AIOKafkaClient
from aiosmtpd.handlers import Mailbox
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from conveyor.api.auth import hash_key
from conveyor.config import ApiKey, KafkaSettings, Settings, load_settings
from conveyor.infra.kafka import SaslUser
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok, service_env
from conveyor.kafka.credentials import broker_credentials
from support.brokers import local_cluster, local_registry
from support.cli import conveyor, environment
from support.events import orders_json
from support.stack import fresh_stack
from support.waiting import wait_for
from support.workers import job_statuses, worker_process

ORDERS = 20
NOTIFICATIONS = 5


@dataclass(frozen=True)
class SaslStack:
    settings: Settings
    root: Path
    password: str


def _login(user: SaslUser, servers: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=user.mechanism,
        sasl_username=user.username,
        sasl_password=user.password,
    )


@pytest.fixture(scope="module")
def sasl_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslStack]:
    root = tmp_path_factory.mktemp("sasl")
    password = secrets.token_urlsafe(18)
    user = SaslUser("SCRAM-SHA-256", "conveyor", SecretStr(password))
    with local_cluster(root / "kafka", nodes=1, sasl=user) as cluster:
        kafka = _login(user, cluster.bootstrap_servers)
        with local_registry(root / "registry", kafka) as url:
            base = load_settings(kafka=kafka.model_dump(), schema_registry={"url": url})
            yield SaslStack(fresh_stack(base, root), root, password)


def test_a_client_without_the_login_or_with_a_wrong_password_gets_nowhere(
    sasl_stack: SaslStack,
) -> None:
    kafka = sasl_stack.settings.kafka
    wrong = kafka.model_copy(update={"sasl_password": SecretStr("not-the-password")})

    for config in ({"bootstrap.servers": kafka.bootstrap_servers}, wrong.librdkafka_config()):
        with pytest.raises(KafkaException):
            AdminClient({**config, "log_level": 0}).list_topics(timeout=5)
    refused = conveyor(
        "lag",
        "--timeout",
        "5",
        env={**environment(sasl_stack.settings), "KAFKA_SASL_PASSWORD": "nope"},
    )
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert AdminClient(kafka.librdkafka_config()).list_topics(timeout=10).topics


def test_the_api_workers_registry_and_cli_all_log_in_and_no_secret_is_logged(
    sasl_stack: SaslStack, tmp_path: Path
) -> None:
    key, wrong_key = (f"cvy_{secrets.token_urlsafe(24)}" for _ in range(2))
    base = sasl_stack.settings
    mail = LocalMailServer(tmp_path / "mail", free_port_block(1), handler=Mailbox)
    mail.start()
    settings = base.model_copy(
        update={
            "api": base.api.model_copy(
                update={"keys": (ApiKey(name="shop", sha256=hash_key(key)),)}
            ),
            "smtp": base.smtp.model_copy(update={"port": mail.port}),
            "database_url": f"sqlite:///{tmp_path / 'conveyor.db'}",
        }
    )
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}"
    env = {**service_env(settings, tmp_path / "conveyor.yaml"), "CONVEYOR_API__PORT": str(port)}
    outputs: list[str] = []
    try:
        with (
            conveyor_service(
                ["-vv", "api"], env, tmp_path / "api.log", partial(http_ok, f"{url}/readyz")
            ),
            worker_process(settings, tmp_path, "worker", 1, verbosity="-vv"),
            httpx.Client(base_url=url, timeout=30) as client,
        ):

            def post(stream: str, events: object, with_key: str | None) -> int:
                headers = {"Authorization": f"Bearer {with_key}"} if with_key else {}
                return client.post(
                    f"/v1/streams/{stream}/events", json=events, headers=headers
                ).status_code

            notes = [
                {"recipient": f"u{n}@example.test", "subject": "s", "body": "b"}
                for n in range(NOTIFICATIONS)
            ]
            assert post("orders", orders_json(ORDERS), key) == 202
            assert post("notifications", notes, key) == 202
            assert post("orders", orders_json(1, seed=2), wrong_key) == 401
            assert post("orders", orders_json(1, seed=3), None) == 401
            wait_for(
                lambda: job_statuses(settings) == {"succeeded": ORDERS + NOTIFICATIONS},
                timeout=120,
                what="every job applied",
            )

            cli_env = environment(settings)
            enriched = settings.streams["orders"].outputs["enriched"].topic
            for args, expect in (
                (("tail", enriched, "--from-beginning", "--max", str(ORDERS)), ORDERS),
                (("lag", "--json"), None),
                (("topics", "apply", "--dry-run"), None),
                (("dlq", "list"), None),
            ):
                done = conveyor(*args, env=cli_env, timeout=120)
                outputs += [done.stdout, done.stderr]
                assert done.returncode == 0, f"conveyor {' '.join(args)}: {done.stderr}"
                if expect is not None:
                    assert len(done.stdout.splitlines()) == expect
            (group,) = json.loads(outputs[2])["groups"]
            assert (group["group"], group["state"]) == (settings.workers.group_id, "stable")
    finally:
        mail.stop()

    assert len(mail.messages()) == NOTIFICATIONS
    logs = {
        path: path.read_text(errors="replace")
        for directory in (tmp_path, sasl_stack.root)
        for path in directory.rglob("*.log*")
    }
    assert tmp_path / "api.log" in logs
    assert "DEBUG" in logs[tmp_path / "worker.log"]
    secrets_seen = {
        name: [str(p) for p, text in logs.items() if secret in text]
        + [f"cli output {n}" for n, text in enumerate(outputs) if secret in text]
        for name, secret in (
            ("SASL password", sasl_stack.password),
            ("API key", key),
            ("wrong API key", wrong_key),
        )
    }
    assert secrets_seen == {"SASL password": [], "API key": [], "wrong API key": []}


def test_a_plain_cluster_takes_its_user_and_refuses_a_wrong_password(tmp_path: Path) -> None:
    user = SaslUser("PLAIN", "conveyor", SecretStr(secrets.token_urlsafe(12)))
    with local_cluster(tmp_path, nodes=1, sasl=user) as cluster:
        kafka = _login(user, cluster.bootstrap_servers)
        wrong = kafka.model_copy(update={"sasl_password": SecretStr("wrong")})
        producer = Producer({**kafka.librdkafka_config(), "log_level": 0})

        assert AdminClient(kafka.librdkafka_config()).list_topics(timeout=10).brokers
        with pytest.raises(KafkaException):
            AdminClient({**wrong.librdkafka_config(), "log_level": 0}).list_topics(timeout=5)
        assert producer.flush(5) == 0
        asyncio.run(_aiokafka_connects(kafka))


async def _aiokafka_connects(kafka: KafkaSettings) -> None:
    """Faust's client, with the credentials a worker gives Faust, gets the metadata."""
    auth = credentials_to_aiokafka_auth(broker_credentials(kafka))
    client = AIOKafkaClient(bootstrap_servers=kafka.bootstrap_servers, **auth)
    await client.bootstrap()
    try:
        assert client.cluster.brokers()
    finally:
        await client.close()
