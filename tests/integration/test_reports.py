"""The reference slow job: a report request draws the revenue windows as a PNG file, in
the worker's process pool, where ``reports.directory`` says."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from support.events import orders_json
from support.waiting import wait_for
from support.workers import Pipeline


def _final(pipeline: Pipeline, event_id: str) -> dict[str, object]:
    def job() -> dict[str, object] | None:
        found: dict[str, object] = pipeline.api.get(f"/v1/jobs/{event_id}").json()
        return None if found["status"] in {"queued", "processing"} else found

    return wait_for(job, timeout=90, what=f"job {event_id} final")


def test_a_report_request_draws_the_revenue_windows_as_a_png_where_settings_say(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
) -> None:
    with make_pipeline() as pipeline:
        orders = pipeline.api.post("/v1/streams/orders/events", json=orders_json(200, seed=7))
        assert orders.status_code == 202, orders.text
        for receipt in orders.json()["events"]:
            assert _final(pipeline, receipt["event_id"])["status"] == "succeeded"
        posted = pipeline.api.post("/v1/streams/reports/events", json={"requester": "test"})
        assert posted.status_code == 202, posted.text
        job = _final(pipeline, posted.json()["event_id"])

        assert job["status"] == "succeeded", job["error"]
        result = job["result"]
        assert isinstance(result, dict)
        path = Path(result["path"])
        assert path.parent == pipeline.settings.data_dir / "reports"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert result["windows"] > 0
