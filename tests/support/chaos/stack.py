"""The processes of a chaos run, each of which a fault may kill and start again.

A three-node cluster (RF 3, min ISR 2), the session's schema registry
(schemas are not what is under test, and its ids are valid on any cluster), a mail server
on loopback, ``conveyor api`` and ``conveyor worker`` processes on fresh topics and a
fresh result store. Logs go to the run's directory, one file per process (a restarted
process appends to its file).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from conveyor.config import Settings, load_settings
from conveyor.infra.kafka import LocalCluster
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok, service_env
from conveyor.kafka.admin import KafkaAdmin, admin_client
from support.brokers import restart_in_sync
from support.stack import fresh_stack
from support.workers import worker_process

__all__ = ["ChaosStack", "Restartable", "chaos_stack"]


class Restartable:
    """A process started by a context manager, which can be SIGKILLed and started anew."""

    def __init__(self, start: Callable[[], AbstractContextManager[subprocess.Popen[bytes]]]):
        self._start = start
        self._stack = ExitStack()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._stack = ExitStack()
        self.process = self._stack.enter_context(self._start())

    def kill(self) -> None:
        """SIGKILL: no drain, no flush, no goodbye to the group."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self._stack.close()

    def stop(self) -> None:
        self._stack.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ChaosStack:
    settings: Settings
    cluster: LocalCluster
    mail: LocalMailServer
    api: Restartable
    api_url: str
    workers: list[Restartable]
    directory: Path
    admin: KafkaAdmin = field(init=False)
    # A fault's own wait (a broker kept down) ends early if the run is stopped.
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.admin = admin_client(self.settings.kafka)

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` mid-stream, then start it again."""
        self.workers[index].kill()
        self.workers[index].start()

    def bounce_broker(self, node_id: int, down_seconds: float) -> None:
        """SIGKILL a broker, keep it down, start it again and wait until it caught up."""
        self.cluster.kill(node_id)
        self.stopping.wait(down_seconds)
        restart_in_sync(self.cluster, node_id)

    def restart_api(self) -> None:
        """SIGKILL the API with requests in flight, then start it again on the same port."""
        self.api.kill()
        self.api.start()


@contextmanager
def chaos_stack(
    cluster: LocalCluster, registry_url: str, root: Path, workers: int
) -> Iterator[ChaosStack]:
    """On ``cluster``: fresh topics, a mail server, the API and ``workers`` workers."""
    with ExitStack() as stack:
        base = load_settings(
            kafka={"bootstrap_servers": cluster.bootstrap_servers},
            schema_registry={"url": registry_url},
        )
        mail = LocalMailServer(root / "mail", free_port_block(1))
        mail.start()
        stack.callback(mail.stop)
        made = fresh_stack(base, root)
        settings = made.model_copy(
            update={"smtp": made.smtp.model_copy(update={"port": mail.port})}
        )
        port = free_port_block(1)
        api_url = f"http://127.0.0.1:{port}"
        env = {
            **service_env(settings, root / "conveyor.yaml"),
            "CONVEYOR_API__PORT": str(port),
            # A crash in a C library (librdkafka) leaves the Python stacks in the log.
            "PYTHONFAULTHANDLER": "1",
        }
        api = Restartable(
            partial(
                conveyor_service,
                ["-v", "api"],
                env,
                root / "api.log",
                partial(http_ok, f"{api_url}/readyz"),
            )
        )
        api.start()
        stack.callback(api.stop)
        processes = [
            Restartable(partial(worker_process, settings, root, f"worker-{n}", n))
            for n in range(1, workers + 1)
        ]
        for process in processes:
            process.start()
            stack.callback(process.stop)
        yield ChaosStack(settings, cluster, mail, api, api_url, processes, root)
