#!/usr/bin/env python3
"""Page render times on a large database: the queue, a long thread, the audit log, stats.

Builds a database with 1,000,000 messages (10,000 replies pending approval, one thread of
10,000 messages) and an audit row per message with a valid hash chain, starts
`approval-bot serve` on it, signs in, and times each page from the client side.
Prints JSON: p50/p95 in milliseconds per page and the server's peak RSS.

    .venv/bin/python scripts/bench/pages.py [--messages 1000000] [--requests 50]

The seed writes rows with direct SQL (it is test data, not a product path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from approval_bot import accounts, audit
from approval_bot.store import opened

BUSINESS = "+14155550199"
LONG_THREAD = "+14155500000"
PASSWORD = "benchmark password"


def phone(i: int) -> str:
    return f"+1415{6000000 + i:07d}"


def seed(path: Path, messages: int, pending: int, long_thread: int) -> dict[str, int]:
    """Write conversations, messages, approvals and a valid audit chain straight into SQLite."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    start = datetime.now(UTC) - timedelta(days=60)
    clock = [0]

    def stamp() -> str:
        clock[0] += 1
        return (start + timedelta(milliseconds=clock[0] * 5)).isoformat(timespec="microseconds")

    per_thread = 10
    other = messages - long_thread
    threads = [LONG_THREAD] + [phone(i) for i in range(other // per_thread)]
    pending_threads = set(threads[1 : pending + 1])
    conv_rows: list[tuple[Any, ...]] = []
    control_rows: list[tuple[Any, ...]] = []
    message_rows: list[tuple[Any, ...]] = []
    approval_rows: list[tuple[Any, ...]] = []
    audit_rows: list[tuple[Any, ...]] = []
    # the chain's head (migration 0020): its last id and hash, moved after the rows
    head = conn.execute("SELECT last_id, last_hash FROM audit_chain WHERE id = 1").fetchone()
    audit_id, prev_hash = head[0], head[1] or audit.GENESIS_HASH

    def log(event: str, thread: str, message_id: str | None, meta: dict[str, object]) -> None:
        nonlocal prev_hash, audit_id
        audit_id += 1
        row = {
            "id": audit_id,
            "event": event,
            "actor": "System",
            "actor_id": None,
            "thread_id": thread,
            "message_id": message_id,
            "metadata": audit.canonical_metadata(meta),
            "timestamp": stamp(),
            "prev_hash": prev_hash,
        }
        row["hash"] = audit.row_hash(row)
        prev_hash = row["hash"]
        audit_rows.append(tuple(row.values()))

    serial = 0
    for thread in threads:
        now = stamp()
        conv_rows.append((thread, "ACTIVE", "NEUTRAL", now, now))
        control_rows.append((thread, now))
        log("Conversation Opened", thread, None, {"to": "ACTIVE"})
        count = long_thread if thread == LONG_THREAD else per_thread
        inbound_id = None
        for n in range(count):
            serial += 1
            message_id = f"m{serial:09d}"
            last = n == count - 1
            if n % 2 == 0:
                body = f"Customer question number {n} about opening hours and prices?"
                message_rows.append(
                    (
                        message_id,
                        thread,
                        None,
                        thread,
                        BUSINESS,
                        body,
                        "DRAFT_PENDING_APPROVAL",
                        "INBOUND",
                        stamp(),
                        1,
                        None,
                        None,
                    )
                )
                inbound_id = message_id
                log("Stored", thread, message_id, {"to": "RECEIVED"})
            else:
                is_pending = last and thread in pending_threads
                status = "DRAFT_PENDING_APPROVAL" if is_pending else "SENT"
                sid = None if is_pending else f"SM{serial:032x}"
                body = f"Thanks for asking! We are open 9 to 5; reply {n} from the drafter."
                message_rows.append(
                    (
                        message_id,
                        thread,
                        inbound_id,
                        BUSINESS,
                        thread,
                        body,
                        status,
                        "DRAFT",
                        stamp(),
                        1,
                        sid,
                        None if is_pending else "delivered",
                    )
                )
                log("Draft Created", thread, message_id, {"to": "DRAFT_PENDING_APPROVAL"})
                if not is_pending:
                    approval_rows.append((message_id, "APPROVE", stamp(), "web"))
    conn.execute("BEGIN")
    conn.executemany(
        """INSERT INTO conversations (thread_id, state, sentiment, last_activity_at, created_at)
           VALUES (?, ?, ?, ?, ?)""",
        conv_rows,
    )
    conn.executemany(
        "INSERT INTO thread_controls (thread_id, paused, last_updated) VALUES (?, 0, ?)",
        control_rows,
    )
    conn.executemany(
        """INSERT INTO messages (id, thread_id, in_reply_to_id, sender, receiver, body, status,
               type, timestamp, draft_version, provider_sid, delivery_status, updated_at, media)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2026-01-01', '[]')""",
        message_rows,
    )
    conn.executemany(
        "INSERT INTO approvals (draft_id, action, timestamp, channel) VALUES (?, ?, ?, ?)",
        approval_rows,
    )
    conn.executemany(
        """INSERT INTO audit_log (id, event, actor, actor_id, thread_id, message_id, metadata,
               timestamp, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        audit_rows,
    )
    if audit_rows:
        conn.execute(
            "UPDATE audit_chain SET last_id = ?, last_hash = ? WHERE id = 1", (audit_id, prev_hash)
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {
        "messages": len(message_rows),
        "pending": sum(
            1 for r in message_rows if r[6] == "DRAFT_PENDING_APPROVAL" and r[7] == "DRAFT"
        ),
        "threads": len(threads),
        "audit_rows": len(audit_rows),
        "long_thread_messages": long_thread,
    }


async def prepare(path: Path) -> None:
    async with opened(path) as db:
        await accounts.add_reviewer(db, "bench", phone=None, password=PASSWORD)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--long-thread", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--database", type=Path, help="seed this file once and reuse it on later runs"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.database or Path(tmp) / "data" / "bench.sqlite3"
        started = time.perf_counter()
        if path.exists():
            sizes = {"reused": 1}
        else:
            asyncio.run(prepare(path))
            sizes = seed(path, args.messages, args.pending, args.long_thread)
        seed_seconds = time.perf_counter() - started

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"APPROVAL_BOT_DATABASE": str(path), "PATH": "/usr/bin:/bin"}
        script = Path(sys.executable).parent / "approval-bot"
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=url, timeout=120, follow_redirects=True) as client:
                for _ in range(200):
                    try:
                        client.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                login = client.get("/login").text
                token = re.search(r'name="csrf_token" value="([^"]+)"', login)
                assert token
                signed = client.post(
                    "/login",
                    data={"csrf_token": token.group(1), "name": "bench", "password": PASSWORD},
                )
                assert signed.status_code == 200, signed.status_code

                # the first audit page starts the hash chain walk in the background; wait for
                # it, so that the page timings below are not measured against it
                first = time.perf_counter()
                while "Hash chain verified" not in client.get("/audit").text:
                    time.sleep(0.5)
                chain_walk_s = time.perf_counter() - first
                queue = client.get("/").text
                cursor = re.search(r'href="/\?after=([^"]+)"', queue)
                pages = {
                    "queue": "/",
                    "queue_page_2": "/?after=" + (cursor.group(1) if cursor else ""),
                    "long_thread": "/threads/%2B14155500000",
                    "audit": "/audit",
                    "audit_by_thread": "/audit?thread=%2B14155500000",
                    "needs_review": "/needs-review",
                    # the seed is 60 days old: 7 days holds none of it, 90 days all of it
                    "stats": "/stats",
                    "stats_90_days": "/stats?days=90",
                }
                results: dict[str, dict[str, float]] = {}
                for name, path_ in pages.items():
                    for _ in range(3):
                        client.get(path_).raise_for_status()
                    times = []
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        response = client.get(path_)
                        times.append((time.perf_counter() - t0) * 1000)
                        response.raise_for_status()
                    results[name] = {
                        "p50_ms": round(statistics.median(times), 2),
                        "p95_ms": round(percentile(times, 0.95), 2),
                        "bytes": len(response.content),
                    }
                rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "database": sizes,
                "seed_seconds": round(seed_seconds, 1),
                "requests_per_page": args.requests,
                "pages": results,
                "audit_chain_first_walk_seconds": round(chain_walk_s, 1),
                "server_peak_rss_mb": round(rss, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
