"""Ask a consumer group's lag and membership over and over, as the API's monitor does.

Run as ``python -m support.group_queries SERVERS TOPIC SECONDS GROUP...`` so that a crash
of the client library (which aborts the process) shows as this process's exit status
rather than taking the test run with it. Prints one JSON line per round: its time and,
for each question, ``"ok"`` if every group was answered, else the first error. It asks for
SECONDS, then on until a round is answered in full (at most ``_GRACE`` more seconds): how
long a coordinator takes to move depends on the machine's load, and the tests want to see
the answers come back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conveyor.kafka.admin import KafkaAdmin
from conveyor.kafka.exceptions import KafkaQueryError
from conveyor.monitoring.groups import describe_group
from conveyor.monitoring.lag import measure_lag

_WAIT = 1.0  # each question's own timeout: far shorter than a coordinator's failover
_GRACE = 90.0


def main(servers: str, topic: str, seconds: float, groups: list[str]) -> None:
    admin = KafkaAdmin({"bootstrap.servers": servers, "log_level": 0})
    began = time.monotonic()
    while (now := time.monotonic() - began) < seconds + _GRACE:
        answers: dict[str, object] = {"at": round(now, 1)}
        for name, ask in (
            ("lag", lambda group: measure_lag(admin, group, [topic], timeout=_WAIT)),
            ("describe", lambda group: describe_group(admin, group, timeout=_WAIT)),
        ):
            answers[name] = "ok"
            for group in groups:
                try:
                    ask(group)
                except KafkaQueryError as exc:
                    answers[name] = str(exc)
                    break
        print(json.dumps(answers), flush=True)
        if now >= seconds and answers["lag"] == answers["describe"] == "ok":
            return
        time.sleep(0.5)


def run(servers: str, topic: str, seconds: float, groups: list[str]) -> list[dict[str, Any]]:
    """Ask in a child process; its rounds, once it lived through all of them."""
    asked = subprocess.run(
        [sys.executable, "-m", "support.group_queries", servers, topic, str(seconds), *groups],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        capture_output=True,
        text=True,
        timeout=seconds + _GRACE + 60,
        check=False,
    )
    assert asked.returncode == 0, f"exit status {asked.returncode}: {asked.stderr[-2000:]}"
    return [json.loads(line) for line in asked.stdout.splitlines()]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:])
