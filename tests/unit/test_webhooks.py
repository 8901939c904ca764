"""Webhooks' pure parts: signing, the SSRF guard's address checks, which callbacks a key
may name, and the delivery a settled job queues."""

from __future__ import annotations

import io
import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_reader
from pydantic import ValidationError
from standardwebhooks import Webhook

from conveyor.api.callbacks import callback_headers
from conveyor.api.exceptions import InvalidEventsError
from conveyor.config import ApiKey, Settings, load_settings
from conveyor.config.webhooks import callback_url_problem, host_allowed
from conveyor.infra.services import service_env
from conveyor.kafka.events import Event
from conveyor.kafka.webhooks import CALLBACK_SIGNER, CALLBACK_URL, delivery_id, webhook_id
from conveyor.processors.pipeline.webhook_targets import (
    TargetRefusedError,
    address_refusal,
    check_literal,
)
from conveyor.processors.webhooks import WebhookOutbox
from conveyor.schemas.serde import AvroEncoder
from conveyor.store import JobRecord, JobStatus

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    # The specification's own example (standard-webhooks, libraries' shared test).
    signed = Webhook(SECRET).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, UTC),
        '{"test": 2432232314}',
    )
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not global"),
        ("240.0.0.1", "reserved"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_the_guard_refuses_every_address_that_is_not_global(address: str, reason: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


def test_an_ip_literal_target_is_checked_and_a_name_is_left_to_the_resolver() -> None:
    with pytest.raises(TargetRefusedError, match="loopback"):
        check_literal("127.0.0.1")
    with pytest.raises(TargetRefusedError, match="loopback"):
        check_literal("[::1]")
    check_literal("93.184.215.14")
    check_literal("hooks.example.com")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/in", None),
        ("http://127.0.0.1:8080/hook", None),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https:///path", "names a host"),
        ("https://hooks.example.com/#x", "fragment"),
        ("https://hooks.example.com:port/", "not a URL"),
    ],
)
def test_a_callback_url_is_http_with_a_host_and_no_credentials(
    url: str, problem: str | None
) -> None:
    found = callback_url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_callback_hosts_match_exactly_or_under_a_wildcard_domain() -> None:
    allowed = ("hooks.example.com", "*.shop.test", "127.0.0.1")
    assert host_allowed("hooks.example.com", allowed)
    assert host_allowed("HOOKS.example.com.", allowed)
    assert host_allowed("eu.api.shop.test", allowed)
    assert not host_allowed("shop.test", allowed)
    assert not host_allowed("evilshop.test", allowed)
    assert not host_allowed("example.com", allowed)
    assert host_allowed("127.0.0.1", allowed)


def _key(**fields: object) -> ApiKey:
    return ApiKey.model_validate({"name": "shop", "sha256": "0" * 64, **fields})


def test_a_key_with_callback_hosts_needs_a_webhook_secret_in_the_standard_shape() -> None:
    with pytest.raises(ValidationError, match="webhook_secret"):
        _key(callback_hosts=["hooks.example.com"])
    with pytest.raises(ValidationError, match="whsec_"):
        _key(callback_hosts=["hooks.example.com"], webhook_secret="hunter2")
    with pytest.raises(ValidationError, match="24 to 64 bytes"):
        _key(callback_hosts=["hooks.example.com"], webhook_secret="whsec_c2hvcnQ=")
    key = _key(callback_hosts=["Hooks.Example.com"], webhook_secret=SECRET)
    assert key.callback_hosts == ("hooks.example.com",)
    assert SECRET not in repr(key)


def _refusal(settings: Settings, key: ApiKey | None, url: str) -> str:
    with pytest.raises(InvalidEventsError) as refused:
        callback_headers(settings, key, url)
    [problem] = refused.value.detail
    assert problem["loc"] == ["header", "Conveyor-Callback-Url"]
    return str(problem["msg"])


def test_only_a_key_that_lists_the_host_may_name_a_callback() -> None:
    settings = load_settings()
    allowed = _key(callback_hosts=["*.example.com"], webhook_secret=SECRET)
    assert callback_headers(settings, allowed, None) == []
    assert callback_headers(settings, allowed, "https://in.example.com/hook") == [
        (CALLBACK_URL, b"https://in.example.com/hook"),
        (CALLBACK_SIGNER, b"key:shop"),
    ]
    assert "callback_hosts" in _refusal(settings, None, "https://in.example.com/")
    assert "callback_hosts" in _refusal(settings, _key(), "https://in.example.com/")
    assert "may not call back to host 'evil.test'" in _refusal(
        settings, allowed, "https://evil.test/"
    )
    assert "credentials" in _refusal(settings, allowed, "https://a:b@in.example.com/")


def test_a_settled_job_with_a_callback_queues_one_signed_delivery_and_one_without_none() -> None:
    settings = load_settings()
    delivering = settings.streams["webhooks"]
    outbox = WebhookOutbox(
        settings, settings.streams["orders"], AvroEncoder(delivering.avro_schema, 7)
    )
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    job = JobRecord(
        "o-1", "orders", "orders", 0, 5, JobStatus.SUCCEEDED, now, now, {"total": 3}, None, 1
    )

    def event(headers: dict[str, bytes]) -> Event:
        return Event("o-1", {}, b"c-1", b"", headers, "orders", 0, 5)

    url = b"https://in.example.com/hook"
    [record] = outbox.records(
        [(event({CALLBACK_URL: url, CALLBACK_SIGNER: b"key:shop"}), job)], now
    )
    assert outbox.records([(event({}), job)], now) == []
    assert record.topic == delivering.topic
    assert record.key == b"o-1"
    assert record.value is not None
    value = schemaless_reader(io.BytesIO(record.value[5:]), parse_schema(delivering.avro_schema))
    assert isinstance(value, dict)
    assert value["event_id"] == delivery_id("o-1", "succeeded") == "o-1 succeeded"
    assert value["webhook_id"] == webhook_id("o-1", "succeeded") == "o-1.succeeded"
    assert (value["url"], value["signer"], value["status"]) == (
        url.decode(),
        "key:shop",
        "succeeded",
    )
    payload = json.loads(value["payload"])
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["result"] == {"total": 3}
    assert dict(record.headers)["ce_id"] == b"o-1 succeeded"


def test_a_child_process_gets_the_webhook_secrets_by_environment_never_in_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_secret = "whsec_c3RyZWFtLXNlY3JldC1vZi10aGUtb3JkZXJzLXN0cmVhbQ=="
    base = load_settings()
    orders = base.streams["orders"].model_dump(by_alias=True)
    orders["webhook"] = {"url": "https://audit.example/in", "secret": stream_secret}
    key = _key(callback_hosts=["hooks.example.com"], webhook_secret=SECRET)
    settings = load_settings(
        api={"keys": [key.model_dump() | {"webhook_secret": SECRET}]},
        streams={**base.streams, "orders": orders},
        data_dir=tmp_path,
    )

    env = service_env(settings, tmp_path / "child.yaml")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = load_settings()

    written = (tmp_path / "child.yaml").read_text()
    assert SECRET not in written
    assert stream_secret not in written
    [child_key] = child.api.keys
    assert child_key.webhook_secret is not None
    assert child_key.webhook_secret.get_secret_value() == SECRET
    child_hook = child.streams["orders"].webhook
    assert child_hook is not None
    assert child_hook.secret.get_secret_value() == stream_secret
