"""Conversations and their thread controls: one row each per thread, read together.

The workflow funnel (`approval_bot.workflow`) is the only writer of their state, pause and
opt-out columns; it calls the functions here inside its write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import PauseKind
from .base import Reads, Row, Tx
from .sql import sql

# a conversation with its thread controls and the name of who holds it: the one read of
# this join (the funnel, the review actions, drafting, the sender's re-check and the ladder
# all ask it); the reviewers lookup is by primary key, and only for a held thread
_THREAD = sql(
    """
    SELECT conversations.thread_id, conversations.channel, conversations.state,
           conversations.opted_out, conversations.attention_reason,
           conversations.soft_no_count, conversations.confusion_count,
           conversations.appointment_status, conversations.appointment_at,
           conversations.contact_count, conversations.facts, conversations.last_activity_at,
           thread_controls.paused, thread_controls.paused_reason, thread_controls.pause_kind,
           thread_controls.last_updated, thread_controls.taken_over_by,
           thread_controls.taken_over_at, thread_controls.last_takeover_at,
           thread_controls.last_human_reply_at, thread_controls.last_human_reply_by,
           reviewers.name AS holder_name
    FROM conversations JOIN thread_controls USING (thread_id)
    LEFT JOIN reviewers ON reviewers.id = thread_controls.taken_over_by
    WHERE thread_id = :thread_id
    """
)


@dataclass(frozen=True)
class Thread:
    """A conversation and its thread controls, with the name of who holds it."""

    thread_id: str
    channel: str
    state: str
    opted_out: bool
    attention_reason: str | None
    soft_no_count: int
    confusion_count: int
    appointment_status: str
    appointment_at: str | None
    contact_count: int
    facts: str  # a JSON object
    last_activity_at: str
    paused: bool
    paused_reason: str | None
    pause_kind: PauseKind | None
    last_updated: str
    taken_over_by: int | None
    taken_over_at: str | None
    last_takeover_at: str | None
    last_human_reply_at: str | None
    last_human_reply_by: int | None
    holder_name: str | None

    @classmethod
    def from_row(cls, row: Row) -> Thread:
        return cls(
            thread_id=row["thread_id"],
            channel=row["channel"],
            state=row["state"],
            opted_out=bool(row["opted_out"]),
            attention_reason=row["attention_reason"],
            soft_no_count=int(row["soft_no_count"]),
            confusion_count=int(row["confusion_count"]),
            appointment_status=row["appointment_status"],
            appointment_at=row["appointment_at"],
            contact_count=int(row["contact_count"]),
            facts=row["facts"],
            last_activity_at=row["last_activity_at"],
            paused=bool(row["paused"]),
            paused_reason=row["paused_reason"],
            pause_kind=PauseKind(row["pause_kind"]) if row["pause_kind"] else None,
            last_updated=row["last_updated"],
            taken_over_by=row["taken_over_by"],
            taken_over_at=row["taken_over_at"],
            last_takeover_at=row["last_takeover_at"],
            last_human_reply_at=row["last_human_reply_at"],
            last_human_reply_by=row["last_human_reply_by"],
            holder_name=row["holder_name"],
        )


def thread(tx: Tx, thread_id: str) -> Thread | None:
    """The thread's conversation and controls; None when it has no conversation yet."""
    row = tx.one(_THREAD, thread_id=thread_id)
    return None if row is None else Thread.from_row(row)


# the thread's lock: its thread_controls row, locked until the transaction ends (PostgreSQL)
_LOCK = sql(
    "SELECT thread_id FROM thread_controls WHERE thread_id = :thread_id",
    postgres="SELECT thread_id FROM thread_controls WHERE thread_id = :thread_id FOR UPDATE",
)


def lock(tx: Tx, thread_id: str) -> Thread | None:
    """Take the thread's lock, then read it as `thread` does; None when it has no
    conversation yet (and there is nothing to lock).

    A write transaction that decides on what a thread's pause, holder, opt-out or facts
    are takes it first, before any message row or the audit head: on PostgreSQL a second
    one on the same thread waits until this one ends and then reads what it left. The read
    is a statement of its own, after the lock, so it sees every column as committed by
    then. (SQLite runs one write transaction at a time: the lock is a plain read there.)
    """
    if tx.one(_LOCK, thread_id=thread_id) is None:
        return None
    return thread(tx, thread_id)


_TRY_LOCK = sql(
    "SELECT thread_id FROM thread_controls WHERE thread_id = :thread_id",
    postgres=(
        "SELECT thread_id FROM thread_controls WHERE thread_id = :thread_id FOR UPDATE SKIP LOCKED"
    ),
)
# the row without its lock: there, but held by another transaction
_LOCK_FREE = sql("SELECT thread_id FROM thread_controls WHERE thread_id = :thread_id")


def try_lock(tx: Tx, thread_id: str) -> bool:
    """Take the thread's lock unless another transaction holds it; False only when one
    does (a thread without a conversation has nothing to lock). It never waits, so a
    transaction already holding other rows (the sender's claim) takes it without the risk
    of a deadlock."""
    if tx.one(_TRY_LOCK, thread_id=thread_id) is not None:
        return True
    return tx.one(_LOCK_FREE, thread_id=thread_id) is None


async def read_thread(db: Reads, thread_id: str) -> Thread | None:
    """As `thread`, outside a write transaction."""
    row = await db.one(_THREAD, thread_id=thread_id)
    return None if row is None else Thread.from_row(row)


# a customer's first two texts at once: the second insert waits for the first's commit
# (PostgreSQL) and then inserts nothing
_INSERT_CONVERSATION = sql(
    """
    INSERT INTO conversations (thread_id, channel, state, last_activity_at, created_at)
    VALUES (:thread_id, :channel, :state, :now, :now)
    ON CONFLICT (thread_id) DO NOTHING
    """
)
_INSERT_CONTROLS = sql(
    """
    INSERT INTO thread_controls (thread_id, paused, last_updated)
    VALUES (:thread_id, 0, :now)
    """
)


def insert(tx: Tx, thread_id: str, channel: str, state: str, now: str) -> bool:
    """A new conversation in `state`, unpaused, with its thread controls; False (and
    nothing written) when another transaction made the thread's conversation first."""
    if not tx.run(_INSERT_CONVERSATION, thread_id=thread_id, channel=channel, state=state, now=now):
        return False
    tx.run(_INSERT_CONTROLS, thread_id=thread_id, now=now)
    return True


_EXISTS = sql("SELECT 1 FROM conversations WHERE thread_id = :thread_id")


async def exists(db: Reads, thread_id: str) -> bool:
    """Whether the thread has a conversation."""
    return await db.one(_EXISTS, thread_id=thread_id) is not None


_IDLE = sql(
    "SELECT thread_id FROM conversations WHERE state = :state AND last_activity_at < :cutoff"
)


async def idle(db: Reads, state: str, cutoff: str) -> list[str]:
    """The threads in `state` with no activity since `cutoff`."""
    return [row["thread_id"] for row in await db.all(_IDLE, state=state, cutoff=cutoff)]


_TOUCH = sql("UPDATE conversations SET last_activity_at = :now WHERE thread_id = :thread_id")


def touch(tx: Tx, thread_id: str, now: str) -> None:
    """The conversation was active `now`."""
    tx.run(_TOUCH, now=now, thread_id=thread_id)


_SET_STATE = sql(
    """
    UPDATE conversations SET state = :target, attention_reason = :reason
    WHERE thread_id = :thread_id AND state = :expected
    """
)


def set_state(
    tx: Tx, thread_id: str, *, expected: str, target: str, attention_reason: str | None
) -> int:
    """Move the conversation from `expected` to `target`; rows changed."""
    return tx.run(
        _SET_STATE,
        target=target,
        reason=attention_reason,
        thread_id=thread_id,
        expected=expected,
    )


# a pause and a resume each expect the state they change: a writer that read the thread
# before another changed it matches no row
_SET_PAUSE = sql(
    """
    UPDATE thread_controls SET paused = 1, paused_reason = :reason, pause_kind = :kind,
                               last_updated = :now
    WHERE thread_id = :thread_id AND paused = 0
    """
)
_LIFT_PAUSE = sql(
    """
    UPDATE thread_controls SET paused = 0, paused_reason = NULL, pause_kind = NULL,
                               last_updated = :now
    WHERE thread_id = :thread_id AND paused = 1 AND pause_kind = :kind
    """
)


def set_pause(tx: Tx, thread_id: str, *, reason: str | None, kind: str, now: str) -> int:
    """Pause the thread if it is not paused; rows changed (0: it is paused already)."""
    return tx.run(_SET_PAUSE, reason=reason, kind=kind, now=now, thread_id=thread_id)


def lift_pause(tx: Tx, thread_id: str, *, kind: str, now: str) -> int:
    """Lift the thread's pause if it is one of `kind`; rows changed (0: it is not)."""
    return tx.run(_LIFT_PAUSE, kind=kind, now=now, thread_id=thread_id)


_SET_OPTED_OUT = sql(
    """
    UPDATE conversations SET opted_out = :opted_out
    WHERE thread_id = :thread_id AND opted_out = :was
    """
)


def set_opted_out(tx: Tx, thread_id: str, opted_out: bool) -> int:
    """Opt the customer out (or in) if they are not already; rows changed."""
    return tx.run(
        _SET_OPTED_OUT, opted_out=int(opted_out), was=int(not opted_out), thread_id=thread_id
    )


_SET_COUNTERS = sql(
    """
    UPDATE conversations SET soft_no_count = :soft_no_count, confusion_count = :confusion_count
    WHERE thread_id = :thread_id
    """
)


def set_counters(tx: Tx, thread_id: str, *, soft_no_count: int, confusion_count: int) -> None:
    tx.run(
        _SET_COUNTERS,
        soft_no_count=soft_no_count,
        confusion_count=confusion_count,
        thread_id=thread_id,
    )


_SET_APPOINTMENT = sql(
    """
    UPDATE conversations SET appointment_status = :status, appointment_at = :at
    WHERE thread_id = :thread_id AND appointment_status = :expected
    """
)


def set_appointment(tx: Tx, thread_id: str, *, expected: str, status: str, at: str | None) -> int:
    """Move the appointment from `expected`; rows changed."""
    return tx.run(_SET_APPOINTMENT, status=status, at=at, thread_id=thread_id, expected=expected)


_SET_CONTACT = sql(
    """
    UPDATE conversations SET contact_count = :contact_count, soft_no_count = :soft_no_count,
                             confusion_count = :confusion_count,
                             appointment_status = :appointment_status,
                             appointment_at = :appointment_at
    WHERE thread_id = :thread_id
    """
)


def set_contact(
    tx: Tx,
    thread_id: str,
    *,
    contact_count: int,
    soft_no_count: int,
    confusion_count: int,
    appointment_status: str,
    appointment_at: str | None,
) -> None:
    """The counters and appointment of the conversation's current contact."""
    tx.run(
        _SET_CONTACT,
        contact_count=contact_count,
        soft_no_count=soft_no_count,
        confusion_count=confusion_count,
        appointment_status=appointment_status,
        appointment_at=appointment_at,
        thread_id=thread_id,
    )


_SET_SENTIMENT = sql("UPDATE conversations SET sentiment = :sentiment WHERE thread_id = :thread_id")


def set_sentiment(tx: Tx, thread_id: str, sentiment: str) -> None:
    tx.run(_SET_SENTIMENT, thread_id=thread_id, sentiment=sentiment)


_SET_FACTS = sql("UPDATE conversations SET facts = :facts WHERE thread_id = :thread_id")


def set_facts(tx: Tx, thread_id: str, facts: str) -> None:
    """Replace the conversation's facts (a JSON object, already merged by the caller)."""
    tx.run(_SET_FACTS, facts=facts, thread_id=thread_id)
