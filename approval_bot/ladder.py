"""The review-deadline ladder: one pass takes every step that is due on a pending reply —
remind, escalate, holding reply — each at most once per reply, each audited.

The work of a pass is the clocks due (an index range on `review_clocks_due`), in batches
of at most BATCH per write transaction; a clock climbs one step per batch, so one long
overdue climbs its steps in order within the same pass, and other writes get the writer
between batches.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from . import audit, auto_replies, message_templates, review_clocks, sending_gate
from .db import Database, Priority
from .draft_notices import quiet_now, reachable
from .message_templates import Trigger
from .models import MessageStatus, SlaEvent, SlaStep, now_iso
from .sms_text import escalation_notification, reminder_notification

BATCH = 500

_EVENTS = {
    SlaStep.REMINDED: SlaEvent.REMINDED,
    SlaStep.ESCALATED: SlaEvent.ESCALATED,
    SlaStep.HOLDING_SENT: SlaEvent.HOLDING_SENT,
    SlaStep.HOLDING_UNAVAILABLE: SlaEvent.HOLDING_UNAVAILABLE,
}


@dataclass
class PassResult:
    """What one pass did: the steps it took and the texts it queued."""

    steps: dict[SlaStep, int]
    texts: int = 0  # notifications to reviewers and holding replies to customers
    closed: int = 0  # clocks of replies that had left the queue without a decision

    @classmethod
    def empty(cls) -> PassResult:
        return cls({step: 0 for step in _EVENTS})


async def run_pass(db: Database, now: datetime | None = None) -> PassResult:
    """Take every step due at `now` (default: the current time)."""
    moment = now or datetime.now(UTC)
    result = PassResult.empty()
    # until a batch finds nothing due: a clock climbs one step per batch, at most three
    while await db.write(partial(_climb, moment, result), priority=Priority.BULK):
        pass
    return result


_DUE = """
    SELECT review_clocks.id, review_clocks.thread_id, review_clocks.draft_id,
           review_clocks.inbound_id, review_clocks.contact, review_clocks.started_at,
           review_clocks.step, review_clocks.next_step,
           messages.status, messages.type, messages.body, messages.sender, messages.receiver,
           messages.channel
    FROM review_clocks INDEXED BY review_clocks_due
    JOIN messages ON messages.id = review_clocks.draft_id
    WHERE review_clocks.closed_at IS NULL AND review_clocks.next_step IS NOT NULL
      AND review_clocks.due_at <= ?
    ORDER BY review_clocks.due_at LIMIT ?
"""


def _climb(now: datetime, result: PassResult, conn: sqlite3.Connection) -> int:
    """One batch of due clocks, each one step up (or closed); returns how many were due."""
    policy = review_clocks.load_policy(conn)
    due = conn.execute(_DUE, (now.isoformat(timespec="microseconds"), BATCH)).fetchall()
    reviewers = _reviewers(conn)
    for clock in due:
        if clock["status"] != MessageStatus.DRAFT_PENDING_APPROVAL:
            review_clocks.close(conn, clock["id"])
            result.closed += 1
            continue
        started = datetime.fromisoformat(clock["started_at"])
        minutes = policy.hours.open_between(started, now).total_seconds() / 60
        step = SlaStep(clock["next_step"])
        if step is SlaStep.REMINDED:
            texted = _remind(conn, clock, reviewers, minutes, now)
            metadata: dict[str, Any] = {"texted": texted}
            result.texts += len(texted)
        elif step is SlaStep.ESCALATED:
            texted = _escalate(conn, clock, reviewers, minutes, now)
            metadata = {"texted": texted}
            result.texts += len(texted)
        else:
            reply_id, reason = _holding(conn, clock, now)
            if reply_id is None:
                step = SlaStep.HOLDING_UNAVAILABLE
            else:
                result.texts += 1
            metadata = {"reply": reply_id, "reason": reason}
        result.steps[step] += 1
        following, at = policy.schedule(started, step)
        due_at = at.isoformat(timespec="microseconds")
        conn.execute(
            """
            UPDATE review_clocks SET step = ?, next_step = ?, due_at = ?, urgency = ?
            WHERE id = ? AND step = ?
            """,
            (
                step,
                following,
                due_at,
                review_clocks.urgency(step, due_at),
                clock["id"],
                clock["step"],
            ),
        )
        audit.record(
            conn,
            audit.AuditEvent(
                event=_EVENTS[step],
                thread_id=clock["thread_id"],
                message_id=clock["draft_id"],
                metadata={"business_minutes": round(minutes, 1), **metadata},
            ),
        )
        review_clocks.step_taken(conn, step, now_iso())
    return len(due)


def _reviewers(conn: sqlite3.Connection) -> dict[int, Any]:
    """Every reviewer row by id: a handful, read once per batch."""
    return {row["id"]: row for row in conn.execute("SELECT * FROM reviewers").fetchall()}


def _text(conn: sqlite3.Connection, reviewer: Any, draft_id: str, body: str, now: datetime) -> bool:
    """Queue `body` to a reviewer who takes texts; HELD through their quiet hours."""
    if not reachable(reviewer):
        return False
    conn.execute(
        """
        INSERT INTO notifications (reviewer_id, draft_id, body, status, created_at)
        VALUES (?, ?, ?, ?, ?)
        """,
        (
            reviewer["id"],
            draft_id,
            body,
            "HELD" if quiet_now(reviewer, now) else "PENDING",
            now_iso(),
        ),
    )
    return True


def _code(conn: sqlite3.Connection, draft_id: str) -> str:
    row = conn.execute("SELECT code FROM draft_codes WHERE message_id = ?", (draft_id,)).fetchone()
    return str(row["code"]) if row else "----"


def _remind(
    conn: sqlite3.Connection, clock: Any, reviewers: dict[int, Any], minutes: float, now: datetime
) -> list[int]:
    """Remind the reviewers who were told about the reply; the ids of those texted."""
    told = conn.execute(
        "SELECT DISTINCT reviewer_id FROM notifications WHERE draft_id = ?", (clock["draft_id"],)
    ).fetchall()
    body = reminder_notification(_code(conn, clock["draft_id"]), clock["receiver"], minutes)
    return [
        row["reviewer_id"]
        for row in told
        if row["reviewer_id"] in reviewers
        and _text(conn, reviewers[row["reviewer_id"]], clock["draft_id"], body, now)
    ]


def _escalate(
    conn: sqlite3.Connection, clock: Any, reviewers: dict[int, Any], minutes: float, now: datetime
) -> list[int]:
    """Text the admins and the backup reviewers the overdue reply with its code."""
    body = escalation_notification(
        _code(conn, clock["draft_id"]), clock["receiver"], minutes, clock["body"]
    )
    return [
        reviewer["id"]
        for reviewer in reviewers.values()
        if (reviewer["role"] == "admin" or reviewer["backup"])
        and _text(conn, reviewer, clock["draft_id"], body, now)
    ]


def _holding(conn: sqlite3.Connection, clock: Any, now: datetime) -> tuple[str | None, str]:
    """Queue the pre-approved holding reply, once per contact; (its id or None, why)."""
    controls = conn.execute(
        """
        SELECT conversations.opted_out, thread_controls.paused, thread_controls.taken_over_by
        FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
        """,
        (clock["thread_id"],),
    ).fetchone()
    if controls["opted_out"]:
        return None, "the customer has opted out"
    if controls["paused"]:
        return None, "the thread is paused"
    if controls["taken_over_by"] is not None:
        return None, "a reviewer has taken the thread over"
    closed = sending_gate.why_closed(conn)
    if closed is not None:
        return None, f"sending is closed: {closed}"
    if message_templates.pre_approval(conn, Trigger.HOLDING, clock["channel"]) is None:
        return None, "the holding template is not pre-approved"
    sent = conn.execute(
        """
        SELECT 1 FROM review_clocks
        WHERE thread_id = ? AND contact = ? AND step = 'holding_sent' LIMIT 1
        """,
        (clock["thread_id"], clock["contact"]),
    ).fetchone()
    if sent is not None:
        return None, "this contact already had the holding reply"
    reply_id = auto_replies.queue_in(
        conn,
        Trigger.HOLDING,
        thread_id=clock["thread_id"],
        in_reply_to_id=clock["inbound_id"],
        sender=clock["sender"],
        channel=clock["channel"],
        now=now,
    )
    if reply_id is None:
        return None, "the thread had a holding reply in the last 24 hours"
    return reply_id, "the pre-approved holding template"
