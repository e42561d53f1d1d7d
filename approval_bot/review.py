"""Review actions: the decisions a human makes, shared by the web, SMS and API doors.

Each action is one write transaction: the status changes through the workflow funnel,
the `approvals` row where it is a draft decision, and the audit rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from . import draft_notices, events, rollups, stats, workflow
from .db import Database, Priority
from .models import (
    ApprovalAction,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
    now_iso,
)

S = MessageStatus
OPEN_REPLY_STATUSES = (S.DRAFT_PENDING_APPROVAL, S.APPROVED_TO_SEND)
OPT_OUT_REASON = "opt-out"  # the reason shown on a thread paused by the customer's STOP


class ThreadClosed(Exception):
    """The thread is paused or opted out, so nothing may be approved or sent on it."""


class EmptyReply(ValueError):
    """A reply must have some text."""


def _require_text(body: str) -> None:
    if not body.strip():
        raise EmptyReply("a reply needs some text")


@dataclass(frozen=True)
class Decision:
    """Who decides, where, and why."""

    reviewer_id: int
    channel: DecisionChannel
    reviewer_phone: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class DecisionMade:
    """A decision on a draft that was committed: what, where, by whom, after how long.

    `waited_seconds` runs from the creation of the version the reviewer decided on (for
    an edit, the version they edited) to the decision.
    """

    draft_id: str
    action: ApprovalAction
    channel: DecisionChannel
    reviewer_id: int
    waited_seconds: float


DecisionListener = Callable[[DecisionMade], None]
_listeners: WeakKeyDictionary[Database, list[DecisionListener]] = WeakKeyDictionary()


def listen(db: Database, listener: DecisionListener) -> None:
    """Call `listener` after each decision on `db` commits, whichever door it came through.

    Decisions are approve, reject and edit-and-approve (the ones that write an
    `approvals` row); a saved edit left pending is not one.
    """
    _listeners.setdefault(db, []).append(listener)


def _made(draft: Any, action: ApprovalAction, decision: Decision) -> DecisionMade:
    waited = datetime.now(UTC) - datetime.fromisoformat(draft["timestamp"])
    return DecisionMade(
        draft["id"],
        action,
        decision.channel,
        decision.reviewer_id,
        max(0.0, waited.total_seconds()),
    )


def _announce(db: Database, made: DecisionMade) -> None:
    for listener in _listeners.get(db, ()):
        listener(made)


def _message(conn: sqlite3.Connection, message_id: str) -> Any:
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise workflow.UnknownRecord(f"no message {message_id}")
    return row


def _record_approval(
    conn: sqlite3.Connection,
    draft_id: str,
    action: ApprovalAction,
    decision: Decision,
    since: str,
    previous_version: str | None = None,
) -> None:
    """The decision's `approvals` row, its rollups and its draft.decided event; `since`: the
    decided version's creation; `previous_version`: the version an edit replaced."""
    at = now_iso()
    conn.execute(
        """
        INSERT INTO approvals
            (draft_id, reviewer_phone, action, notes, timestamp, reviewer_id, channel)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        (
            draft_id,
            decision.reviewer_phone,
            action,
            decision.notes,
            at,
            decision.reviewer_id,
            decision.channel,
        ),
    )
    rollups.decided(
        conn,
        at=at,
        since=since,
        action=action,
        channel=decision.channel,
        reviewer_id=decision.reviewer_id,
        reviewer_phone=decision.reviewer_phone,
    )
    draft = _message(conn, draft_id)
    events.emit(
        conn,
        "draft.decided",
        thread_id=draft["thread_id"],
        correlation_id=draft["correlation_id"],
        data={
            "draft_id": draft_id,
            "action": action.lower(),
            "reviewer": events.reviewer(conn, decision.reviewer_id),
            "channel": str(decision.channel),
            "notes": decision.notes,
            "body": draft["body"],
            "status": draft["status"],
            "previous_version": previous_version,
        },
    )


def _require_open_thread(conn: sqlite3.Connection, thread_id: str) -> None:
    row = conn.execute(
        """
        SELECT thread_controls.paused, thread_controls.paused_reason, conversations.opted_out
        FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
        """,
        (thread_id,),
    ).fetchone()
    if row is None:
        raise workflow.UnknownRecord(f"no conversation {thread_id}")
    if row["opted_out"]:
        raise ThreadClosed(f"{thread_id} has opted out; nothing can be sent until they text START")
    if row["paused"]:
        reason = f" ({row['paused_reason']})" if row["paused_reason"] else ""
        raise ThreadClosed(f"thread {thread_id} is paused{reason}; resume it first")


async def approve(db: Database, draft_id: str, decision: Decision) -> None:
    """Approve a pending reply for sending."""
    draft = await db.write(
        lambda conn: _approve(conn, draft_id, decision, ApprovalAction.APPROVE),
        priority=Priority.DECISION,
    )
    _announce(db, _made(draft, ApprovalAction.APPROVE, decision))


def _approve(
    conn: sqlite3.Connection,
    draft_id: str,
    decision: Decision,
    action: ApprovalAction,
    since: str | None = None,
    previous_version: str | None = None,
) -> Any:
    """Approve `draft_id`; `since`: when the version decided on was made (default: this one)."""
    draft = _message(conn, draft_id)
    _require_open_thread(conn, draft["thread_id"])
    workflow.change_status(
        conn,
        draft_id,
        expected=S.DRAFT_PENDING_APPROVAL,
        target=S.APPROVED_TO_SEND,
        event=Event.APPROVE,
        actor_id=decision.reviewer_id,
        metadata={"channel": decision.channel, "notes": decision.notes},
    )
    _record_approval(
        conn, draft_id, action, decision, since or draft["timestamp"], previous_version
    )
    return draft


async def reject(db: Database, draft_id: str, decision: Decision) -> None:
    """Reject a pending reply; the customer's message goes back to NEEDS_REVIEW."""
    draft = await db.write(
        lambda conn: _reject(conn, draft_id, decision), priority=Priority.DECISION
    )
    _announce(db, _made(draft, ApprovalAction.REJECT, decision))


def _reject(conn: sqlite3.Connection, draft_id: str, decision: Decision) -> Any:
    draft = _message(conn, draft_id)
    workflow.change_status(
        conn,
        draft_id,
        expected=S.DRAFT_PENDING_APPROVAL,
        target=S.REJECTED,
        event=Event.REJECT,
        actor_id=decision.reviewer_id,
        metadata={"channel": decision.channel, "notes": decision.notes},
    )
    _record_approval(conn, draft_id, ApprovalAction.REJECT, decision, draft["timestamp"])
    if draft["in_reply_to_id"]:
        inbound = _message(conn, draft["in_reply_to_id"])
        if inbound["status"] == S.DRAFT_PENDING_APPROVAL:
            workflow.change_status(
                conn,
                inbound["id"],
                expected=S.DRAFT_PENDING_APPROVAL,
                target=S.NEEDS_REVIEW,
                event=Event.DRAFT_REJECTED,
                actor_id=decision.reviewer_id,
            )
    return draft


async def edit(db: Database, draft_id: str, body: str, decision: Decision, *, approve: bool) -> str:
    """Save a new version of a pending reply, approved or left pending; returns its id.

    The original is kept as SUPERSEDED, pointing at the new version.
    """
    _require_text(body)
    # measured before the write transaction: a message's text never changes
    before = await db.fetchone("SELECT body FROM messages WHERE id = ?", (draft_id,))
    if before is None:
        raise workflow.UnknownRecord(f"no message {draft_id}")
    size = stats.edit_size(before["body"], body)

    def change(conn: sqlite3.Connection) -> tuple[Any, str]:
        old = _message(conn, draft_id)
        if approve:
            _require_open_thread(conn, old["thread_id"])
        new_id = workflow.create_message(
            conn,
            type=MessageType(old["type"]),
            event=Event.EDIT,
            thread_id=old["thread_id"],
            sender=old["sender"],
            receiver=old["receiver"],
            body=body,
            channel=old["channel"],
            actor_id=decision.reviewer_id,
            in_reply_to_id=old["in_reply_to_id"],
            draft_version=old["draft_version"] + 1,
            metadata={"previous_version": draft_id, "channel": decision.channel},
        )
        rollups.edited(conn, size)
        workflow.change_status(
            conn,
            draft_id,
            expected=S.DRAFT_PENDING_APPROVAL,
            target=S.SUPERSEDED,
            event=Event.EDIT,
            actor_id=decision.reviewer_id,
            superseded_by=new_id,
            metadata={"new_version": new_id},
        )
        if approve:
            _approve(
                conn,
                new_id,
                decision,
                ApprovalAction.EDIT,
                since=old["timestamp"],
                previous_version=draft_id,
            )
            draft_notices.issue_code(conn, new_id)  # so its old code can name it
        else:
            draft_notices.announce(conn, new_id)
        return old, new_id

    old, new_id = await db.write(change, priority=Priority.DECISION)
    if approve:
        _announce(db, _made(old, ApprovalAction.EDIT, decision))
    return new_id


async def write_reply(
    db: Database, thread_id: str, body: str, reviewer_id: int, *, in_reply_to_id: str | None
) -> str:
    """Queue a reply a human wrote; the thread's other open replies are superseded by it."""
    _require_text(body)

    def queue(conn: sqlite3.Connection) -> str:
        _require_open_thread(conn, thread_id)
        last_inbound = conn.execute(
            """
            SELECT receiver, channel FROM messages
            WHERE thread_id = ? AND type = 'INBOUND' ORDER BY timestamp DESC LIMIT 1
            """,
            (thread_id,),
        ).fetchone()
        if last_inbound is None:
            raise workflow.UnknownRecord(f"thread {thread_id} has no customer message to answer")
        reply_id = workflow.create_message(
            conn,
            type=MessageType.OUTBOUND,
            event=Event.HUMAN_REPLY,
            thread_id=thread_id,
            sender=last_inbound["receiver"],
            receiver=thread_id,
            body=body,
            channel=last_inbound["channel"],
            actor_id=reviewer_id,
            in_reply_to_id=in_reply_to_id,
        )
        supersede_open_replies(
            conn, thread_id, reply_id, "a reviewer wrote their own reply", reviewer_id
        )
        return reply_id

    return await db.write(queue, priority=Priority.DECISION)


def _replies_in(conn: sqlite3.Connection, thread_id: str, statuses: tuple[S, ...]) -> Any:
    marks = ", ".join("?" for _ in statuses)
    return conn.execute(
        f"""
        SELECT id, status FROM messages
        WHERE thread_id = ? AND type IN ('DRAFT', 'OUTBOUND') AND status IN ({marks})
          -- a reply the sender holds, or may already have handed to Twilio, is left to the
          -- sender: it re-checks the thread before any further attempt
          AND NOT (status = 'APPROVED_TO_SEND'
                   AND (claimed_at IS NOT NULL OR unconfirmed_since IS NOT NULL))
        ORDER BY timestamp
        """,
        (thread_id, *statuses),
    ).fetchall()


def supersede_open_replies(
    conn: sqlite3.Connection,
    thread_id: str,
    newer_id: str,
    reason: str,
    actor_id: int | None,
) -> None:
    """Supersede every pending or approved-unsent reply of a thread but `newer_id`.

    A thread has at most one live reply: a new draft or a human's reply replaces the rest.
    """
    for row in _replies_in(conn, thread_id, OPEN_REPLY_STATUSES):
        if row["id"] == newer_id:
            continue
        workflow.change_status(
            conn,
            row["id"],
            expected=S(row["status"]),
            target=S.SUPERSEDED,
            event=Event.SUPERSEDED,
            actor_id=actor_id,
            superseded_by=newer_id,
            metadata={"reason": reason},
        )


def hold_thread(
    conn: sqlite3.Connection,
    thread_id: str,
    reason: str,
    actor_id: int | None,
    *,
    kind: PauseKind,
) -> None:
    """Pause a thread inside the caller's transaction; its open replies are held."""
    workflow.set_paused(conn, thread_id, paused=True, kind=kind, reason=reason, actor_id=actor_id)
    for row in _replies_in(conn, thread_id, OPEN_REPLY_STATUSES):
        workflow.change_status(
            conn,
            row["id"],
            expected=S(row["status"]),
            target=S.PAUSED_THREAD,
            event=Event.HELD,
            actor_id=actor_id,
            metadata={"reason": reason},
        )


async def pause_thread(db: Database, thread_id: str, reason: str, actor_id: int | None) -> None:
    """Pause a thread: nothing is drafted or sent on it until it is resumed."""
    await db.write(
        lambda conn: hold_thread(conn, thread_id, reason, actor_id, kind=PauseKind.REVIEWER),
        priority=Priority.DECISION,
    )


async def resume_thread(db: Database, thread_id: str, actor_id: int | None) -> None:
    """Resume a paused thread; replies it held go back to review, never straight to sending."""

    def resume(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            """
            SELECT conversations.opted_out, thread_controls.pause_kind
            FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
            """,
            (thread_id,),
        ).fetchone()
        if row is not None and row["opted_out"]:
            raise ThreadClosed(f"{thread_id} has opted out; only their START resumes it")
        # a reviewer lifts any pause of a thread whose customer takes texts
        kind = PauseKind(row["pause_kind"]) if row and row["pause_kind"] else PauseKind.REVIEWER
        workflow.set_paused(conn, thread_id, paused=False, kind=kind, actor_id=actor_id)
        for held in _replies_in(conn, thread_id, (S.PAUSED_THREAD,)):
            workflow.change_status(
                conn,
                held["id"],
                expected=S.PAUSED_THREAD,
                target=S.DRAFT_PENDING_APPROVAL,
                event=Event.RELEASED,
                actor_id=actor_id,
            )

    await db.write(resume, priority=Priority.DECISION)


def opt_in_thread(conn: sqlite3.Connection, thread_id: str, *, source: str) -> None:
    """A customer opted back in, inside the caller's transaction.

    The opt-out pause (a STOP, or Twilio's 21610) is lifted and the replies it held go
    back to review; a reviewer's or an escalation's pause stays.
    """
    workflow.set_opted_out(conn, thread_id, opted_out=False, source=source)
    row = conn.execute(
        "SELECT paused, pause_kind FROM thread_controls WHERE thread_id = ?", (thread_id,)
    ).fetchone()
    if row is None or not row["paused"] or row["pause_kind"] != PauseKind.OPT_OUT:
        return
    workflow.set_paused(conn, thread_id, paused=False, kind=PauseKind.OPT_OUT)
    for held in _replies_in(conn, thread_id, (S.PAUSED_THREAD,)):
        workflow.change_status(
            conn,
            held["id"],
            expected=S.PAUSED_THREAD,
            target=S.DRAFT_PENDING_APPROVAL,
            event=Event.RELEASED,
            metadata={"reason": "the customer opted back in"},
        )


async def escalate(db: Database, thread_id: str, reason: str, actor_id: int | None) -> None:
    """Hand a thread to a human: it pauses (if it was not) and NEEDS_ATTENTION with the reason.

    Both changes and their audit rows are one transaction.
    """
    if not reason.strip():
        raise EmptyReply("an escalation needs a reason")

    def hand_over(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            """
            SELECT conversations.state, thread_controls.paused
            FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
            """,
            (thread_id,),
        ).fetchone()
        if row is None:
            raise workflow.UnknownRecord(f"no conversation {thread_id}")
        if not row["paused"]:
            hold_thread(
                conn, thread_id, f"escalated: {reason}", actor_id, kind=PauseKind.ESCALATION
            )
        workflow.flag_conversation(conn, thread_id, reason, actor_id=actor_id)

    await db.write(hand_over, priority=Priority.DECISION)


async def resolve_attention(db: Database, thread_id: str, actor_id: int | None) -> None:
    """Mark a thread that NEEDS_ATTENTION as dealt with (ACTIVE again); a pause stays."""
    await db.write(
        lambda conn: workflow.change_conversation_state(
            conn,
            thread_id,
            expected=ConversationState.NEEDS_ATTENTION,
            target=ConversationState.ACTIVE,
            event=ConversationEvent.RESOLVED,
            actor_id=actor_id,
        ),
        priority=Priority.DECISION,
    )
