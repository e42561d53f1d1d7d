#!/usr/bin/env python3
"""Benchmark the sender against the fake Twilio API with a fixed latency per request.

Two runs, each on a fresh database:
  * full load: MESSAGES approved messages waiting, sent with the default concurrency;
  * paced: approvals arriving at RATE per second, each waking the sender job, as the web
    queue does; approve→accepted is measured from the approval's commit to the moment
    the fake accepted the message.
Prints one JSON object. Run: .venv/bin/python scripts/bench/send.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from approval_bot import review  # noqa: E402
from approval_bot.config import Settings, load_settings  # noqa: E402
from approval_bot.gateways import TwilioGateway  # noqa: E402
from approval_bot.models import DecisionChannel  # noqa: E402
from approval_bot.scheduler import build_scheduler, wake_sender  # noqa: E402
from approval_bot.sending import Sender  # noqa: E402
from approval_bot.store import Store, opened  # noqa: E402
from tests.builders import (  # noqa: E402
    BUSINESS,
    approve_sending,
    make_draft,
    make_inbound,
    make_reviewer,
)
from tests.fake_twilio import ACCEPTED_PATH, ACCOUNT_SID, AUTH_TOKEN  # noqa: E402


class FakeProcess:
    """The fake Twilio API in its own process, so its work does not slow the sender's."""

    def __init__(self, latency: float) -> None:
        self._latency = latency

    def __enter__(self) -> FakeProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_twilio", "--latency", str(self._latency)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        self.account_sid, self.auth_token = ACCOUNT_SID, AUTH_TOKEN
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)
        self._process.stdout.close()

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + ACCEPTED_PATH) as answer:
            accepted: list[dict[str, Any]] = json.load(answer)["accepted"]
        return accepted


def number(i: int) -> str:
    return f"+1415{5550000 + i:07d}"


CONCURRENCY: dict[str, str] = {}  # SEND_CONCURRENCY when --concurrency is given


def settings_for(directory: Path, fake: FakeProcess) -> Settings:
    return load_settings(
        {
            **CONCURRENCY,
            "APPROVAL_BOT_DATABASE": str(directory / "bench.sqlite3"),
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TWILIO_API_BASE_URL": fake.url,
        }
    )


async def pending_draft(db: Store, i: int) -> str:
    return await make_draft(db, await make_inbound(db, number(i), "hi"), f"Reply {i}")


def tally(fake: FakeProcess, expected: list[str], sent: int) -> dict[str, int]:
    accepted = fake.accepted
    counts = Counter(m["to"] for m in accepted)
    return {
        "accepted_by_fake": len(accepted),
        "duplicates": sum(c - 1 for c in counts.values() if c > 1),
        "lost": sum(1 for n in expected if counts[n] == 0) + (len(expected) - sent),
    }


async def full_load(messages: int, latency: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, FakeProcess(latency) as fake:
        settings = settings_for(Path(tmp), fake)
        async with opened(settings.database) as db:
            await approve_sending(db)  # with credentials the gate starts pending
            ana = await make_reviewer(db)
            for i in range(messages):
                draft = await pending_draft(db, i)
                await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
            gateway = TwilioGateway(settings)
            try:
                started = time.perf_counter()
                await Sender(db, gateway, settings).run()
                elapsed = time.perf_counter() - started
            finally:
                await gateway.aclose()
            row = await db.fetchone("SELECT count(*) AS n FROM messages WHERE status = 'SENT'")
            sent = int(row["n"]) if row else 0
        return {
            "messages": messages,
            "concurrency": settings.send_concurrency,
            "seconds": round(elapsed, 2),
            "sent_per_second": round(sent / elapsed, 1),
            **tally(fake, [number(i) for i in range(messages)], sent),
        }


async def paced(approvals: int, rate: float, latency: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, FakeProcess(latency) as fake:
        settings = settings_for(Path(tmp), fake)
        async with opened(settings.database) as db:
            await approve_sending(db)  # with credentials the gate starts pending
            ana = await make_reviewer(db)
            drafts = [await pending_draft(db, i) for i in range(approvals)]
            gateway = TwilioGateway(settings)
            scheduler = build_scheduler()
            sender = Sender(db, gateway, settings)
            sender.schedule(scheduler)
            scheduler.start()
            approved_at: dict[str, float] = {}
            try:
                start = time.monotonic()
                for i, draft in enumerate(drafts):
                    await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
                    approved_at[number(i)] = time.monotonic()
                    wake_sender(scheduler)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    row = await db.fetchone(
                        "SELECT count(*) AS n FROM messages WHERE status = 'SENT'"
                    )
                    if row is not None and row["n"] >= approvals:
                        break
                    await asyncio.sleep(0.05)
            finally:
                scheduler.shutdown(wait=False)
                await sender.stop()
                await gateway.aclose()
            row = await db.fetchone("SELECT count(*) AS n FROM messages WHERE status = 'SENT'")
            sent = int(row["n"]) if row else 0
            accepted = fake.accepted
        waits = sorted(
            (m["accepted_at"] - approved_at[m["to"]]) * 1000
            for m in accepted
            if m["to"] in approved_at
        )
        return {
            "approvals": approvals,
            "approvals_per_second": rate,
            "approve_to_accepted_ms": {
                "p50": round(statistics.median(waits), 1),
                "p95": round(waits[int(0.95 * (len(waits) - 1))], 1),
                "max": round(waits[-1], 1),
            },
            **tally(fake, list(approved_at), sent),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--paced", type=int, default=200, help="approvals in the paced run")
    parser.add_argument("--rate", type=float, default=10.0, help="approvals per second")
    parser.add_argument("--concurrency", type=int, help="SEND_CONCURRENCY (default: its default)")
    args = parser.parse_args()
    if args.concurrency:
        CONCURRENCY["SEND_CONCURRENCY"] = str(args.concurrency)
    latency = args.latency_ms / 1000
    result = {
        "fake_latency_ms": args.latency_ms,
        "full_load": await full_load(args.messages, latency),
        "paced": await paced(args.paced, args.rate, latency),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
