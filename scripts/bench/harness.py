"""The benchmark's moving parts: loopback servers, wrk, signed webhook pools, RSS, percentiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
BUSINESS = "+14155550199"
WEBHOOK_PATH = "/webhooks/twilio/sms"
TEXTS = (
    "Hi, are you open on Saturday?",
    "How much would a cleaning be next week? I can do mornings.",
    "Can I move my appointment to Thursday afternoon please",
    "Do you take walk-ins or do I need to book ahead?",
    "Running 10 min late, sorry! 🚗",
    "Is there parking near the shop?",
)

SERVE_BASELINE = """
import sys, uvicorn
sys.path.insert(0, {bench!r})
from baseline_app import app
uvicorn.run(app(), host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with closing(socket.create_connection(("127.0.0.1", port), timeout=0.2)):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(
                    f"the server on port {port} exited ({process.returncode})"
                ) from None
            if time.monotonic() > deadline:
                raise SystemExit(f"the server on port {port} did not start") from None
            time.sleep(0.05)


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's package (apt-get install -y wrk)", file=sys.stderr)
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit("this benchmark needs wrk: install it with `apt-get install wrk`")
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("this benchmark needs wrk: install it with `apt-get install wrk`")
    return found


class FakeTwilio:
    """tests/fake_twilio.py in its own process, answering each request after `latency` s."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_twilio", "--latency", str(latency)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise SystemExit("the fake Twilio did not start")

    def accepted(self) -> list[dict[str, Any]]:
        """Every message the fake accepted, each with `sid`, `to` and `accepted_at` (monotonic)."""
        with urllib.request.urlopen(self.url + "/_fake/accepted") as answer:
            accepted: list[dict[str, Any]] = json.load(answer)["accepted"]
        return accepted

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@dataclass
class App:
    """`approval-bot serve` on a database, its Twilio settings pointed at the fake."""

    database: Path
    fake: FakeTwilio
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    rss: RssSampler | None = None
    # DATABASE_URL: a PostgreSQL database instead of the SQLite file (which then holds
    # nothing; the secret key file beside it is shared by the instances of one database)
    database_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        sys.path.insert(0, str(ROOT))
        from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "APPROVAL_BOT_DATABASE": str(self.database),
            "PUBLIC_BASE_URL": self.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TWILIO_API_BASE_URL": self.fake.url,
            "DRAFTER": "builtin",
            "LOG_FORMAT": "text",
            **({"DATABASE_URL": self.database_url} if self.database_url else {}),
        }

    @property
    def auth_token(self) -> str:
        return self.env()["TWILIO_AUTH_TOKEN"]

    def cli(self, *args: str) -> str:
        command = [str(Path(sys.executable).parent / "approval-bot"), *args]
        done = subprocess.run(command, env=self.env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"approval-bot {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def api_token(self, name: str) -> str:
        """A new API token for the admin, through the CLI (the server must be stopped)."""
        out = self.cli("token", "create", name, "--reviewer", "admin")
        return out.strip().splitlines()[-1].strip()

    def start(self) -> None:
        # with credentials the gate starts pending: open it as an admin would
        self.cli("sending", "approve", "--reason", "benchmark against the fake Twilio")
        command = [str(Path(sys.executable).parent / "approval-bot"), "serve"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.process)
        self.rss = RssSampler(self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            if self.rss is not None:
                self.rss.stop()
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None


@contextmanager
def baseline(database: Path) -> Iterator[str]:
    """The one-insert Starlette endpoint under uvicorn; yields its URL."""
    port = free_port()
    code = SERVE_BASELINE.format(bench=str(BENCH), port=port)
    env = {**os.environ, "BASELINE_DATABASE": str(database)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    try:
        wait_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


class RssSampler:
    """Samples a process's VmRSS every 0.2 s; reads VmHWM (the kernel's own peak) at the end."""

    def __init__(self, pid: int) -> None:
        self.pid, self.max_rss_kb, self.hwm_kb = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for name, attr in (("VmRSS", "max_rss_kb"), ("VmHWM", "hwm_kb")):
            match = re.search(rf"{name}:\s+(\d+) kB", status)
            if match:
                setattr(self, attr, max(getattr(self, attr), int(match.group(1))))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._read()

    def stop(self) -> None:
        self._read()
        self._stop.set()
        self._thread.join()

    def peak_mb(self) -> float:
        return round(max(self.max_rss_kb, self.hwm_kb) / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, all threads) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_customer(i: int) -> str:
    """The i-th customer who has never texted before (outside seed.py's numbers)."""
    areas = ("415", "650", "510", "408", "707", "925", "916", "209", "559", "661")
    return f"+1{areas[i % len(areas)]}{8000000 + i // len(areas):07d}"


def webhook_params(customer: str, body: str) -> dict[str, str]:
    """What Twilio posts for an incoming SMS (its documented parameters), with a new sid."""
    sid = "SM" + uuid.uuid4().hex
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": BUSINESS,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "From": customer,
        "ApiVersion": "2010-04-01",
    }


def signed(validator: RequestValidator, url: str, params: dict[str, str]) -> tuple[str, str]:
    """(X-Twilio-Signature, body) as Twilio would send them to `url`."""
    return str(validator.compute_signature(url, params)), urlencode(params)


def write_pool(path: Path, app_url: str, auth_token: str, size: int, customers: list[str]) -> None:
    """`size` signed webhooks, one per line, from `customers` in turn, each with its own sid."""
    texts = (
        webhook_params(customers[i % len(customers)], TEXTS[i % len(TEXTS)]) for i in range(size)
    )
    write_signed(path, app_url, auth_token, texts)


def write_signed(
    path: Path, app_url: str, auth_token: str, texts: Iterable[dict[str, str]]
) -> None:
    """Each webhook of `texts`, signed for `app_url`, one per line (webhooks*.lua read them)."""
    validator = RequestValidator(auth_token)
    with path.open("w") as out:
        for params in texts:
            signature, body = signed(validator, app_url + WEBHOOK_PATH, params)
            out.write(f"{signature}\t{body}\n")


def start_wrk_once(url: str, pool: Path, connections: int) -> subprocess.Popen[str]:
    """wrk with webhooks_once.lua: posts each webhook of `pool` once, then idles; stop it
    with `stop_wrk` once the app has stored them."""
    threads = min(2, connections)
    command = [ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", "3600s",
               "--timeout", "30s", "-s", str(BENCH / "webhooks_once.lua"), url,
               "--", str(pool), WEBHOOK_PATH, str(threads)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_wrk(wrk: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop a `start_wrk_once` run (SIGINT: wrk prints its totals); its WRK_JSON totals."""
    wrk.send_signal(signal.SIGINT)
    out, err = wrk.communicate(timeout=60)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {err.strip() or out.strip()}")
    totals: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    return totals


def run_wrk(url: str, path: str, pool: Path, seconds: float, connections: int) -> dict[str, Any]:
    """wrk with webhooks.lua: closed loop, `connections` open, 2 threads; its totals."""
    threads = min(2, connections)
    command = [
        ensure_wrk(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(BENCH / "webhooks.lua"),
        url,
        "--",
        str(pool),
        path,
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    seconds_taken = result["duration_us"] / 1e6
    result["per_s"] = round(result["requests"] / seconds_taken, 1)
    return result


def percentiles(values: list[float], *ps: int) -> dict[str, float | None]:
    """Nearest-rank percentiles; None where the rank falls on an unfinished (inf) value."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for p in ps:
        if not ordered:
            out[f"p{p}"] = None
            continue
        value = ordered[min(len(ordered) - 1, max(0, -(-p * len(ordered) // 100) - 1))]
        out[f"p{p}"] = None if value == float("inf") else round(value, 1)
    return out
