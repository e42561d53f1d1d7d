"""A real server process and Debian's Chromium, driven by Playwright, for the browser tests."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from approval_bot.store import Store, opened
from tests.settings_env import environ_without_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 20.0
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`approval-bot serve` on a free port, with a database the test can write to."""

    def __init__(self, tmp_path: Path) -> None:
        self.database = tmp_path / "data" / "approval_bot.sqlite3"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._pool = ThreadPoolExecutor(max_workers=1)
        self.log = tmp_path / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run `fn(db, *args)` on the server's database file, outside Playwright's loop."""

        async def run() -> T:
            async with opened(self.database) as db:
                return await fn(db, *args, **kwargs)

        return self._pool.submit(asyncio.run, run()).result()

    def start(self) -> None:
        env = {
            **environ_without_settings(),
            "APPROVAL_BOT_DATABASE": str(self.database),
            "PUBLIC_BASE_URL": self.url,
        }
        script = Path(sys.executable).parent / "approval-bot"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(script), "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited: {self.log.read_text()}")
            try:
                httpx.get(self.url + "/healthz", timeout=2.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("serve did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._pool.shutdown()


@pytest.fixture
def unstarted_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose database exists but whose process is not running yet.

    For a test that writes history the server's jobs would act on (an approved reply the
    sender would send): it writes first, then calls `start()`, so nothing races it.
    """
    server = Server(tmp_path)
    server.call(_noop)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(unstarted_server: Server) -> Server:
    # the schema exists before the server starts, so the test can add reviewers first
    unstarted_server.start()
    return unstarted_server


async def _noop(db: Store) -> None:
    return None


# module scope: Playwright's sync API keeps an event loop running in this thread until it
# stops, and the async tests of the next modules need the thread free again
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # scripts/test installs Debian's chromium when it is missing; no browser is downloaded
    assert Path(CHROMIUM).exists(), f"the browser tests need {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: `screenshots/` in this run's pytest temporary directory."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Page, server: Server, name: str, password: str) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # an admin lands on the setup checklist until each step is done or skipped
    page.wait_for_url(lambda url: url in (server.url + "/", server.url + "/setup"))
