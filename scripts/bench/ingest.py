#!/usr/bin/env python3
"""Ingest benchmark: signed SMS webhooks into the real app vs a one-insert Starlette baseline.

Starts each under uvicorn on loopback (a fresh database each), sends N signed webhooks with
C in flight, waits for the drafts, and prints JSON. Run from the repository root:

    .venv/bin/python scripts/bench/ingest.py [--n 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import phonenumbers
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
BUSINESS = "+14155550199"

SERVE_APP = """
import uvicorn
from approval_bot.app import create_app
from approval_bot.config import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port={port}, log_level="warning",
            access_log=False)
"""
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


def customers(n: int) -> list[str]:
    """n distinct valid US numbers."""
    numbers: list[str] = []
    for area in ("415", "650", "510", "408", "707", "925", "916", "209", "559", "661"):
        for line in range(10000):
            number = f"+1{area}555{line:04d}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                numbers.append(number)
                if len(numbers) == n:
                    return numbers
    raise SystemExit(f"cannot make {n} distinct numbers")


@contextmanager
def serve(code: str, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with closing(socket.create_connection(("127.0.0.1", port), timeout=0.2)):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def load(
    url: str, bodies: list[tuple[str, dict[str, str]]], concurrency: int
) -> tuple[float, list[float], int]:
    """Post every (body, headers) with `concurrency` in flight; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            for body, headers in queue:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


def wait_for_drafts(database: Path) -> None:
    """Drafting runs after the responses: wait until no message is left RECEIVED."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(database)) as conn:
            (waiting,) = conn.execute(
                "SELECT count(*) FROM messages WHERE status = 'RECEIVED'"
            ).fetchone()
        if waiting == 0:
            return
        time.sleep(0.1)
    raise SystemExit("drafts did not finish within 120 s")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(value: float) -> float:
    return round(value * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--replay-every", type=int, default=20, help="replay every k-th webhook")
    parser.add_argument("--rounds", type=int, default=4, help="alternate baseline and app")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port, base_port = free_port(), free_port()
        public = f"http://127.0.0.1:{port}"
        database = Path(tmp) / "app" / "bench.sqlite3"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OPENAI_"))},
            "APPROVAL_BOT_DATABASE": str(database),
            "PUBLIC_BASE_URL": public,
            "DRAFTER": "builtin",
            "BASELINE_DATABASE": str(Path(tmp) / "baseline.sqlite3"),
        }
        sys.path.insert(0, str(ROOT))
        from approval_bot.config import load_settings

        token = str(load_settings(env).twilio_auth_token)  # the sandbox's generated token
        validator = RequestValidator(token)
        path = "/webhooks/twilio/sms"
        bodies: list[tuple[str, dict[str, str]]] = []
        for index, number in enumerate(customers(args.n)):
            params = {
                "MessageSid": f"SM{index:032x}",
                "AccountSid": "AC" + "0" * 32,
                "From": number,
                "To": BUSINESS,
                "Body": "Hi, are you open today? 👋",
                "NumMedia": "0",
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(public + path, params),
            }
            bodies.append((urlencode(params), headers))

        base_url = f"http://127.0.0.1:{base_port}/hit"
        baseline_code = SERVE_BASELINE.format(bench=str(Path(__file__).parent), port=base_port)
        seconds = base_seconds = 0.0
        latencies: list[float] = []
        errors = base_errors = replayed = 0
        # both servers stay up; the load alternates between them in rounds, so a change in
        # what else the machine is doing weighs on both sides alike
        with serve(baseline_code, env, base_port), serve(SERVE_APP.format(port=port), env, port):
            size = -(-len(bodies) // args.rounds)
            for start in range(0, len(bodies), size):
                chunk = bodies[start : start + size]
                chunk_replays = chunk[:: args.replay_every] if args.replay_every else []
                took, _, failed = asyncio.run(load(base_url, chunk, args.concurrency))
                base_seconds, base_errors = base_seconds + took, base_errors + failed
                took, chunk_latencies, failed = asyncio.run(
                    load(public + path, chunk + chunk_replays, args.concurrency)
                )
                seconds, errors = seconds + took, errors + failed
                replayed += len(chunk_replays)
                latencies += chunk_latencies
                wait_for_drafts(database)

        with closing(sqlite3.connect(database)) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM messages WHERE type = 'INBOUND'"
            ).fetchone()[0]
            duplicates = conn.execute(
                """
                SELECT coalesce(sum(n - 1), 0) FROM (
                    SELECT count(*) AS n FROM messages WHERE type = 'INBOUND'
                    GROUP BY provider_sid HAVING n > 1)
                """
            ).fetchone()[0]
            pairs = conn.execute(
                """
                SELECT inbound.timestamp, draft.timestamp FROM messages AS draft
                JOIN messages AS inbound ON inbound.id = draft.in_reply_to_id
                WHERE draft.type = 'DRAFT'
                """
            ).fetchall()
        ready = [
            (datetime.fromisoformat(d) - datetime.fromisoformat(i)).total_seconds()
            for i, d in pairs
        ]
        sent = len(bodies)
        rate = (sent + replayed) / seconds
        base_rate = sent / base_seconds
        print(
            json.dumps(
                {
                    "sent": sent,
                    "replayed": replayed,
                    "concurrency": args.concurrency,
                    "webhooks_per_s": round(rate, 1),
                    "baseline_per_s": round(base_rate, 1),
                    "ratio": round(rate / base_rate, 3),
                    "webhook_latency_ms": {
                        "p50": ms(percentile(latencies, 50)),
                        "p95": ms(percentile(latencies, 95)),
                        "p99": ms(percentile(latencies, 99)),
                    },
                    "inbound_to_draft_ready_ms": {
                        "p50": ms(percentile(ready, 50)),
                        "p95": ms(percentile(ready, 95)),
                        "mean": ms(statistics.fmean(ready)) if ready else None,
                    },
                    "drafts": len(ready),
                    "stored": stored,
                    "duplicates": duplicates,
                    "errors": errors + base_errors,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
