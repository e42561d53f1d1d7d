"""A long history written straight into a migrated database, shaped as the app writes it.

Each thread is a run of rounds over `days` days: the customer writes (INBOUND, left
DRAFT_PENDING_APPROVAL once answered, as drafting leaves it), a draft with its code and a
text to each reviewer is decided (mostly approved and sent, some rejected, some superseded
by a second draft that is sent), and every change has its audit row, hash-chained with
`audit.row_hash`. Plain inserts, because going through the store for thousands of rows
would make the test that needs a history slow; the rows match what the real paths write
(the plan test drives the real paths on top of them).
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from approval_bot.audit import GENESIS_HASH, row_hash
from approval_bot.sms_commands import CODE_ALPHABET, CODE_LENGTH
from approval_bot.store import Tx

BUSINESS = "+14155550199"
REVIEWERS = ((1, "+14155550123"), (2, "+14155550124"))


@dataclass
class _Rows:
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    approvals: list[tuple[Any, ...]] = field(default_factory=list)
    codes: list[tuple[Any, ...]] = field(default_factory=list)
    notifications: list[tuple[Any, ...]] = field(default_factory=list)


class _History:
    def __init__(self, conn: Tx, seed: int) -> None:
        self.conn = conn
        self.random = random.Random(seed)
        # the chain's head (migration 0020): its last id and hash, moved after each flush
        head = conn.execute("SELECT last_id, last_hash FROM audit_chain WHERE id = 1").fetchone()
        self.audit_id: int = head[0]
        self.prev_hash: str = head[1] or GENESIS_HASH
        self.rows = _Rows()
        # the codes issued already (a second seeding adds to the first): one row per code
        self.codes = {row[0] for row in conn.execute("SELECT code FROM draft_codes")}

    def sid(self, prefix: str = "SM") -> str:
        return prefix + uuid.UUID(int=self.random.getrandbits(128)).hex

    def code(self) -> str:
        # each code once: the database holds one row per code (migration 0022)
        while True:
            code = "".join(self.random.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def audit(self, event: str, at: str, **row: Any) -> None:
        self.audit_id += 1
        fields = {
            "id": self.audit_id,
            "event": event,
            "actor": "Human" if row.get("actor_id") else "System",
            "actor_id": row.get("actor_id"),
            "thread_id": row.get("thread_id"),
            "message_id": row.get("message_id"),
            "metadata": json.dumps(row.get("metadata", {}), sort_keys=True, separators=(",", ":")),
            "timestamp": at,
            "prev_hash": self.prev_hash,
        }
        fields["hash"] = self.prev_hash = row_hash(fields)
        self.rows.audit.append(tuple(fields.values()))

    def message(self, kind: str, thread: str, status: str, at: str, **extra: Any) -> str:
        message_id = str(uuid.UUID(int=self.random.getrandbits(128)))
        outgoing = kind != "INBOUND"
        self.rows.messages.append(
            (
                message_id,
                thread,
                extra.get("in_reply_to"),
                BUSINESS if outgoing else thread,
                thread if outgoing else BUSINESS,
                extra.get("body", "Are you open on Sunday?" if not outgoing else "Yes, 9 to 5."),
                status,
                kind,
                at,
                extra.get("provider_sid"),
                "delivered" if status == "SENT" else None,
                1 if status == "SENT" else 0,
                extra.get("superseded_by"),
                '{"drafter":"builtin"}' if kind == "DRAFT" else None,
                at,
            )
        )
        return message_id

    def draft(self, thread: str, inbound: str, status: str, at: datetime) -> str:
        stamp = at.isoformat(timespec="microseconds")
        sent = status == "SENT"
        draft = self.message(
            "DRAFT", thread, status, stamp, in_reply_to=inbound,
            provider_sid=self.sid() if sent else None,
        )  # fmt: skip
        self.rows.codes.append((self.code(), draft, stamp))
        self.audit("Draft Created", stamp, thread_id=thread, message_id=draft)
        for reviewer_id, _ in REVIEWERS:
            self.rows.notifications.append(
                (reviewer_id, draft, f"Draft for {thread}", "SENT", self.sid(), 1, stamp, stamp)
            )
        decided = (at + timedelta(minutes=3)).isoformat(timespec="microseconds")
        reviewer = self.random.choice(REVIEWERS)
        if status in ("SENT", "REJECTED"):
            action = "APPROVE" if sent else "REJECT"
            self.rows.approvals.append((draft, reviewer[1], action, decided, reviewer[0], "sms"))
            event = "Approved" if sent else "Rejected"
            self.audit(event, decided, actor_id=reviewer[0], thread_id=thread, message_id=draft)
        if sent:
            self.audit("Send Accepted", decided, thread_id=thread, message_id=draft)
        return draft

    def thread(self, phone: str, rounds: int, start: datetime, span: timedelta) -> None:
        stamp = start.isoformat(timespec="microseconds")
        self.conn.execute(
            "INSERT INTO conversations (thread_id, last_activity_at, created_at) VALUES (?, ?, ?)",
            (phone, stamp, stamp),
        )
        self.conn.execute(
            "INSERT INTO thread_controls (thread_id, last_updated) VALUES (?, ?)", (phone, stamp)
        )
        self.audit("Conversation Opened", stamp, thread_id=phone)
        for n in range(rounds):
            at = start + span * n / rounds
            stamp = at.isoformat(timespec="microseconds")
            inbound = self.message(
                "INBOUND", phone, "DRAFT_PENDING_APPROVAL", stamp, provider_sid=self.sid()
            )
            self.audit("Stored", stamp, thread_id=phone, message_id=inbound)
            fate = self.random.random()
            if fate < 0.1:
                self.draft(phone, inbound, "REJECTED", at + timedelta(seconds=2))
            elif fate < 0.2:
                first = self.draft(phone, inbound, "SUPERSEDED", at + timedelta(seconds=2))
                self.audit("Superseded", stamp, thread_id=phone, message_id=first)
                self.draft(phone, inbound, "SENT", at + timedelta(seconds=30))
            else:
                self.draft(phone, inbound, "SENT", at + timedelta(seconds=2))
        self.conn.execute(
            "UPDATE conversations SET last_activity_at = ? WHERE thread_id = ?", (stamp, phone)
        )

    def flush(self) -> None:
        rows, self.rows = self.rows, _Rows()
        self.conn.executemany(
            """
            INSERT INTO messages (id, thread_id, in_reply_to_id, sender, receiver, body, status,
                type, timestamp, provider_sid, delivery_status, send_attempts, superseded_by,
                draft_meta, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            rows.messages,
        )
        self.conn.executemany(
            """
            INSERT INTO audit_log (id, event, actor, actor_id, thread_id, message_id, metadata,
                timestamp, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            rows.audit,
        )
        if rows.audit:
            self.conn.execute(
                "UPDATE audit_chain SET last_id = ?, last_hash = ? WHERE id = 1",
                (self.audit_id, self.prev_hash),
            )
        self.conn.executemany(
            """
            INSERT INTO approvals (draft_id, reviewer_phone, action, timestamp, reviewer_id,
                channel)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            rows.approvals,
        )
        self.conn.executemany(
            "INSERT INTO draft_codes (code, message_id, issued_at) VALUES (?, ?, ?)", rows.codes
        )
        self.conn.executemany(
            """
            INSERT INTO notifications (reviewer_id, draft_id, body, status, provider_sid,
                send_attempts, created_at, sent_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            rows.notifications,
        )


def _phones(count: int, first: int) -> Iterator[str]:
    for n in range(first, first + count):
        yield f"+1628{200 + n // 10_000:03d}{n % 10_000:04d}"  # valid NANP numbers


def seed_history(
    path: str, *, threads: int, rounds: int, days: int = 90, seed: int = 10, first: int = 0
) -> None:
    """Write `threads` threads of `rounds` rounds each, spread over the last `days` days.

    The database must be migrated and hold reviewers 1 and 2 (their texts are in the
    history); threads are numbered from `first`, so a second call adds new ones. It is
    written in one transaction per 1,000 threads.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        history = _History(Tx.on(conn), seed + first)
        now = datetime.now(UTC)
        span = timedelta(days=days)
        for n, phone in enumerate(_phones(threads, first)):
            if n % 1000 == 0:
                conn.execute("BEGIN")
            start = now - span + timedelta(seconds=history.random.uniform(0, 3600))
            history.thread(phone, rounds, start, span - timedelta(hours=2))
            if n % 1000 == 999 or n == threads - 1:
                history.flush()
                conn.execute("COMMIT")
    finally:
        conn.close()
