"""The dashboard in a real browser (Debian's Chromium): an operator logs in, finds a job
by id and watches it succeed, cancels a queued job and sees it stay cancelled, finds both
by their key with a link to each one's trace, redrives a dead letter and sees it succeed;
a key without the operator scope sees the same pages and is refused the redrive."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conveyor.api import create_app
from conveyor.config import ApiKey, Settings
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.processes import free_port_block
from support.browser import chromium, serving
from support.mail import FlakyMailbox
from support.waiting import wait_for
from support.workers import running_workers

OPERATOR_KEY = "operator-key-for-the-dashboard-test"
READER_KEY = "reader-key-for-the-dashboard-test"
PAGES = ("", "/jobs", "/dead-letters", "/lag", "/schedules")
TRACE_URL = "http://127.0.0.1:16686/trace/{trace_id}"
# Long enough for a worker to start and settle a job, polled by Playwright.
SETTLED = 120_000


def _key(name: str, key: str, *, operator: bool) -> ApiKey:
    return ApiKey(name=name, sha256=hashlib.sha256(key.encode()).hexdigest(), operator=operator)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def dashboard_settings(stack_settings: Callable[..., Settings]) -> Settings:
    keys = (_key("ops", OPERATOR_KEY, operator=True), _key("shop", READER_KEY, operator=False))
    settings = stack_settings(api={"keys": keys})
    telemetry = settings.telemetry.model_copy(update={"trace_url": TRACE_URL})
    return settings.model_copy(update={"telemetry": telemetry})


def _log_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/ui")
    expect(page.locator("h1")).to_have_text("Log in")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


def _post(url: str, stream: str, event: dict[str, object]) -> str:
    response = httpx.post(
        f"{url}/v1/streams/{stream}/events",
        json=event,
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["event_id"])


def _page_found(page: Page, url: str) -> bool:
    response = page.goto(url)
    return response is not None and response.status == 200


def _page_shows(page: Page, url: str, selector: str) -> bool:
    page.goto(url)
    return page.locator(selector).count() > 0


def _status(url: str, event_id: str) -> str | None:
    response = httpx.get(
        f"{url}/v1/jobs/{event_id}", headers={"Authorization": f"Bearer {OPERATOR_KEY}"}
    )
    return str(response.json()["status"]) if response.status_code == 200 else None


def test_an_operator_finds_a_job_watches_it_succeed_cancels_one_and_redrives_a_dead_letter(
    browser: Browser,
    dashboard_settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    FlakyMailbox.broken = True
    mail = LocalMailServer(tmp_path / "mail", free_port_block(1), handler=FlakyMailbox)
    mail.start()
    settings = dashboard_settings.model_copy(
        update={"smtp": dashboard_settings.smtp.model_copy(update={"port": mail.port})}
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        with serving(create_app(settings)) as url:
            _log_in(page, url, OPERATOR_KEY)
            order = _post(
                url,
                "orders",
                {
                    "order_id": "o-1",
                    "customer_id": "c-1",
                    "region": "eu",
                    "amount_cents": 1999,
                    "placed_at": "2026-11-22T10:00:00Z",
                },
            )

            # Found by id while no worker runs: queued.
            page.goto(f"{url}/ui/jobs")
            page.fill("input[name=event_id]", order)
            page.click("#search button[type=submit]")
            page.click(f"a.job:text-is('{order}')")
            status = page.locator("#status")
            expect(status).to_have_text("queued")

            # Another order, cancelled from its page while no worker runs.
            dropped = _post(
                url,
                "orders",
                {
                    "order_id": "o-2",
                    "customer_id": "c-1",
                    "region": "eu",
                    "amount_cents": 1999,
                    "placed_at": "2026-11-22T10:00:00Z",
                },
            )
            # The page reads the store, where the API writes its queued row a moment later.
            wait_for(lambda: _page_found(page, f"{url}/ui/jobs/{dropped}"), what=dropped)
            page.click("button:text-is('Cancel')")
            expect(page.locator("#status")).to_have_text("cancelled")

            # Both orders by their customer, the key; each page links to its trace.
            page.click("a:text-is('c-1')")
            expect(page.locator("a.job")).to_have_text([dropped, order])
            trace = page.locator("#trace")
            page.click(f"a.job:text-is('{dropped}')")
            expect(trace).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
            expect(trace).to_have_attribute(
                "href", TRACE_URL.replace("{trace_id}", trace.inner_text())
            )
            page.goto(f"{url}/ui/jobs/{order}")

            with running_workers(settings, tmp_path):
                # The page refreshes itself: no reload.
                expect(status).to_have_text("succeeded", timeout=SETTLED)
                assert _status(url, dropped) == "cancelled"  # after the order before it

                note = _post(
                    url,
                    "notifications",
                    {"recipient": "ops@example.test", "subject": "hello", "body": "b"},
                )
                # The API writes a queued row a moment after its 202; the page reads the store.
                wait_for(lambda: _status(url, note) == "dead_lettered", timeout=120, what=note)
                page.goto(f"{url}/ui/jobs/{note}")
                expect(page.locator("#status")).to_have_text("dead_lettered")

                FlakyMailbox.broken = False
                # The relay publishes the dead letter a moment after the job's status moved.
                letter = f"input[name=event_id][value='{note}']"
                wait_for(lambda: _page_shows(page, f"{url}/ui/dead-letters", letter), what=letter)
                page.check(letter)
                page.click("button:text-is('Redrive selected')")
                expect(page.locator("#redriven")).to_contain_text("1 dead letter, 1 job queued")
                page.goto(f"{url}/ui/jobs/{note}")
                expect(page.locator("#status")).to_have_text("succeeded", timeout=SETTLED)
                assert len(mail.messages()) == 1

                shots = request.config.getoption("--screenshots")
                for path in PAGES if shots else ():
                    page.goto(f"{url}/ui{path}")
                    page.wait_for_load_state("networkidle")
                    name = path.strip("/") or "overview"
                    page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
                if shots:
                    page.goto(f"{url}/ui/jobs/{note}")
                    page.screenshot(path=str(Path(shots) / "job.png"), full_page=True)
    finally:
        page.close()
        mail.stop()


def test_a_key_without_the_operator_scope_reads_the_pages_and_is_refused_a_redrive(
    browser: Browser, dashboard_settings: Settings
) -> None:
    page = browser.new_page()
    try:
        with serving(create_app(dashboard_settings)) as url:
            page.goto(f"{url}/ui/jobs")
            expect(page.locator("h1")).to_have_text("Log in")
            page.fill("input[name=key]", "not-a-key")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Log in")
            expect(page.locator(".refused")).to_contain_text("key")

            _log_in(page, url, READER_KEY)
            expect(page.locator("header .who")).to_have_text("shop · read-only")
            page.goto(f"{url}/ui/dead-letters")
            expect(page.locator("h1")).to_have_text("Dead letters")
            expect(page.locator("button:has-text('Redrive')")).to_have_count(0)
            refused = page.request.post(
                f"{url}/ui/dead-letters/notifications/redrive",
                form={"error": "RefusedError"},
                headers={"HX-Request": "true"},
            )
            assert refused.status == 403
            assert "no operator scope" in refused.json()["detail"]
    finally:
        page.close()
