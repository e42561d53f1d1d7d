"""`approval-bot serve` as a real process on loopback, with a prober timing `/healthz`.

TestClient runs requests one at a time, so it cannot show one request holding up another;
a real uvicorn process can. The prober is a thread that asks `/healthz` every 50 ms and
keeps how long each answer took.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from approval_bot import accounts
from approval_bot.store import opened
from tests.builders import BUSINESS, approve_sending, make_reviewer
from tests.fake_twilio import FakeTwilio
from tests.settings_env import environ_without_settings
from tests.test_serve import free_port, script, wait_for_health

PUBLIC = "https://bot.example.com"
REVIEWER_PHONE = "+14155550111"
PROBE_EVERY = 0.05  # seconds between the starts of two probes
FORM = "application/x-www-form-urlencoded"


@dataclass
class Prober:
    """Asks `/healthz` every PROBE_EVERY seconds until stopped; keeps each answer's time."""

    url: str
    timings: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        with httpx.Client(timeout=120.0) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError as error:
                    status, reason = 0, f"{type(error).__name__}: {error}"
                else:
                    reason = f"HTTP {status}"
                elapsed = time.perf_counter() - started
                self.timings.append(elapsed)
                if status != 200:
                    self.failures.append(reason)
                self._stop.wait(max(PROBE_EVERY - elapsed, 0.0))

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=180)

    @property
    def slowest(self) -> float:
        return max(self.timings, default=0.0)


def logged_exceptions(log: Path) -> list[str]:
    """The type of each exception a server's log shows a traceback for, in order."""
    lines = log.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            last = next(
                (later for later in lines[index + 1 :] if not later.startswith((" ", "\t"))),
                "",
            )
            found.append(last.split(":")[0])
    return found


def post_signed(
    client: httpx.Client, auth_token: str, path: str, params: dict[str, str]
) -> httpx.Response:
    """POST `params` to a webhook on PUBLIC, signed as Twilio signs them."""
    signature = RequestValidator(auth_token).compute_signature(PUBLIC + path, params)
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": FORM, "X-Twilio-Signature": signature},
    )


@dataclass
class Live:
    """The running server: its address, its database file and its Twilio credentials."""

    base: str
    database: Path
    auth_token: str
    account_sid: str
    api_token: str
    client: httpx.Client
    log: Path

    def exceptions(self) -> list[str]:
        """The type of each exception the server logged a traceback for, in order."""
        return logged_exceptions(self.log)

    def signed(self, path: str, params: dict[str, str]) -> httpx.Response:
        """POST `params` to a webhook, signed as Twilio signs them."""
        return post_signed(self.client, self.auth_token, path, params)


async def _seed(database: Path) -> str:
    async with opened(database) as db:
        await approve_sending(db)  # with credentials the gate starts pending
        await make_reviewer(db, "Ana", phone=REVIEWER_PHONE)
        return await accounts.create_token(db, "prober", "Ana")


def twilio_environ(fake: FakeTwilio) -> dict[str, str]:
    """The settings that point a server at `fake` and sign webhooks for PUBLIC."""
    return {
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": BUSINESS,
        "TWILIO_API_BASE_URL": fake.url,
        "SEND_POLL_SECONDS": "0.5",
    }


def start_serving(
    environ: dict[str, str], port: int, cwd: Path, log_path: Path, timeout: float = 20.0
) -> subprocess.Popen[str]:
    """`approval-bot serve --port PORT` with `environ`, answering `/healthz` when it returns.

    Its log goes to `log_path` (appended to: a restart keeps the first run's lines), not to
    a pipe nobody reads, which would fill up and stall the server.
    """
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [str(script()), "serve", "--port", str(port)],
            cwd=cwd,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for_health(process, f"http://127.0.0.1:{port}/healthz", timeout)
    except BaseException:
        stop_serving(process)
        raise
    return process


def stop_serving(process: subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL when it has not stopped within `timeout` s; reaps it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def live_server(tmp_path: Path, fake: FakeTwilio) -> Iterator[Live]:
    """A migrated database with a reviewer who takes texts, and the app serving it.

    Its log goes to a file, `Live.log`; `Live.exceptions()` names what it logged a
    traceback for.
    """
    database = tmp_path / "data" / "approval_bot.sqlite3"
    api_token = asyncio.run(_seed(database))
    port = free_port()
    environ = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(database),
        **twilio_environ(fake),
    }
    log_path = tmp_path / "serve.log"
    process = start_serving(environ, port, tmp_path, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120.0) as client:
            yield Live(
                base, database, fake.auth_token, fake.account_sid, api_token, client, log_path
            )
    finally:
        stop_serving(process)
