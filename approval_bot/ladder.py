"""The review-deadline ladder: one pass takes every step that is due on a pending reply —
remind, escalate, holding reply — each at most once per reply, each audited.

The work of a pass is the clocks due (an index range on `review_clocks_due`), in batches
of at most BATCH per write transaction; a clock climbs one step per batch, so one long
overdue climbs its steps in order within the same pass, and other writes get the writer
between batches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from . import audit, auto_replies, claims, message_templates, review_clocks, sending_gate
from .draft_notices import quiet_now, reachable
from .message_templates import Trigger
from .models import MessageStatus, SlaEvent, SlaStep, now_iso
from .sms_text import escalation_notification, reminder_notification
from .store import Priority, Store, Tx, conversations
from .store import clocks as clock_rows
from .store import notifications as notification_rows
from .store import reviewers as reviewer_rows
from .store.clocks import DueClock
from .store.reviewers import TextedReviewer

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


async def run_pass(db: Store, now: datetime | None = None) -> PassResult:
    """Take every step due at `now` (default: the current time)."""
    moment = now or datetime.now(UTC)
    result = PassResult.empty()
    # until a batch finds nothing due: a clock climbs one step per batch, at most three
    while await db.write(partial(_climb, moment, result), priority=Priority.BULK):
        pass
    return result


@dataclass
class _Batch:
    """What one batch writes at its end, each kind in one statement."""

    now: datetime
    reviewers: dict[int, TextedReviewer]
    told: dict[str, list[int]]
    texts: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    moves: list[tuple[str, str | None, str, str, int, str]] = field(default_factory=list)
    audits: list[audit.AuditEvent] = field(default_factory=list)
    steps: Counter[SlaStep] = field(default_factory=Counter)

    def text(self, reviewer: TextedReviewer, draft_id: str, body: str) -> bool:
        """Queue `body` to a reviewer who takes texts; HELD through their quiet hours."""
        if not reachable(reviewer):
            return False
        status = "HELD" if quiet_now(reviewer, self.now) else "PENDING"
        self.texts.append((reviewer.id, draft_id, body, status, now_iso()))
        return True


def _climb(now: datetime, result: PassResult, conn: Tx) -> int:
    """One batch of due clocks, each one step up (or closed); returns how many were due."""
    policy = review_clocks.load_policy(conn)
    due = clock_rows.due(conn, now.isoformat(timespec="microseconds"), BATCH)
    pending = [clock for clock in due if clock.status == MessageStatus.DRAFT_PENDING_APPROVAL]
    for clock in due:
        if clock.status != MessageStatus.DRAFT_PENDING_APPROVAL:
            review_clocks.close(conn, clock.id)
            result.closed += 1
    batch = _Batch(
        now,
        {reviewer.id: reviewer for reviewer in reviewer_rows.all_texted(conn)},
        _told(conn, [c.draft_id for c in pending if c.next_step == SlaStep.REMINDED]),
    )
    for clock in pending:
        _step(conn, policy, batch, clock, result)
    notification_rows.insert_notifications(conn, batch.texts)
    clock_rows.climb_many(conn, batch.moves)
    audit.record_many(conn, batch.audits)
    for step, count in batch.steps.items():
        review_clocks.steps_taken(conn, step, count, now_iso())
    return len(due)


def _told(conn: Tx, draft_ids: list[str]) -> dict[str, list[int]]:
    """The reviewers each draft's notice went to (one index lookup per draft)."""
    told: dict[str, list[int]] = {draft_id: [] for draft_id in draft_ids}
    for draft_id, reviewer_id in notification_rows.told(conn, draft_ids):
        told[draft_id].append(reviewer_id)
    return told


def _step(
    conn: Tx,
    policy: review_clocks.Policy,
    batch: _Batch,
    clock: DueClock,
    result: PassResult,
) -> None:
    """Take a pending reply's next step, to be written with the batch."""
    started = datetime.fromisoformat(clock.started_at)
    minutes = policy.hours.open_between(started, batch.now).total_seconds() / 60
    step = SlaStep(clock.next_step)
    code = clock.code or "----"
    metadata: dict[str, Any]
    holder = None
    if step in (SlaStep.REMINDED, SlaStep.ESCALATED):
        held = claims.holder_of(conn, clock.thread_id)
        holder = held.words() if held is not None else None
    if step is SlaStep.REMINDED:
        body = reminder_notification(code, clock.receiver, minutes, holder)
        texted = [
            reviewer_id
            for reviewer_id in sorted(batch.told[clock.draft_id])
            if reviewer_id in batch.reviewers
            and batch.text(batch.reviewers[reviewer_id], clock.draft_id, body)
        ]
        metadata = {"texted": texted}
        result.texts += len(texted)
    elif step is SlaStep.ESCALATED:
        body = escalation_notification(code, clock.receiver, minutes, clock.body, holder)
        texted = [
            reviewer.id
            for reviewer in batch.reviewers.values()
            if (reviewer.role == "admin" or reviewer.backup)
            and batch.text(reviewer, clock.draft_id, body)
        ]
        metadata = {"texted": texted}
        result.texts += len(texted)
    else:
        reply_id, reason = _holding(conn, clock, batch.now)
        if reply_id is None:
            step = SlaStep.HOLDING_UNAVAILABLE
        else:
            result.texts += 1
        metadata = {"reply": reply_id, "reason": reason}
    result.steps[step] += 1
    batch.steps[step] += 1
    following, at = policy.schedule(started, step)
    due_at = at.isoformat(timespec="microseconds")
    batch.moves.append(
        (step, following, due_at, review_clocks.urgency(step, due_at), clock.id, clock.step)
    )
    batch.audits.append(
        audit.AuditEvent(
            event=_EVENTS[step],
            thread_id=clock.thread_id,
            message_id=clock.draft_id,
            metadata={"business_minutes": round(minutes, 1), **metadata},
        )
    )


def _holding(conn: Tx, clock: DueClock, now: datetime) -> tuple[str | None, str]:
    """Queue the pre-approved holding reply, once per contact; (its id or None, why)."""
    controls = conversations.thread(conn, clock.thread_id)
    assert controls is not None, clock.thread_id  # a clock's thread has its controls
    if controls.opted_out:
        return None, "the customer has opted out"
    if controls.paused:
        return None, "the thread is paused"
    if controls.taken_over_by is not None:
        return None, "a reviewer has taken the thread over"
    closed = sending_gate.why_closed(conn)
    if closed is not None:
        return None, f"sending is closed: {closed}"
    if message_templates.pre_approval(conn, Trigger.HOLDING, clock.channel) is None:
        return None, "the holding template is not pre-approved"
    if clock_rows.holding_sent(conn, clock.thread_id, clock.contact):
        return None, "this contact already had the holding reply"
    reply_id = auto_replies.queue_in(
        conn,
        Trigger.HOLDING,
        thread_id=clock.thread_id,
        in_reply_to_id=clock.inbound_id,
        sender=clock.sender,
        channel=clock.channel,
        now=now,
    )
    if reply_id is None:
        return None, "the thread had a holding reply in the last 24 hours"
    return reply_id, "the pre-approved holding template"
