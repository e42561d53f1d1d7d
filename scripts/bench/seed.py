#!/usr/bin/env python3
"""Seed a realistic database: N messages over 90 days, written as the real paths write them.

The schema comes from the app's own migrations and the reviewers from its CLI
(`approval-bot init-db`, `approval-bot reviewer add`); the history is then bulk-inserted
with what the webhook, drafting, review and sender paths store for each exchange: uuid
ids, the customer's text (RECEIVED → DRAFT_PENDING_APPROVAL), a draft with its code
(approved and SENT, or edited into a second version, or rejected and answered by a
reviewer's own reply), approvals, reviewers' notifications, the webhook's idempotency key,
conversations with their thread controls, and audit rows in time order with a valid hash
chain (approval_bot.audit's hashing), so `approval-bot audit verify` passes.

    .venv/bin/python scripts/bench/seed.py --messages 100000 --out bench.sqlite3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from approval_bot import audit  # noqa: E402
from approval_bot.store import add_functions, load_migrations, split_statements  # noqa: E402

BUSINESS = "+14155550199"
ADMIN_PASSWORD = "benchmark admin password"
# an admin who decides on the web (no phone) and one reviewer who gets a text per draft
REVIEWERS = (("ana", "+14155550142"),)
HISTORY_DAYS = 90
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # DESIGN: 4 characters, no 0/O/1/I/L
SEED_FORMAT = "2"  # bump when what the seed writes changes, so cached databases are rebuilt
CHUNK = 20_000  # exchanges per transaction

QUESTIONS = (
    "Hi, are you open on Saturday?",
    "How much for a cleaning next week?",
    "Can I move my appointment to Thursday afternoon?",
    "Do you take walk-ins or do I need to book?",
    "Thanks! See you tomorrow at 10.",
    "Is there parking near the shop?",
    "What time do you close today?",
)
ANSWERS = (
    "Thanks for your message. A member of our team will get back to you shortly.",
    "We are open 9 to 5 on Saturdays. Would you like us to book you in?",
    "A cleaning is $120 and takes about an hour. Which day suits you?",
    "Of course, Thursday at 3 pm is free. Shall I move it?",
)


def thread_number(i: int) -> str:
    """The i-th seeded customer: valid US numbers in ten area codes."""
    areas = ("415", "650", "510", "408", "707", "925", "916", "209", "559", "661")
    return f"+1{areas[i % len(areas)]}{2000000 + i // len(areas):07d}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def cli(database: Path, *args: str, stdin: str | None = None) -> str:
    """Run `approval-bot ARGS` on `database`; its stdout."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APPROVAL_BOT_DATABASE": str(database),
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = [str(Path(sys.executable).parent / "approval-bot"), *args]
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"approval-bot {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Rows:
    """One transaction's worth of rows, per table."""

    messages: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    approvals: list[tuple[Any, ...]] = field(default_factory=list)
    codes: list[tuple[Any, ...]] = field(default_factory=list)
    notifications: list[tuple[Any, ...]] = field(default_factory=list)
    webhooks: list[tuple[Any, ...]] = field(default_factory=list)


class Seeder:
    """Writes exchanges in time order, keeping the audit chain's head as it goes."""

    def __init__(self, conn: sqlite3.Connection, reviewer_ids: list[int], rng: random.Random):
        self.conn = conn
        self.reviewers = reviewer_ids
        self.rng = rng
        # the chain's head (migration 0020): its last id and hash, moved after each flush
        head = conn.execute("SELECT last_id, last_hash FROM audit_chain WHERE id = 1").fetchone()
        self.audit_id: int = head[0]
        self.prev_hash: str = head[1] or audit.GENESIS_HASH
        (self.notification_id,) = conn.execute(
            "SELECT coalesce(max(id), 0) FROM notifications"
        ).fetchone()
        self.rows = Rows()
        # the database holds one row per code (migration 0022): each is drawn once
        self.codes: set[str] = set()
        self.threads: dict[str, tuple[str, str]] = {}  # thread → (created, last activity)
        self.messages = 0

    def sid(self) -> str:
        return "SM" + uuid.UUID(int=self.rng.getrandbits(128)).hex

    def log(
        self,
        at: datetime,
        event: str,
        *,
        thread: str | None,
        message: str | None,
        metadata: dict[str, Any],
        actor_id: int | None = None,
    ) -> None:
        self.audit_id += 1
        row = {
            "id": self.audit_id,
            "event": event,
            "actor": "System" if actor_id is None else "Human",
            "actor_id": actor_id,
            "thread_id": thread,
            "message_id": message,
            "metadata": audit.canonical_metadata(metadata),
            "timestamp": iso(at),
            "prev_hash": self.prev_hash,
        }
        row["hash"] = self.prev_hash = audit.row_hash(row)
        self.rows.audit.append(tuple(row.values()))

    def message(self, **row: Any) -> str:
        message_id = str(uuid.uuid4())
        self.rows.messages.append(
            (
                message_id,
                row["thread"],
                row.get("in_reply_to"),
                row["sender"],
                row["receiver"],
                row["body"],
                row["status"],
                row["type"],
                row["timestamp"],
                row.get("version", 1),
                row.get("provider_sid"),
                row.get("delivery_status"),
                row.get("send_attempts", 0),
                row.get("superseded_by"),
                row.get("sentiment"),
                row.get("draft_meta"),
                row["updated_at"],
                row.get("settled_at"),
            )
        )
        self.messages += 1
        return message_id

    def draft(self, at: datetime, thread: str, inbound: str, body: str, **extra: Any) -> str:
        """A machine draft with its code, as drafting stores them."""
        meta: dict[str, Any] = {
            "drafter": "builtin",
            "model": None,
            "confidence": 0.3,
            "intent": "hours",
            "latency_ms": 13.1,
            "findings": [],
            "fallback_reason": None,
        }
        draft_id = self.message(
            thread=thread,
            in_reply_to=inbound,
            sender=BUSINESS,
            receiver=thread,
            body=body,
            type="DRAFT",
            timestamp=iso(at),
            sentiment="NEUTRAL",
            draft_meta=json.dumps(meta),
            **extra,
        )
        self.log(
            at,
            "Draft Created",
            thread=thread,
            message=draft_id,
            metadata={
                "drafter": "builtin",
                "from": None,
                "intent": "hours",
                "to": "DRAFT_PENDING_APPROVAL",
                "type": "DRAFT",
            },
        )
        self.code(at, draft_id)
        return draft_id

    def code(self, at: datetime, message_id: str) -> None:
        while (code := "".join(self.rng.choice(CODE_ALPHABET) for _ in range(4))) in self.codes:
            pass
        self.codes.add(code)
        self.rows.codes.append((code, message_id, iso(at)))

    def notify(self, at: datetime, draft_id: str, thread: str, body: str) -> None:
        self.notification_id += 1
        sid = self.sid()
        self.rows.notifications.append(
            (
                self.notification_id,
                self.reviewers[1],
                draft_id,
                f"Draft for {thread}: {body}",
                "SENT",
                sid,
                1,
                iso(at),
                iso(at + timedelta(milliseconds=500)),
            )
        )
        self.log(
            at + timedelta(milliseconds=500),
            "Notification Sent",
            thread=None,
            message=draft_id,
            metadata={
                "from": "PENDING",
                "notification_id": self.notification_id,
                "reviewer_id": self.reviewers[1],
                "sid": sid,
                "to": "SENT",
            },
        )

    def approve(self, at: datetime, thread: str, draft_id: str, reviewer: int, action: str) -> None:
        self.log(
            at,
            "Approved",
            thread=thread,
            message=draft_id,
            actor_id=reviewer,
            metadata={
                "channel": "web",
                "from": "DRAFT_PENDING_APPROVAL",
                "notes": None,
                "to": "APPROVED_TO_SEND",
            },
        )
        self.rows.approvals.append((draft_id, action, iso(at), reviewer, "web"))

    def accepted(self, at: datetime, thread: str, message_id: str, sid: str) -> None:
        self.log(
            at,
            "Send Accepted",
            thread=thread,
            message=message_id,
            metadata={
                "attempt": 1,
                "from": "APPROVED_TO_SEND",
                "reconciled": False,
                "sid": sid,
                "to": "SENT",
            },
        )

    def exchange(self, at: datetime, thread: str, span: timedelta, pending: bool) -> None:
        """A customer's text and what became of it, every event inside [at, at + span)."""
        rng = self.rng
        step = span / 8
        if thread not in self.threads:
            self.log(
                at,
                "Conversation Opened",
                thread=thread,
                message=None,
                metadata={"channel": "sms", "from": None, "to": "ACTIVE"},
            )
            self.threads[thread] = (iso(at), iso(at))
        ms = timedelta(milliseconds=1)
        message_sid = self.sid()
        fate = "pending" if pending else rng.choices(("sent", "edited", "rejected"), (90, 5, 5))[0]
        inbound_status = "NEEDS_REVIEW" if fate == "rejected" else "DRAFT_PENDING_APPROVAL"
        question = rng.choice(QUESTIONS)
        inbound = self.message(
            thread=thread,
            sender=thread,
            receiver=BUSINESS,
            body=question,
            status=inbound_status,
            type="INBOUND",
            timestamp=iso(at),
            provider_sid=message_sid,
            updated_at=iso(at + 3 * step),
            # a rejected draft's text is answered by the reviewer's own reply, sent (rejected)
            settled_at=iso(at + 3 * step + 60 * timedelta(milliseconds=1))
            if fate == "rejected"
            else None,
        )
        self.rows.webhooks.append(("twilio-sms", message_sid, iso(at)))
        self.log(
            at + ms,
            "Stored",
            thread=thread,
            message=inbound,
            metadata={
                "from": None,
                "message_sid": message_sid,
                "to": "RECEIVED",
                "type": "INBOUND",
            },
        )
        drafted, decided, sent = at + 20 * ms, at + 3 * step, at + 3 * step + 60 * ms
        answer = rng.choice(ANSWERS)
        reviewer = rng.choice(self.reviewers)
        sid = self.sid()
        if fate in ("sent", "pending"):
            done = (
                {}
                if pending
                else {"provider_sid": sid, "delivery_status": "delivered", "send_attempts": 1}
            )
            draft_id = self.draft(
                drafted,
                thread,
                inbound,
                answer,
                status="DRAFT_PENDING_APPROVAL" if pending else "SENT",
                updated_at=iso(drafted if pending else sent),
                **done,
            )
        else:
            draft_id = self.draft(
                drafted,
                thread,
                inbound,
                answer,
                status=fate.upper() if fate == "rejected" else "SUPERSEDED",
                updated_at=iso(decided),
            )
        self.log(
            drafted + ms,
            "Draft Created",
            thread=thread,
            message=inbound,
            metadata={"draft_id": draft_id, "from": "RECEIVED", "to": "DRAFT_PENDING_APPROVAL"},
        )
        if rng.random() < 0.1:  # most reviewers decide on the web queue and turn texts off
            self.notify(drafted, draft_id, thread, answer)
        if fate == "sent":
            self.approve(decided, thread, draft_id, reviewer, "APPROVE")
            self.accepted(sent, thread, draft_id, sid)
        elif fate == "edited":
            self.edited(decided, sent, thread, inbound, draft_id, reviewer, sid)
        elif fate == "rejected":
            self.rejected(decided, sent, thread, inbound, draft_id, reviewer, sid)
        self.threads[thread] = (self.threads[thread][0], iso(sent if not pending else drafted))

    def edited(
        self,
        decided: datetime,
        sent: datetime,
        thread: str,
        inbound: str,
        old: str,
        reviewer: int,
        sid: str,
    ) -> None:
        """review.edit(approve=True): a second version, approved and sent; the first superseded."""
        new = self.message(
            thread=thread,
            in_reply_to=inbound,
            sender=BUSINESS,
            receiver=thread,
            body="Sure, see you Thursday at 3 pm.",
            status="SENT",
            type="DRAFT",
            timestamp=iso(decided),
            version=2,
            provider_sid=sid,
            delivery_status="delivered",
            send_attempts=1,
            updated_at=iso(sent),
        )
        self.log(
            decided,
            "Edited",
            thread=thread,
            message=new,
            actor_id=reviewer,
            metadata={
                "channel": "web",
                "from": None,
                "previous_version": old,
                "to": "DRAFT_PENDING_APPROVAL",
                "type": "DRAFT",
            },
        )
        # the first version points at the second
        row = list(self.rows.messages[-2])
        row[13] = new
        self.rows.messages[-2] = tuple(row)
        self.log(
            decided,
            "Edited",
            thread=thread,
            message=old,
            actor_id=reviewer,
            metadata={"from": "DRAFT_PENDING_APPROVAL", "new_version": new, "to": "SUPERSEDED"},
        )
        self.approve(decided, thread, new, reviewer, "EDIT")
        self.code(decided, new)
        self.accepted(sent, thread, new, sid)

    def rejected(
        self,
        decided: datetime,
        sent: datetime,
        thread: str,
        inbound: str,
        draft_id: str,
        reviewer: int,
        sid: str,
    ) -> None:
        """review.reject, then review.write_reply: the reviewer's own reply, sent."""
        self.log(
            decided,
            "Rejected",
            thread=thread,
            message=draft_id,
            actor_id=reviewer,
            metadata={
                "channel": "web",
                "from": "DRAFT_PENDING_APPROVAL",
                "notes": None,
                "to": "REJECTED",
            },
        )
        self.rows.approvals.append((draft_id, "REJECT", iso(decided), reviewer, "web"))
        self.log(
            decided,
            "Draft Rejected",
            thread=thread,
            message=inbound,
            actor_id=reviewer,
            metadata={"from": "DRAFT_PENDING_APPROVAL", "to": "NEEDS_REVIEW"},
        )
        reply = self.message(
            thread=thread,
            in_reply_to=inbound,
            sender=BUSINESS,
            receiver=thread,
            body="Hi, this is Ana: I have called you back about it.",
            status="SENT",
            type="OUTBOUND",
            timestamp=iso(decided),
            provider_sid=sid,
            delivery_status="delivered",
            send_attempts=1,
            updated_at=iso(sent),
        )
        self.log(
            decided,
            "Human Reply Written",
            thread=thread,
            message=reply,
            actor_id=reviewer,
            metadata={"from": None, "to": "APPROVED_TO_SEND", "type": "OUTBOUND"},
        )
        self.accepted(sent, thread, reply, sid)

    def flush(self) -> None:
        rows, conn = self.rows, self.conn
        conn.execute("BEGIN")
        conn.executemany(
            """INSERT INTO messages (id, thread_id, in_reply_to_id, sender, receiver, body,
                   status, type, timestamp, draft_version, provider_sid, delivery_status,
                   send_attempts, superseded_by, sentiment, draft_meta, updated_at, settled_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows.messages,
        )
        conn.executemany(
            """INSERT INTO audit_log (id, event, actor, actor_id, thread_id, message_id,
                   metadata, timestamp, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows.audit,
        )
        if rows.audit:
            conn.execute(
                "UPDATE audit_chain SET last_id = ?, last_hash = ? WHERE id = 1",
                (self.audit_id, self.prev_hash),
            )
        conn.executemany(
            """INSERT INTO approvals (draft_id, action, timestamp, reviewer_id, channel)
               VALUES (?, ?, ?, ?, ?)""",
            rows.approvals,
        )
        conn.executemany(
            "INSERT INTO draft_codes (code, message_id, issued_at) VALUES (?, ?, ?)", rows.codes
        )
        conn.executemany(
            """INSERT INTO notifications (id, reviewer_id, draft_id, body, status, provider_sid,
                   send_attempts, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows.notifications,
        )
        conn.executemany(
            "INSERT INTO webhook_events (provider, event_id, received_at) VALUES (?, ?, ?)",
            rows.webhooks,
        )
        conn.execute("COMMIT")
        self.rows = Rows()

    def finish(self) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany(
            """INSERT INTO conversations (thread_id, channel, state, sentiment,
                   last_activity_at, created_at) VALUES (?, 'sms', 'ACTIVE', 'NEUTRAL', ?, ?)""",
            [(thread, last, created) for thread, (created, last) in self.threads.items()],
        )
        conn.executemany(
            "INSERT INTO thread_controls (thread_id, paused, last_updated) VALUES (?, 0, ?)",
            [(thread, created) for thread, (created, _) in self.threads.items()],
        )
        conn.execute("COMMIT")


def backfill_rollups(conn: sqlite3.Connection) -> None:
    """Fill the stats rollups from the history, as the upgrade that created them does.

    The funnel keeps them current on every change; rows bulk-inserted here bypass it, and
    the migration's back-fill ran while the database was still empty.
    """
    (migration,) = [m for m in load_migrations() if m.name == "stats_rollups"]
    add_functions(conn)
    conn.execute("BEGIN")
    for table in ("queue_hours", "decision_days", "decision_waits", "edit_days"):
        conn.execute(f"DELETE FROM {table}")
    for statement in split_statements(migration.sql):
        code = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
        if code.lstrip().upper().startswith("INSERT"):
            conn.execute(code)
    conn.execute("COMMIT")


def seed(out: Path, messages: int, *, seed_value: int = 1) -> dict[str, Any]:
    """Build a database of about `messages` messages at `out` (which must not exist)."""
    if out.exists():
        raise SystemExit(f"{out} exists: seed writes a new database")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cli(out, "init-db")
    for name, phone in REVIEWERS:
        cli(
            out,
            "reviewer",
            "add",
            name,
            "--phone",
            phone,
            "--password-stdin",
            stdin=f"{ADMIN_PASSWORD} {name}\n",
        )
    conn = sqlite3.connect(out, isolation_level=None)
    reviewer_ids = [r for (r,) in conn.execute("SELECT id FROM reviewers ORDER BY id")]
    # bulk load without a journal; the app's WAL mode is restored at the end
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    rng = random.Random(seed_value)
    seeder = Seeder(conn, reviewer_ids, rng)
    exchanges = round(messages / 2.1)  # 2.1 messages an exchange on average
    threads = max(1, exchanges // 5)
    pending = min(200, exchanges // 100)  # the queue a team works through
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    span = (now - timedelta(hours=1) - start) / max(1, exchanges)
    for n in range(exchanges):
        thread = thread_number(rng.randrange(threads))
        seeder.exchange(start + n * span, thread, span, pending=n >= exchanges - pending)
        if len(seeder.rows.messages) >= CHUNK * 2:
            seeder.flush()
    seeder.flush()
    seeder.finish()
    backfill_rollups(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in (
            "messages",
            "audit_log",
            "approvals",
            "draft_codes",
            "notifications",
            "conversations",
            "thread_controls",
            "webhook_events",
        )
    }
    conn.close()
    counts["pending_drafts"] = pending
    counts["audit_rows_per_message"] = round(counts["audit_log"] / max(1, counts["messages"]), 2)
    return {"seconds": round(time.perf_counter() - started, 1), "rows": counts}


def cache_key(messages: int) -> str:
    """Names a seeded database by size, seed format and the migrations it was built with."""
    digest = hashlib.sha256(SEED_FORMAT.encode())
    for path in sorted((ROOT / "approval_bot" / "migrations").glob("*.sql")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"seed-{messages}-{digest.hexdigest()[:12]}.sqlite3"


def fresh_copy(messages: int, destination: Path, cache: Path | None = None) -> dict[str, Any]:
    """Copy a cached seeded database of `messages` to `destination`, seeding it first if new."""
    cache = cache or Path(tempfile.gettempdir()) / "approval-bot-bench"
    cached = cache / cache_key(messages)
    info_path = cached.with_suffix(".json")
    if not cached.exists():
        building = cache / f"building-{os.getpid()}" / cached.name
        shutil.rmtree(building.parent, ignore_errors=True)
        info = seed(building, messages)
        info_path.write_text(json.dumps(info))
        building.replace(cached)
        shutil.rmtree(building.parent)
        info["cached"] = False
    else:
        info = {**json.loads(info_path.read_text()), "cached": True}
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, destination)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, required=True, help="about how many messages")
    parser.add_argument("--out", type=Path, required=True, help="the new database file")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args()
    if args.messages < 0:
        parser.error("--messages must be 0 (a fresh database) or more")
    print(json.dumps(seed(args.out, args.messages, seed_value=args.seed), indent=2))


if __name__ == "__main__":
    main()
