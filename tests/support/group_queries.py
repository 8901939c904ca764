"""Ask a consumer group's lag and membership over and over, as the API's monitor does.

Run as ``python -m support.group_queries SERVERS GROUP TOPIC SECONDS`` so that a crash of
the client library (which aborts the process) shows as this process's exit status rather
than taking the test run with it. Prints one JSON line per round: its time and, for each
question, ``"ok"`` or the error.
"""

from __future__ import annotations

import json
import sys
import time

from conveyor.monitoring.admin import KafkaAdmin
from conveyor.monitoring.exceptions import KafkaQueryError
from conveyor.monitoring.groups import describe_group
from conveyor.monitoring.lag import measure_lag

_WAIT = 1.0  # each question's own timeout: far shorter than a coordinator's failover


def main(servers: str, group: str, topic: str, seconds: float) -> None:
    admin = KafkaAdmin({"bootstrap.servers": servers, "log_level": 0})
    began = time.monotonic()
    while (now := time.monotonic() - began) < seconds:
        answers: dict[str, object] = {"at": round(now, 1)}
        for name, ask in (
            ("lag", lambda: measure_lag(admin, group, [topic], timeout=_WAIT)),
            ("describe", lambda: describe_group(admin, group, timeout=_WAIT)),
        ):
            try:
                ask()
                answers[name] = "ok"
            except KafkaQueryError as exc:
                answers[name] = str(exc)
        print(json.dumps(answers), flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
