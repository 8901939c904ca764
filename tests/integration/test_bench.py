"""``conveyor bench ingest|process|priorities|replay|jobs|all --json`` measure every figure beside
its baseline (not how fast: speed lives in the benchmark itself, never in a test's pass/fail)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conveyor.bench.summary import README_BEGIN, README_END
from support.cli import conveyor


@pytest.fixture
def env(bootstrap_servers: str, registry_url: str) -> dict[str, str]:
    """The environment of a ``conveyor bench`` on the session's broker and registry."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": registry_url,
    }


def test_bench_ingest_prints_one_json_object_with_every_figure_and_ratio(
    env: dict[str, str],
) -> None:
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
    assert figures["batch_ratio"] == _quotient(
        figures["api_batch_events_per_s"], figures["raw_producer_events_per_s"]
    )
    assert len(figures["raw_producer_rounds"]) == len(figures["api_batch_rounds"]) == 3
    assert report["machine"]["cpus"] >= 1
    assert "round 3/3" in result.stderr  # progress is shown as it goes


def test_bench_process_prints_the_worker_beside_both_raw_loops_and_every_latency(
    env: dict[str, str],
) -> None:
    result = conveyor(
        "bench",
        "process",
        "--events",
        "2000",
        "--rate",
        "200",
        "--rate",
        "100",
        "--seconds",
        "2",
        "--json",
        env=env,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["process"]
    for name in ("worker_events_per_s", "raw_loop_events_per_s", "raw_txn_loop_events_per_s"):
        assert figures[name] > 0, name
    assert figures["process_ratio"] == _quotient(
        figures["worker_events_per_s"], figures["raw_loop_events_per_s"]
    )
    assert figures["process_txn_ratio"] == _quotient(
        figures["worker_events_per_s"], figures["raw_txn_loop_events_per_s"]
    )
    assert (figures["latency_rate_per_s"], figures["latency_events"]) == (200, 400)
    _check_end_to_end(figures, rates=[200, 100], seconds=2)
    assert "conveyor worker: " in result.stderr  # progress is shown as it goes


def _check_end_to_end(figures: dict[str, Any], rates: list[int], seconds: int) -> None:
    """Each side's percentiles at the headline rate, their ratios, the followed jobs, and
    one point a rate in the sweep, the headline's the same as the headline figures."""
    for side in ("e2e", "raw_e2e", "raw_txn_e2e", "status"):
        assert 0 < figures[f"{side}_p50_ms"] <= figures[f"{side}_p99_ms"], side
    for name in ("p50", "p99"):
        for raw, ratio in (("raw_e2e", f"{name}_ratio"), ("raw_txn_e2e", f"{name}_txn_ratio")):
            assert figures[ratio] == _quotient(
                figures[f"e2e_{name}_ms"], figures[f"{raw}_{name}_ms"], places=1
            )
    every = figures["status_follow_every"]
    assert figures["status_events"] == -(-figures["latency_events"] // every)
    assert figures["status_poll_ms"] > 0
    sweep = figures["sweep"]
    assert [(p["rate_per_s"], p["events"]) for p in sweep] == [(r, r * seconds) for r in rates]
    for point in sweep:
        for side in ("e2e", "raw_e2e", "raw_txn_e2e"):
            assert point[side]["sent_per_s"] > 0
            assert 0 < point[side]["p50_ms"] <= point[side]["p99_ms"]
    (headline,) = (p for p in sweep if p["rate_per_s"] == figures["latency_rate_per_s"])
    for side in ("e2e", "raw_e2e", "raw_txn_e2e"):
        assert headline[side]["p50_ms"] == figures[f"{side}_p50_ms"]
        assert headline[side]["p99_ms"] == figures[f"{side}_p99_ms"]


def test_bench_priorities_prints_high_and_low_waits_with_their_ratios(
    env: dict[str, str],
) -> None:
    result = conveyor(
        "bench", "priorities", "--backlog", "2000", "--high", "100", "--json", env=env, timeout=300
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["priorities"]
    assert (figures["backlog"], figures["high_events"]) == (2_000, 100)
    _check_priorities(figures)
    assert "priorities: " in result.stderr  # progress is shown as it goes


def _check_priorities(figures: dict[str, Any]) -> None:
    for name in ("high_p50_ms", "high_p99_ms", "low_p50_ms", "low_p99_ms"):
        assert figures[name] > 0, name
    for name in ("p50", "p99"):
        assert figures[f"{name}_ratio"] == _quotient(
            figures[f"high_{name}_ms"], figures[f"low_{name}_ms"], places=1
        )


def test_bench_replay_prints_the_republish_beside_the_raw_copy_loop_with_their_ratio(
    env: dict[str, str],
) -> None:
    result = conveyor(
        "bench", "replay", "--records", "5000", "--rounds", "2", "--json", env=env, timeout=300
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["replay"]
    assert (figures["records"], figures["mapping"], figures["rounds"]) == (5_000, "partition", 2)
    for name in ("conveyor_records_per_s", "raw_records_per_s", "conveyor_seconds", "raw_seconds"):
        assert figures[name] > 0, name
    assert figures["replay_ratio"] == _quotient(
        figures["conveyor_records_per_s"], figures["raw_records_per_s"]
    )
    assert len(figures["conveyor_rounds"]) == len(figures["raw_rounds"]) == 2
    assert "round 2/2: conveyor re-publishing" in result.stderr  # progress is shown as it goes


def test_bench_jobs_prints_calls_beside_the_ideal_and_one_at_a_time_and_the_pool_beside_the_loop(
    env: dict[str, str], tmp_path: Path
) -> None:
    plot = tmp_path / "jobs.png"

    result = conveyor(
        "bench",
        "jobs",
        "--jobs",
        "200",
        "--concurrency",
        "20",
        "--serial-jobs",
        "5",
        "--delay-ms",
        "20",
        "--cpu-jobs",
        "4",
        "--cpu-ms",
        "10",
        "--rounds",
        "2",
        "--plot",
        str(plot),
        "--json",
        env=env,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["jobs"]
    assert (figures["jobs"], figures["concurrency"], figures["delay_ms"]) == (200, 20, 20)
    assert (figures["serial_jobs"], figures["cpu_jobs"], figures["cpu_job_ms"]) == (5, 4, 10)
    assert len(figures["pool_rounds"]) == len(figures["loop_rounds"]) == figures["rounds"] == 2
    _check_jobs(figures)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "jobs (serial): 5 jobs" in result.stderr  # progress is shown as it goes


def test_bench_wait_prints_waiting_callers_beside_polling_ones(
    env: dict[str, str],
) -> None:
    result = conveyor(
        "bench",
        "wait",
        "--callers",
        "200",
        "--rate",
        "100",
        "--job-ms",
        "300",
        "--json",
        env=env,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["wait"]
    assert (figures["callers"], figures["rate"], figures["job_ms"]) == (200, 100, 300)
    _check_wait(figures)
    assert "200 callers at 100/s, each polling every 100 ms" in result.stderr


def _check_wait(figures: dict[str, Any]) -> None:
    """Each waiting caller asked once; the polling ones at least once; every figure."""
    assert figures["wait_requests"] == figures["callers"]
    assert figures["poll_requests"] >= figures["callers"]
    for side in ("wait", "poll"):
        assert 0 <= figures[f"{side}_p50_ms"] <= figures[f"{side}_p99_ms"], side
        assert figures[f"{side}_api_cpu_s"] > 0, side
    assert figures["cpu_ratio"] == _quotient(
        figures["wait_api_cpu_s"], figures["poll_api_cpu_s"], places=2
    )


def _check_jobs(figures: dict[str, Any]) -> None:
    """Every rate measured, the ideal from the concurrency and the delay, and the ratios."""
    for name in (
        "concurrent_jobs_per_s",
        "serial_jobs_per_s",
        "pool_jobs_per_s",
        "loop_jobs_per_s",
    ):
        assert figures[name] > 0, name
    assert figures["ideal_jobs_per_s"] == figures["concurrency"] * 1000 / figures["delay_ms"]
    assert figures["cpu_rounds"] > 0
    assert figures["pool_processes"] >= 1
    concurrent = figures["concurrent_jobs_per_s"]
    assert figures["ideal_ratio"] == _quotient(concurrent, figures["ideal_jobs_per_s"], places=1)
    assert figures["serial_ratio"] == _quotient(concurrent, figures["serial_jobs_per_s"], places=1)
    assert figures["pool_ratio"] == _quotient(
        figures["pool_jobs_per_s"], figures["loop_jobs_per_s"], places=2
    )


def test_bench_all_writes_every_figure_as_json_a_markdown_table_and_plots_and_the_readme(
    env: dict[str, str], tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\n{README_BEGIN}\nold figures\n{README_END}\n\n## After\n")
    out = tmp_path / "docs" / "bench"

    result = conveyor(
        "bench",
        "all",
        "--scale",
        "0.05",
        "--rounds",
        "1",
        "--rate",
        "200",
        "--out",
        str(out),
        "--readme",
        str(readme),
        "--json",
        env=env,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads((out / "bench.json").read_text())
    ingest, process, e2e, priorities, replay = (
        report[name] for name in ("ingest", "process", "end_to_end", "priorities", "replay")
    )
    assert (ingest["events"], process["events"], replay["records"]) == (1_500, 1_000, 10_000)
    assert (priorities["backlog"], priorities["high_events"]) == (1_000, 100)
    _check_priorities(priorities)
    dashboard = report["dashboard"]
    assert (dashboard["jobs"], dashboard["searches"]) == (5_000, 6 * 200)
    jobs = report["jobs"]
    assert (jobs["jobs"], jobs["serial_jobs"], jobs["cpu_jobs"], jobs["rounds"]) == (250, 20, 10, 1)
    _check_jobs(jobs)
    wait = report["wait"]
    assert wait["callers"] == 500
    _check_wait(wait)
    assert 0 < dashboard["search_p50_ms"] <= dashboard["search_p99_ms"]
    assert ingest["batch_ratio"] == _quotient(
        ingest["api_batch_events_per_s"], ingest["raw_producer_events_per_s"]
    )
    assert process["process_ratio"] == _quotient(
        process["worker_events_per_s"], process["raw_loop_events_per_s"]
    )
    assert process["process_txn_ratio"] == _quotient(
        process["worker_events_per_s"], process["raw_txn_loop_events_per_s"]
    )
    assert e2e["latency_events"] == 200
    _check_end_to_end(e2e, rates=[100, 200, 1_000, 5_000], seconds=1)
    latency = report["latency_ms"]
    for side in ("e2e", "raw_e2e", "raw_txn_e2e"):
        assert latency[side]["count"] == 200, side
    assert latency["status"]["count"] == e2e["status_events"]
    assert latency["api_single"]["count"] == 500
    assert (latency["priority_high"]["count"], latency["priority_low"]["count"]) == (100, 1_000)
    assert (latency["wait_answer"]["count"], latency["poll_answer"]["count"]) == (500, 500)
    for distribution in latency.values():
        assert 0 < distribution["p50"] <= distribution["p99"] <= distribution["max"]
    assert report["machine"]["cpus"] >= 1
    assert report["machine"]["kafka"]

    table = (out / "bench.md").read_text()
    for figure in (
        f"{ingest['api_batch_events_per_s']:,}",
        f"{process['worker_events_per_s']:,}",
        f"{e2e['e2e_p99_ms']}",
        f"{e2e['raw_txn_e2e_p99_ms']}",
        f"{e2e['status_p50_ms']} / {e2e['status_p99_ms']}",
        f"{priorities['high_p99_ms']}",
        f"{replay['conveyor_records_per_s']:,}",
        f"{jobs['concurrent_jobs_per_s']:,.1f}",
        f"{wait['wait_p50_ms']:,.1f} / {wait['wait_p99_ms']:,.1f}",
    ):
        assert figure in table
    assert "| benchmark | figure | conveyor | raw baseline | ratio |" in table
    for plot in ("throughput.png", "latency.png", "load.png", "jobs.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / plot).stat().st_size > 20_000  # drawn, not an empty canvas

    rewritten = readme.read_text()
    assert "old figures" not in rewritten
    assert rewritten.startswith(f"# Benchmarks\n\n{README_BEGIN}\n")
    assert rewritten.endswith(f"{README_END}\n\n## After\n")
    assert "(docs/bench/throughput.png)" in rewritten
    assert "| benchmark | figure | conveyor | raw baseline | ratio |" in rewritten
    assert "(docs/bench/load.png)" in rewritten
    assert "(docs/bench/jobs.png)" in rewritten
    assert "[5/8] replay" in result.stderr  # progress is shown as it goes
    assert "[6/8] dashboard" in result.stderr
    assert "[7/8] jobs" in result.stderr
    assert "[8/8] wait" in result.stderr


def _quotient(numerator: float, denominator: float, places: int = 0) -> object:
    """``numerator / denominator``, within what rounding both to ``places`` and the
    quotient to three places can move it (a ratio far from 1 moves by more than 0.001)."""
    quotient = numerator / denominator
    half = 0.5 / 10**places
    return pytest.approx(quotient, abs=quotient * (half / numerator + half / denominator) + 5e-4)
