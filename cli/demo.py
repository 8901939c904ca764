"""``conveyor demo``: the whole stack, sample traffic through the API, and what came of it:
job statuses, the enriched orders, the revenue windows, a chart of them drawn by a report
job, and the e-mails received."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.progress import progress
from conveyor.cli.signals import interrupt_on_sigterm, until_interrupted
from conveyor.cli.up import local_mail, nodes_option, running_pipeline, workers_option
from conveyor.client.http import ConveyorClient
from conveyor.client.samples import json_ready, sample_notifications, sample_orders
from conveyor.config import Settings
from conveyor.infra.mail import LocalMailServer
from conveyor.monitoring.topic_reader import read_records
from conveyor.processors.pipeline.notifications import message_id
from conveyor.store import JobStatus, JobStore
from conveyor.store.jobs import FINAL_STATUSES

__all__ = ["demo"]

_SHOWN = 5  # rows of each table: enough to see the shape, short enough to read


@click.command()
@nodes_option
@workers_option
@data_dir_option
@click.option("--orders", type=click.IntRange(1, 100_000), default=500, show_default=True)
@click.option("--notifications", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the stack up afterwards, until Ctrl-C.")
def demo(
    *,
    nodes: str,
    workers: int,
    data_dir: Path | None,
    orders: int,
    notifications: int,
    keep: bool,
) -> None:
    """Bring the stack up, post sample orders and notifications, and show the results."""
    interrupt_on_sigterm()
    config = settings()
    data_dir = data_dir or config.data_dir
    with running_pipeline(config, data_dir, int(nodes), max(workers, 1)) as (
        running,
        env,
        services,
    ):
        echo_env(env)
        seed = uuid.uuid4().int
        traffic = {
            "orders": [json_ready(o) for o in sample_orders(orders, datetime.now(UTC), seed)],
            "notifications": sample_notifications(notifications, seed),
        }
        ids: dict[str, list[str]] = {}
        with ConveyorClient(running.api_url) as client:
            for stream, events in traffic.items():
                ids[stream] = []
                with progress(len(events), f"POST {stream}") as advance:
                    for receipts in client.send(stream, events):
                        ids[stream] += [r["event_id"] for r in receipts]
                        advance(len(receipts))
        store = JobStore(env["CONVEYOR_DATABASE_URL"])
        try:
            statuses = _settled(store, [i for stream in ids.values() for i in stream])
            click.echo(f"\njobs ({sum(statuses.values())}):")
            for status, count in sorted(statuses.items()):
                click.echo(f"  {status:<14} {count:>6}")
            _show_enriched(running, set(ids["orders"]))
            _show_revenue(running, traffic["orders"])
            with ConveyorClient(running.api_url) as client:
                _show_report(client, store)
        finally:
            store.dispose()
        if local_mail(config):
            mail = LocalMailServer(data_dir / "mail", config.smtp.port, config.smtp.host)
            _show_mail(mail, ids["notifications"])
        if keep:
            note("the stack stays up; Ctrl-C stops it")
            until_interrupted(services.watch)


def _settled(store: JobStore, event_ids: list[str], timeout: float = 120.0) -> Counter[str]:
    """The jobs' statuses once all are final (or ``timeout`` passed), with progress."""
    final = {s.value for s in FINAL_STATUSES}
    deadline = time.monotonic() + timeout
    with progress(len(event_ids), "workers settling jobs") as advance:
        done = 0
        while True:
            statuses = store.statuses(event_ids)
            settled = sum(n for s, n in statuses.items() if s in final)
            advance(settled - done)
            done = settled
            if settled == len(event_ids) or time.monotonic() > deadline:
                return statuses
            time.sleep(0.2)


def _show_report(client: ConveyorClient, store: JobStore) -> None:
    """One report request, after the orders settled so that their windows are drawn."""
    receipts = [r for batch in client.send("reports", [{"requester": "demo"}]) for r in batch]
    event_id = receipts[0]["event_id"]
    _settled(store, [event_id])
    job = store.get(event_id)
    click.echo("\nreport (the revenue windows drawn in the worker's process pool):")
    if job is not None and job.status == JobStatus.SUCCEEDED and job.result:
        click.echo(f"  {job.result['path']}  ({job.result['windows']} windows)")
    else:
        outcome = f"{job.status.value}: {job.error}" if job else "no job"
        click.echo(f"  not drawn ({outcome})")


def _show_enriched(config: Settings, posted: set[str]) -> None:
    topic = config.streams["orders"].outputs["enriched"].topic

    def all_found(records: list[dict[str, Any]], quiet: float) -> bool:
        return sum(_ce_id(r) in posted for r in records) >= len(posted) or quiet > 3

    ours = [r for r in read_records(config, topic, all_found) if _ce_id(r) in posted]
    click.echo(f"\n{topic} ({len(ours)} of {len(posted)} orders, read_committed):")
    click.echo(f"  {'event_id':<36}  {'customer':<8} {'region':<6} {'amount':>9} {'size':<6} items")
    for record in ours[-_SHOWN:]:
        v = record["value"]
        click.echo(
            f"  {v['event_id']:<36}  {v['customer_id']:<8} {v['region']:<6} "
            f"{v['amount_cents'] / 100:>9.2f} {v['size']:<6} {v['item_count']}"
        )


def _show_revenue(config: Settings, orders: list[dict[str, Any]]) -> None:
    """The latest total of each window the demo's orders fell in, as a compacted topic's
    reader sees it: the last record per key wins."""
    topic = config.streams["orders"].outputs["revenue"].topic
    latest = {
        r["key"]: r["value"] for r in read_records(config, topic, lambda _r, quiet: quiet > 2)
    }
    starts = {o["placed_at"][:16] for o in orders}  # the minutes the orders fell in
    windows = [v for v in latest.values() if v["window_start"].isoformat()[:16] in starts]
    windows.sort(key=lambda v: (v["window_start"], v["region"]), reverse=True)
    click.echo(f"\n{topic} ({len(windows)} windows; the latest {_SHOWN}):")
    click.echo(f"  {'window':<32} {'orders':>6} {'revenue':>12}")
    for v in windows[:_SHOWN]:
        click.echo(
            f"  {v['window']:<32} {v['orders']:>6} {v['revenue_cents'] / 100:>9.2f} {v['currency']}"
        )


def _show_mail(mail: LocalMailServer, notifications: list[str]) -> None:
    wanted = {message_id(i) for i in notifications}
    received = [m for m in mail.messages() if m["Message-ID"] in wanted]
    click.echo(f"\ne-mails received ({len(received)} of {len(wanted)} notifications):")
    for message in received[:_SHOWN]:
        click.echo(f"  {message['To']:<28} {message['Subject']}")


def _ce_id(record: dict[str, Any]) -> str:
    return bytes(record["headers"].get("ce_id", b"")).decode()
