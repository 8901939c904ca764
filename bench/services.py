"""The conveyor processes a benchmark measures: real ``conveyor api`` and ``conveyor
worker`` processes on the benchmark's own topics, group and result store."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from conveyor.config import Settings, StreamDeclaration
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok, service_env
from conveyor.kafka.admin import admin_client
from conveyor.monitoring.groups import has_stable_members
from conveyor.ops.topics import ensure_topics

__all__ = ["api_process", "bench_settings", "bench_stream", "worker_process"]


def bench_stream(settings: Settings, name: str, label: str) -> StreamDeclaration:
    """Stream ``name`` on fresh topics ``bench.<label>.<run>.*`` (created here), without
    back pressure: a benchmark measures the pipeline, not its brakes."""
    stream = settings.streams[name]
    prefix = f"bench.{label}.{uuid.uuid4().hex[:8]}"
    made = stream.model_copy(
        update={
            "topic": f"{prefix}.{name}",
            "max_backlog": 10**12,
            "outputs": {
                out: o.model_copy(update={"topic": f"{prefix}.{out}"})
                for out, o in stream.outputs.items()
            },
        }
    )
    ensure_topics(settings.kafka, [made])
    return made


@contextmanager
def bench_settings(settings: Settings, *streams: StreamDeclaration) -> Iterator[Settings]:
    """``settings`` with only ``streams``, a fresh worker group and result store, and the
    API on a free loopback port with limits no benchmark reaches."""
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        yield settings.model_copy(
            update={
                "streams": {s.name: s for s in streams},
                "api": settings.api.model_copy(
                    update={
                        "host": "127.0.0.1",
                        "port": free_port_block(1),
                        "max_in_flight": 500_000,
                        "max_body_bytes": 16 * 2**20,
                    }
                ),
                "workers": settings.workers.model_copy(
                    update={"group_id": f"bench-{uuid.uuid4().hex[:8]}"}
                ),
                "database_url": f"sqlite:///{tmp}/bench.db",
                "data_dir": Path(tmp),
            }
        )


@contextmanager
def api_process(config: Settings) -> Iterator[tuple[str, int, int]]:
    """``conveyor api`` on ``config`` (from :func:`bench_settings`); yields its address and
    its pid."""
    host, port = config.api.host, config.api.port
    ready = partial(http_ok, f"http://{host}:{port}/readyz")
    with conveyor_service(["api"], _env(config), config.data_dir / "api.log", ready) as proc:
        yield host, port, proc.pid


@contextmanager
def worker_process(config: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """One ``conveyor worker`` on ``config``, ready once it holds the partitions."""
    admin = admin_client(config.kafka)
    ready = partial(has_stable_members, admin, config.workers.group_id, 1)
    with conveyor_service(["worker"], _env(config), config.data_dir / "worker.log", ready) as proc:
        yield proc


def _env(config: Settings) -> dict[str, str]:
    return service_env(config, config.data_dir / "conveyor.yaml")
