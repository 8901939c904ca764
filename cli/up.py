"""``conveyor up``: everything local in one command; Ctrl-C or SIGTERM stops it cleanly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.signals import interrupt_on_sigterm, until_interrupted
from conveyor.config import Settings
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.services import http_ok
from conveyor.infra.stack import local_stack, stack_env
from conveyor.infra.supervisor import Service, Supervisor
from conveyor.kafka.admin import admin_client
from conveyor.monitoring.groups import has_stable_members
from conveyor.ops.topics import ensure_topics

__all__ = ["local_mail", "nodes_option", "running_pipeline", "up", "workers_option"]

nodes_option = click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="Kafka nodes to start when KAFKA_BOOTSTRAP_SERVERS is not set.",
)


workers_option = click.option(
    "--workers",
    type=click.IntRange(0, 16),
    default=1,
    show_default=True,
    help="Worker processes to start (they share the streams as one consumer group).",
)


@contextmanager
def running_pipeline(
    config: Settings, data_dir: Path, nodes: int, workers: int = 1
) -> Iterator[tuple[Settings, dict[str, str], Supervisor]]:
    """Kafka, the registry, the topics, a mail server, the API and the workers; yields
    settings pointing at them, the environment another shell would export, and the
    supervisor of the API and workers."""
    with ExitStack() as stack:
        running = stack.enter_context(local_stack(config, data_dir, nodes))
        ensure_topics(running.kafka, running.streams.values())
        api_url = f"http://{config.api.host}:{config.api.port}"
        env = {
            **stack_env(running),
            "CONVEYOR_API_URL": api_url,
            "CONVEYOR_DATABASE_URL": config.database_url
            if "database_url" in config.model_fields_set
            else f"sqlite:///{data_dir.resolve() / 'conveyor.db'}",
        }
        if local_mail(config):
            mail = LocalMailServer(data_dir / "mail", config.smtp.port, config.smtp.host)
            # On the configured address, so the workers find it without being told.
            mail.start()
            stack.callback(mail.stop)
        children = {**os.environ, **env, "CONVEYOR_DATA_DIR": str(data_dir.resolve())}
        services = stack.enter_context(Supervisor(children))
        services.start(
            Service("api", ["api"], data_dir / "api.log", partial(http_ok, f"{api_url}/readyz"))
        )
        admin = admin_client(running.kafka)
        for n in range(1, workers + 1):
            # Ready once it holds partitions: the group is stable with n members.
            joined = partial(has_stable_members, admin, config.workers.group_id, n)
            services.start(Service(f"worker-{n}", ["worker"], data_dir / f"worker-{n}.log", joined))
        yield running.model_copy(update={"api_url": api_url}), env, services


def local_mail(config: Settings) -> bool:
    """Whether ``up`` runs its own loopback mail server: unless an SMTP host is configured
    (a port alone says where the local one listens)."""
    return "host" not in config.smtp.model_fields_set


@click.command()
@nodes_option
@workers_option
@data_dir_option
def up(nodes: str, workers: int, data_dir: Path | None) -> None:
    """Start the local stack (Kafka, registry, topics, mail server, API, workers) and keep
    it up until Ctrl-C: an API or worker that exits is reported and restarted, with a
    growing delay; one that keeps exiting right after it starts stops everything."""
    interrupt_on_sigterm()
    config = settings()
    data_dir = data_dir or config.data_dir
    try:
        with running_pipeline(config, data_dir, int(nodes), workers) as (_, env, services):
            echo_env(env)
            pids = ", ".join(f"{name} pid {pid}" for name, pid in services.pids.items())
            note(f"conveyor is up ({pids}; logs in {data_dir}); Ctrl-C stops it")
            until_interrupted(services.watch)
            note("stopping ...")
    except KeyboardInterrupt:
        note("interrupted; stopped what had started")
