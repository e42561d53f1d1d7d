"""X-Forwarded-For through a real `approval-bot serve`: believed only from FORWARDED_ALLOW_IPS.

The ASGI test client never runs uvicorn's proxy-header middleware, so these tests talk
HTTP to the real server process.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from approval_bot.signin_limits import ADDRESS_LIMIT

from .settings_env import environ_without_settings
from .test_serve import STOP_TIMEOUT, free_port, script, wait_for_health

pytestmark = pytest.mark.slow


@contextmanager
def serving(tmp_path: Path, **settings: str) -> Iterator[str]:
    port = free_port()
    env = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(tmp_path / "data" / "approval_bot.sqlite3"),
        **settings,
    }
    process = subprocess.Popen(
        [str(script()), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(process, f"{base}/healthz")
        yield base
    finally:
        process.terminate()
        try:
            process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def guesses_with_rotating_addresses(base: str, count: int) -> list[int]:
    """Wrong sign-ins from this host, each claiming a new X-Forwarded-For address."""
    with httpx.Client(base_url=base, timeout=30.0) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        statuses = []
        for i in range(count):
            response = client.post(
                "/login",
                data={"csrf_token": token, "name": f"guess{i}", "password": "wrong password"},
                headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            )
            statuses.append(response.status_code)
    return statuses


def recorded_addresses(tmp_path: Path) -> set[str]:
    path = tmp_path / "data" / "approval_bot.sqlite3"
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT address FROM signin_attempts")}


def test_by_default_a_rotating_forwarded_header_gets_no_fresh_allowance(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        statuses = guesses_with_rotating_addresses(base, ADDRESS_LIMIT + 1)

    assert statuses == [401] * ADDRESS_LIMIT + [429]
    assert recorded_addresses(tmp_path) == {"127.0.0.1"}


def test_a_trusted_proxys_forwarded_header_names_the_client(tmp_path: Path) -> None:
    with serving(tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1") as base:
        statuses = guesses_with_rotating_addresses(base, ADDRESS_LIMIT + 1)

    assert statuses == [401] * (ADDRESS_LIMIT + 1)
    assert recorded_addresses(tmp_path) == {f"198.51.100.{i + 1}" for i in range(ADDRESS_LIMIT + 1)}


def test_serve_refuses_a_bad_forwarded_allow_ips(tmp_path: Path) -> None:
    env = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(tmp_path / "data" / "approval_bot.sqlite3"),
        "FORWARDED_ALLOW_IPS": "10.0.0.1/8",
    }
    result = subprocess.run(
        [str(script()), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT * 3,
    )
    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS" in result.stderr and "host bits set" in result.stderr
    assert "Traceback" not in result.stderr
