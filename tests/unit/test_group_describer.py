"""Group descriptions go through a client that is replaced once it stays unanswered.

No broker listens here, so every description times out, as behind a coordinator that
librdkafka waits on forever (librdkafka #5511); the chaos test kills a real one.
"""

from __future__ import annotations

import logging

import pytest

from conveyor.infra.processes import free_port_block
from conveyor.kafka import admin as kafka_admin
from conveyor.kafka.admin import KafkaAdmin
from conveyor.kafka.exceptions import KafkaQueryError

_REPLACED = "group describer replaced"


def _unanswered(admin: KafkaAdmin, asks: int) -> list[str]:
    codes = []
    for _ in range(asks):
        with pytest.raises(KafkaQueryError) as raised:
            admin.group_description("nobody-answers", timeout=0.1)
        codes.append(raised.value.code)
    return codes


@pytest.fixture
def admin() -> KafkaAdmin:
    # A port nothing listens on: requests wait for a broker, as for a dead coordinator.
    return KafkaAdmin({"bootstrap.servers": f"127.0.0.1:{free_port_block(1)}", "log_level": 0})


def test_a_few_timeouts_keep_the_describer(
    admin: KafkaAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, kafka_admin.__name__):
        codes = _unanswered(admin, 3)
    admin.close()

    assert codes == ["_TIMED_OUT"] * 3
    assert _REPLACED not in caplog.text


def test_a_describer_left_unanswered_is_replaced_and_dropping_it_is_safe(
    admin: KafkaAdmin, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_admin, "_DESCRIBER_STUCK_AFTER", 0.0)

    with caplog.at_level(logging.WARNING, kafka_admin.__name__):
        codes = _unanswered(admin, 3)
    # Each replaced client went with its request still outstanding, the last with close():
    # librdkafka failed them as destroyed, and this process lives on.
    admin.close()

    assert codes == ["_TIMED_OUT"] * 3
    assert caplog.text.count(_REPLACED) == 3
