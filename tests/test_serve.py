"""`approval-bot serve` as a real process: it starts, answers, and stops cleanly on a signal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .settings_env import environ_without_settings

pytestmark = pytest.mark.slow

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def script() -> Path:
    return Path(sys.executable).parent / "approval-bot"


def wait_for_health(
    process: subprocess.Popen[str], url: str, timeout: float = START_TIMEOUT
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"serve exited early with {process.returncode}: {err}")
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"serve did not answer {url} within {timeout:g} s")


def serve(tmp_path: Path, database: Path, port: int, **env: str) -> subprocess.Popen[str]:
    """`approval-bot serve` on `database` at `port`, its output piped; `env` adds settings."""
    return subprocess.Popen(
        [str(script()), "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**environ_without_settings(), "APPROVAL_BOT_DATABASE": str(database), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# uvicorn shuts down gracefully on either signal, then re-raises it with the handler it
# replaced: Python's SIGINT handler ends in KeyboardInterrupt, which uvicorn.run swallows
# (exit 0); SIGTERM's default action ends the process by that signal, as supervisors expect.
@pytest.mark.parametrize(
    ("stop_with", "exit_code", "log_format"),
    [(signal.SIGINT, 0, "json"), (signal.SIGTERM, -signal.SIGTERM, "text")],
    ids=["SIGINT-json-logs", "SIGTERM-text-logs"],
)
def test_serve_answers_and_stops_cleanly(
    tmp_path: Path, stop_with: signal.Signals, exit_code: int, log_format: str
) -> None:
    port = free_port()
    database = tmp_path / "data" / "approval_bot.sqlite3"
    process = serve(tmp_path, database, port, LOG_FORMAT=log_format)
    try:
        response = wait_for_health(process, f"http://127.0.0.1:{port}/healthz")

        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        assert response.json()["sandbox"] is True

        process.send_signal(stop_with)
        out, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == exit_code, err
    assert "sandbox" in out
    assert "Application shutdown complete" in err
    assert "Traceback" not in err
    if log_format == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert {"method": "GET", "path": "/healthz", "status": 200} in [
            {k: line.get(k) for k in ("method", "path", "status")} for line in lines
        ]
    else:
        assert "method=GET path=/healthz status=200" in err
    # the lifespan closed the database: the last connection out removes the WAL file
    assert database.exists()
    assert not database.with_name(database.name + "-wal").exists()


def test_a_second_serve_on_the_same_sqlite_file_is_refused_until_the_first_ends(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "approval_bot.sqlite3"
    first_port, second_port = free_port(), free_port()
    first = serve(tmp_path, database, first_port)
    try:
        wait_for_health(first, f"http://127.0.0.1:{first_port}/healthz")

        second = serve(tmp_path, database, second_port)
        _, err = second.communicate(timeout=START_TIMEOUT)

        # README: "Keep one `approval-bot serve` per SQLite file"
        assert second.returncode == 1
        assert err.startswith("approval-bot: error: another approval-bot serve ")
        assert f"pid {first.pid}" in err and "PostgreSQL" in err
        assert len(err.splitlines()) == 1
        assert httpx.get(f"http://127.0.0.1:{first_port}/healthz").status_code == 200

        first.kill()  # the way a crash ends it: the lock goes with the process
        first.communicate(timeout=STOP_TIMEOUT)
        third = serve(tmp_path, database, second_port)
        try:
            response = wait_for_health(third, f"http://127.0.0.1:{second_port}/healthz")
            assert response.status_code == 200
        finally:
            third.terminate()
            third.communicate(timeout=STOP_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
