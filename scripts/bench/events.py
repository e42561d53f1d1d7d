#!/usr/bin/env python3
"""Events out: inbound texts with and without a webhook subscription, in one run; JSON.

Two fresh databases, each with `approval-bot serve` on loopback (Twilio pointed at the
fake Twilio, the built-in drafter). Each run posts --texts signed inbound webhooks from
--customers customers, --connections at a time (a closed loop of httpx clients), and times
the ingest. The second run first subscribes (`approval-bot webhook add … --events '*'`)
a loopback receiver (tests/fake_webhook_receiver.py in its own process, answering each
POST after --receiver-ms and verifying its signature with `standardwebhooks`), then waits
until every event is delivered, and reports events delivered/s, commit → delivered
(the event's occurred_at to its arrival), duplicates the receiver saw, events lost, and
what the subscription cost ingest.

    .venv/bin/python scripts/bench/events.py --json out.json
    .venv/bin/python scripts/bench/events.py --texts 300 --customers 60   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import App, FakeTwilio, percentiles  # noqa: E402


class EventsApp(App):
    """The app with webhooks allowed to reach the loopback receiver."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "WEBHOOK_ALLOW_PRIVATE": "true"}


class Receiver:
    """tests/fake_webhook_receiver.py in its own process."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_webhook_receiver", "--latency", str(latency)],
            cwd=harness.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise SystemExit("the webhook receiver did not start")

    def verify_with(self, secret: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(secret + "\n")
        self.process.stdin.flush()

    def received(self) -> list[dict[str, Any]]:
        status_url = self.url.rsplit("/", 1)[0] + "/_received"
        with urllib.request.urlopen(status_url) as answer:
            rows: list[dict[str, Any]] = json.load(answer)["received"]
        return rows

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


async def ingest(app: App, texts: int, customers: int, connections: int) -> dict[str, Any]:
    """Post `texts` signed inbound webhooks, `connections` at a time; the rate and errors."""
    validator = RequestValidator(app.auth_token)
    url = app.url + harness.WEBHOOK_PATH
    people = [harness.new_customer(i) for i in range(customers)]
    prepared = [
        harness.signed(
            validator,
            url,
            harness.webhook_params(people[i % customers], harness.TEXTS[i % len(harness.TEXTS)]),
        )
        for i in range(texts)
    ]
    queue = iter(prepared)
    errors = 0
    limits = httpx.Limits(max_keepalive_connections=connections, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=app.url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for signature, body in queue:
                answer = await client.post(
                    harness.WEBHOOK_PATH,
                    content=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                )
                errors += answer.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    return {"texts": texts, "seconds": round(seconds, 2), "per_s": round(texts / seconds, 1),
            "errors": errors}  # fmt: skip


def outbox(database: Path) -> dict[str, tuple[float, str]]:
    """Each event's id → (occurred_at as a Unix time, its delivery status)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            """
            SELECT event_outbox.id, event_outbox.occurred_at, webhook_deliveries.status
            FROM event_outbox
            JOIN webhook_deliveries ON webhook_deliveries.event_id = event_outbox.id
            """
        ).fetchall()
    return {r[0]: (datetime.fromisoformat(r[1]).timestamp(), r[2]) for r in rows}


def run_once(
    workdir: Path, name: str, args: argparse.Namespace, receiver: Receiver | None
) -> tuple[dict[str, Any], App]:
    fake = FakeTwilio(latency=0.05)
    app = EventsApp(workdir / f"{name}.sqlite3", fake)
    app.cli("init-db")
    if receiver is not None:
        out = app.cli("webhook", "add", receiver.url, "--events", "*")
        receiver.verify_with(out.strip().splitlines()[-1].split()[-1])
    app.start()
    try:
        result = asyncio.run(ingest(app, args.texts, args.customers, args.connections))
        if receiver is not None:
            deadline = time.monotonic() + args.settle
            while time.monotonic() < deadline:
                events = outbox(app.database)
                if events and all(status == "delivered" for _, status in events.values()):
                    break
                time.sleep(0.5)
    finally:
        app.stop()
        fake.close()
    return result, app


def delivery_figures(app: App, receiver: Receiver) -> dict[str, Any]:
    events = outbox(app.database)
    received = receiver.received()
    ok = [r for r in received if r["answered"] == "ok" and r["verified"]]
    first_arrival: dict[str, float] = {}
    for r in ok:
        first_arrival.setdefault(r["id"], r["at"])
    latencies = [
        (first_arrival[event_id] - occurred) * 1000
        for event_id, (occurred, _) in events.items()
        if event_id in first_arrival
    ]
    span = (max(first_arrival.values()) - min(o for o, _ in events.values())) if ok else 0
    return {
        "events": len(events),
        "delivered": len(first_arrival),
        "delivered_per_s": round(len(first_arrival) / span, 1) if span else None,
        "commit_to_delivered_ms": percentiles(latencies, 50, 95, 99),
        "duplicates": len(ok) - len(first_arrival),
        "bad_signatures": sum(1 for r in received if not r["verified"]),
        "lost": len(set(events) - set(first_arrival)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--receiver-ms", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for delivery")
    parser.add_argument("--json", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--workdir", type=Path, help="where the run's databases go")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(args.receiver_ms / 1000)
    try:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            bare, _ = run_once(Path(tmp), "bare", args, None)
            subscribed, app = run_once(Path(tmp), "subscribed", args, receiver)
            delivery = delivery_figures(app, receiver)
    finally:
        receiver.close()
    cost = 1 - subscribed["per_s"] / bare["per_s"] if bare["per_s"] else None
    document = {
        "texts": args.texts,
        "customers": args.customers,
        "receiver_ms": args.receiver_ms,
        "ingest_without_subscription": bare,
        "ingest_with_subscription": subscribed,
        "ingest_cost_pct": round(cost * 100, 1) if cost is not None else None,
        **delivery,
    }
    text = json.dumps(document, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    if delivery["lost"]:
        raise SystemExit(f"{delivery['lost']} events were lost")


if __name__ == "__main__":
    main()
