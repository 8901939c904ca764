"""``conveyor dlq``: dead letters counted by error type, shown decoded, and redriven once
each to real workers once the fault is fixed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from conveyor.config import Settings
from conveyor.infra.services import service_env
from conveyor.processors.pipeline.notifications import message_id
from support.cli import conveyor
from support.events import send_poisoned_orders
from support.mail import FlakyMailbox
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size


def _wait_settled(settings: Settings, statuses: dict[str, int]) -> None:
    wait_for(
        lambda: job_statuses(settings) == statuses and outbox_size(settings) == 0,
        timeout=120,
        what=f"jobs {statuses}",
    )


def test_dlq_list_counts_dead_letters_by_error_type_and_show_prints_them_decoded(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = pipeline.settings
    stream = settings.streams["orders"]
    garbage = [b"not avro %d" % n for n in range(4)]
    invalid = send_poisoned_orders(settings, 200, seed=61, every=20, garbage=garbage)
    _wait_settled(settings, {"succeeded": 190, "dead_lettered": 14})
    env = service_env(settings, tmp_path / "cli.yaml")

    listed = conveyor("dlq", "list", "orders", "--json", env=env)
    table = conveyor("dlq", "list", env=env)

    assert listed.returncode == 0, listed.stderr
    (orders_dlq,) = json.loads(listed.stdout)["streams"]
    assert orders_dlq["topic"] == stream.dlq_topic
    assert orders_dlq["dead_letters"] == 14
    assert orders_dlq["errors"] == {
        "DecodeError": {"dead_letters": 4, "redriven": 0},
        "InvalidEventError": {"dead_letters": 10, "redriven": 0},
    }
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[2:]]
    assert ["orders", stream.dlq_topic, "InvalidEventError", "10", "0"] in rows

    shown = conveyor(
        "dlq", "show", "orders", "--error", "InvalidEventError", "--max", "3", "--json", env=env
    )
    raw = conveyor("dlq", "show", "orders", "--error", "DecodeError", "--json", env=env)
    readable = conveyor("dlq", "show", "orders", "--max", "2", env=env)

    assert shown.returncode == 0, shown.stderr
    letters = [json.loads(line) for line in shown.stdout.splitlines()]
    assert len(letters) == 3
    invalid_ids = {o["event_id"] for o in invalid}
    for letter in letters:
        assert letter["event_id"] in invalid_ids
        assert letter["value"]["event_id"] == letter["event_id"]
        assert "not the sum of the lines" in letter["error"]["message"]
        assert letter["original"]["topic"] == stream.topic
        assert letter["attempts"] == 1
        assert letter["headers"]["ce_id"] == letter["event_id"]
    undecodable = [json.loads(line) for line in raw.stdout.splitlines()]
    assert sorted(base64.b64decode(d["raw_value"]) for d in undecodable) == [
        b"not avro %d" % n for n in range(4)
    ]
    assert all(d["value"] is None and d["error"]["type"] == "DecodeError" for d in undecodable)
    assert readable.returncode == 0, readable.stderr
    assert "2 of 14 dead letters in" in readable.stdout


def test_a_redrive_after_the_fault_is_fixed_succeeds_once_each_and_a_second_moves_nothing(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    FlakyMailbox.broken = True
    with make_pipeline(mail_handler=FlakyMailbox) as pipeline:
        settings = pipeline.settings
        env = service_env(settings, tmp_path / "cli.yaml")
        notes = [
            {"recipient": f"user{n}@example.test", "subject": f"hello {n}", "body": "b"}
            for n in range(5)
        ]
        response = pipeline.api.post("/v1/streams/notifications/events", json=notes)
        ids = [r["event_id"] for r in response.json()["events"]]
        _wait_settled(settings, {"dead_lettered": 5})

        dry = conveyor("dlq", "redrive", "notifications", "--all", "--dry-run", "--json", env=env)

        assert dry.returncode == 0, dry.stderr
        planned = json.loads(dry.stdout)
        assert (planned["to_redrive"], planned["redriven"]) == (5, 0)
        assert planned["by_error"] == {"RefusedError": 5}
        assert job_statuses(settings) == {"dead_lettered": 5}

        FlakyMailbox.broken = False
        one = conveyor("dlq", "redrive", "notifications", "--event-id", ids[0], "--json", env=env)
        rest = conveyor("dlq", "redrive", "notifications", "--all", "--json", env=env)

        assert one.returncode == 0, one.stderr
        assert rest.returncode == 0, rest.stderr
        assert (json.loads(one.stdout)["redriven"], json.loads(one.stdout)["reopened_jobs"]) == (
            1,
            1,
        )
        rest_report = json.loads(rest.stdout)
        assert (rest_report["redriven"], rest_report["redriven_before"]) == (4, 1)
        assert sorted(rest_report["event_ids"]) == sorted(ids[1:])
        _wait_settled(settings, {"succeeded": 5})
        received = sorted(m["Message-ID"] for m in pipeline.mail.messages())
        assert received == sorted(message_id(i) for i in ids)
        job = pipeline.api.get(f"/v1/jobs/{ids[0]}").json()
        assert (job["status"], job["attempts"]) == ("succeeded", 1)

        again = conveyor("dlq", "redrive", "notifications", "--all", "--json", env=env)

        assert again.returncode == 0, again.stderr
        assert (
            json.loads(again.stdout)["redriven"],
            json.loads(again.stdout)["redriven_before"],
        ) == (0, 5)
        listed = json.loads(conveyor("dlq", "list", "notifications", "--json", env=env).stdout)
        assert listed["streams"][0]["errors"] == {
            "RefusedError": {"dead_letters": 5, "redriven": 5}
        }
        assert len(pipeline.mail.messages()) == 5
