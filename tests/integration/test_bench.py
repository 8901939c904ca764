"""``conveyor bench ingest --json`` measures every figure beside its baseline (not how fast:
speed lives in the benchmark itself, never in a test's pass/fail)."""

from __future__ import annotations

import json
import os

import pytest

from support.cli import conveyor


def test_bench_ingest_prints_one_json_object_with_every_figure_and_ratio(
    bootstrap_servers: str, registry_url: str
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": registry_url,
    }

    result = conveyor(
        "bench",
        "ingest",
        "--events",
        "2000",
        "--requests",
        "1000",
        "--concurrency",
        "8",
        "--json",
        env=env,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    figures = report["ingest"]
    for name in (
        "raw_producer_events_per_s",
        "api_batch_events_per_s",
        "api_single_requests_per_s",
        "api_single_p50_ms",
        "api_single_p99_ms",
    ):
        assert figures[name] > 0, name
    assert figures["batch_ratio"] == pytest.approx(
        figures["api_batch_events_per_s"] / figures["raw_producer_events_per_s"], abs=0.002
    )
    assert len(figures["raw_producer_rounds"]) == len(figures["api_batch_rounds"]) == 3
    assert report["machine"]["cpus"] >= 1
    assert "round 3/3" in result.stderr  # progress is shown as it goes
