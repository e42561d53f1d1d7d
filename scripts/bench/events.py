#!/usr/bin/env python3
"""Events out: inbound texts with and without a webhook subscription, in one run; JSON.

Each round is two fresh databases, each with `approval-bot serve` on loopback (Twilio
pointed at the fake Twilio, the built-in drafter): one bare, one with a subscription
(`approval-bot webhook add … --events '*'`) to a loopback receiver
(tests/fake_webhook_receiver.py in its own process, answering each POST after
--receiver-ms and verifying its signature with `standardwebhooks`). Rounds alternate the
order (bare first, then subscribed first) so a drift in the machine's load does not land on
one side. In each, wrk (webhooks_once.lua, --connections open, closed loop, as the other
ingest benchmarks drive it) posts --texts signed inbound webhooks from --customers
customers exactly once each, as fast as the app answers: the ingest rate is the texts stored
per second between the first and the last one the app stored.

The subscribed run then waits until every text is drafted and every delivery is settled,
and counts from the receiver's side, deduplicating by `webhook-id`: events delivered/s,
commit → delivered (the event's `occurred_at`, stamped in the transaction that commits it,
to its first arrival at the receiver; an event that never arrives counts as infinitely
late), duplicates, events lost (stored in the outbox but never received, or a posted
MessageSid without a `message.received` at the receiver), events out of order in a
conversation, and what the subscription cost ingest.

    .venv/bin/python scripts/bench/events.py --json out.json
    .venv/bin/python scripts/bench/events.py --texts 300 --customers 60 --rounds 1  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

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


def query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def stored_texts(database: Path) -> list[str]:
    """The timestamps of the customers' texts the app stored."""
    return [t for (t,) in query(database, "SELECT timestamp FROM messages WHERE type = 'INBOUND'")]


def ingest(app: App, pool: Path, texts: int, connections: int, timeout: float) -> dict[str, Any]:
    """wrk posts the pool once; stopped when the app has stored every text. The rate and errors."""
    wrk = harness.start_wrk_once(app.url, pool, connections)
    started = time.monotonic()
    count, last_change = 0, started
    # a text the app never stores must not hang the run: give up after `timeout` s of none
    while time.monotonic() - last_change < timeout and wrk.poll() is None:
        time.sleep(0.1)
        ((now_stored,),) = query(
            app.database, "SELECT count(*) FROM messages WHERE type = 'INBOUND'"
        )
        if now_stored != count:
            count, last_change = now_stored, time.monotonic()
        if count >= texts:
            break
    wall = time.monotonic() - started
    run = harness.stop_wrk(wrk)
    moments = sorted(datetime.fromisoformat(s) for s in stored_texts(app.database))
    span = (moments[-1] - moments[0]).total_seconds() if len(moments) > 1 else 0
    # the drafter shares the machine with the ingest: how far it got by the last text
    ((drafted,),) = query(
        app.database,
        "SELECT count(*) FROM messages WHERE type = 'DRAFT' AND timestamp <= ?",
        moments[-1].isoformat(timespec="microseconds") if moments else "",
    )
    return {
        "texts": texts,
        "stored": len(moments),
        "seconds": round(span, 2),
        "per_s": round((len(moments) - 1) / span, 1) if span else None,
        "wall_seconds": round(wall, 2),
        "drafts_by_the_last_text": drafted,
        "requests": run["requests"],
        "errors": run["non_2xx"] + run["connect_errors"] + run["read_errors"] + run["timeouts"],
        "p50_ms": round(run["p50_us"] / 1000, 1),
        "p99_ms": round(run["p99_us"] / 1000, 1),
    }


def settled(database: Path) -> bool:
    """Every text drafted (or otherwise handled) and every delivery no longer pending."""
    ((waiting,),) = query(
        database, "SELECT count(*) FROM messages WHERE type = 'INBOUND' AND status = 'RECEIVED'"
    )
    ((pending,),) = query(
        database, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
    )
    return bool(waiting == 0 and pending == 0)


def delivery_figures(
    database: Path, received: list[dict[str, Any]], sids: set[str]
) -> dict[str, Any]:
    """Counted at the receiver: each event's first verified 2xx arrival, by `webhook-id`."""
    outbox = {event_id for (event_id,) in query(database, "SELECT id FROM event_outbox")}
    ok = [r for r in received if r["answered"] == "ok" and r["verified"]]
    first: dict[str, dict[str, Any]] = {}
    for r in sorted(ok, key=lambda r: r["at"]):
        first.setdefault(r["id"], r)
    latencies = [
        (r["at"] - datetime.fromisoformat(r["event"]["occurred_at"]).timestamp()) * 1000
        for r in first.values()
    ]
    lost = outbox - set(first)
    latencies += [float("inf")] * len(lost)
    seen_sids = {
        r["event"]["data"]["message_sid"]
        for r in first.values()
        if r["event"]["type"] == "message.received"
    }
    # per conversation, arrivals must follow the events' commit order (occurred_at)
    out_of_order, last = 0, dict[str, str]()
    for r in sorted(first.values(), key=lambda r: r["at"]):
        thread, occurred = r["event"]["thread_id"], r["event"]["occurred_at"]
        if thread is not None:
            out_of_order += occurred < last.get(thread, "")
            last[thread] = max(occurred, last.get(thread, ""))
    commits = [
        datetime.fromisoformat(r["event"]["occurred_at"]).timestamp() for r in first.values()
    ]
    span = max(r["at"] for r in first.values()) - min(commits) if first else 0
    types: dict[str, int] = {}
    for r in first.values():
        types[r["event"]["type"]] = types.get(r["event"]["type"], 0) + 1
    return {
        "events": len(outbox),
        "delivered": len(first),
        "by_type": dict(sorted(types.items())),
        "delivered_per_s": round(len(first) / span, 1) if span else None,
        "commit_to_delivered_ms": percentiles(latencies, 50, 95, 99),
        "duplicates": len(ok) - len(first),
        "bad_signatures": sum(1 for r in received if not r["verified"]),
        "lost": len(lost) + len(sids - seen_sids),
        "texts_without_message_received": len(sids - seen_sids),
        "out_of_order": out_of_order,
    }


def run_once(
    workdir: Path, name: str, args: argparse.Namespace, subscribed: bool
) -> dict[str, Any]:
    fake = FakeTwilio(latency=0.05)
    app = EventsApp(workdir / f"{name}.sqlite3", fake)
    receiver = Receiver(args.receiver_ms / 1000) if subscribed else None
    result: dict[str, Any] = {"loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        app.cli("init-db")
        if receiver is not None:
            out = app.cli("webhook", "add", receiver.url, "--events", "*")
            receiver.verify_with(out.strip().splitlines()[-1].split()[-1])
        pool = workdir / f"{name}.tsv"
        people = [harness.new_customer(i) for i in range(args.customers)]
        harness.write_pool(pool, app.url, app.auth_token, args.texts, people)
        sids = {parse_qs(line.split("\t", 1)[1])["MessageSid"][0] for line in pool.open()}
        app.start()
        try:
            result["ingest"] = ingest(app, pool, args.texts, args.connections, 30)
            if receiver is not None:
                deadline = time.monotonic() + args.settle
                while not settled(app.database) and time.monotonic() < deadline:
                    time.sleep(0.5)
                result["settled"] = settled(app.database)
        finally:
            app.stop()
        if receiver is not None:
            result["delivery"] = delivery_figures(app.database, receiver.received(), sids)
    finally:
        if receiver is not None:
            receiver.close()
        fake.close()
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--receiver-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2, help="bare+subscribed pairs, alternated")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait, at most")
    parser.add_argument("--json", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--workdir", type=Path, help="where the run's databases go")
    args = parser.parse_args()
    harness.ensure_wrk()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in range(args.rounds):
            order = (False, True) if n % 2 == 0 else (True, False)
            runs = {
                subscribed: run_once(
                    Path(tmp), f"r{n}-{'sub' if subscribed else 'bare'}", args, subscribed
                )  # fmt: skip
                for subscribed in order
            }
            bare, sub = runs[False]["ingest"]["per_s"], runs[True]["ingest"]["per_s"]
            rounds.append({
                "order": ["subscribed" if s else "bare" for s in order],
                "without_subscription": runs[False],
                "with_subscription": runs[True],
                "ingest_cost_pct": round((1 - sub / bare) * 100, 1) if bare and sub else None,
            })  # fmt: skip
    costs = [r["ingest_cost_pct"] for r in rounds if r["ingest_cost_pct"] is not None]
    document = {
        "texts": args.texts,
        "customers": args.customers,
        "connections": args.connections,
        "receiver_ms": args.receiver_ms,
        "cpus": os.cpu_count(),
        "ingest_cost_pct": round(statistics.median(costs), 1) if costs else None,
        "lost": sum(r["with_subscription"]["delivery"]["lost"] for r in rounds),
        "duplicates": sum(r["with_subscription"]["delivery"]["duplicates"] for r in rounds),
        "rounds": rounds,
    }
    text = json.dumps(document, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    if document["lost"]:
        raise SystemExit(f"{document['lost']} events were lost")


if __name__ == "__main__":
    main()
