"""Debian's Chromium driven by Playwright, and the API served over real HTTP for it.

Playwright's own browser download cannot reach its servers here, so it launches the
system's ``chromium`` (``make install`` installs the Debian package where it is missing).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

from conveyor.infra.processes import free_port_block
from support.ci import unavailable
from support.waiting import wait_for

CHROMIUM_NAMES = ("chromium", "chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if executable is None:
        unavailable("no chromium on PATH: `make install` installs Debian's chromium package")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a free loopback port, in a thread, for as long as the block runs; its URL."""
    port = free_port_block(1)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="dashboard-api", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=60, what="the API")
        assert server.started, "the API did not start (its log is above)"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
