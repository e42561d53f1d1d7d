"""Review deadlines: the policy in force (`review_policy`), each pending reply's clock
(`review_clocks`), the rollups of decisions and steps, and what the ladder reads in a batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..models import Channel
from .base import Row, Tx
from .sql import sql

# -- the policy


@dataclass(frozen=True)
class StoredPolicy:
    """The review policy as stored: minutes, the business hours as written, the zone."""

    remind_minutes: float
    escalate_minutes: float
    holding_minutes: float | None
    business_hours: str
    time_zone: str


_POLICY = sql("SELECT * FROM review_policy WHERE id = 1")
_STORE_POLICY = sql(
    """
    INSERT INTO review_policy (id, remind_minutes, escalate_minutes, holding_minutes,
                               business_hours, time_zone, updated_at)
    VALUES (1, :remind, :escalate, :holding, :hours, :zone, :now)
    ON CONFLICT (id) DO UPDATE SET
        remind_minutes = excluded.remind_minutes,
        escalate_minutes = excluded.escalate_minutes,
        holding_minutes = excluded.holding_minutes,
        business_hours = excluded.business_hours, time_zone = excluded.time_zone,
        updated_at = excluded.updated_at
    """
)


def policy(tx: Tx) -> StoredPolicy | None:
    """The policy the app started with; None before the first start."""
    row = tx.one(_POLICY)
    if row is None:
        return None
    return StoredPolicy(
        row["remind_minutes"],
        row["escalate_minutes"],
        row["holding_minutes"],
        row["business_hours"],
        row["time_zone"],
    )


def store_policy(
    tx: Tx,
    *,
    remind: float,
    escalate: float,
    holding: float | None,
    hours: str,
    zone: str,
    now: str,
) -> None:
    tx.run(
        _STORE_POLICY,
        remind=remind,
        escalate=escalate,
        holding=holding,
        hours=hours,
        zone=zone,
        now=now,
    )


# -- clocks


@dataclass(frozen=True)
class OpenClock:
    """A clock still running: its reply, the customer text it answers, since when, its step."""

    id: int
    draft_id: str
    inbound_id: str | None
    started_at: str
    step: str


@dataclass(frozen=True)
class ClockStart:
    """What a new clock needs from the reply that became pending."""

    thread_id: str
    in_reply_to_id: str | None
    contact_count: int


_OPEN_CLOCKS = sql(
    """
    SELECT id, draft_id, inbound_id, started_at, step FROM review_clocks
    WHERE closed_at IS NULL
    """
)
_RESCHEDULE = sql(
    """
    UPDATE review_clocks SET step = :step, next_step = :next_step, due_at = :due_at,
                             urgency = :urgency
    WHERE id = :id
    """
)
_CLOCK_START = sql(
    """
    SELECT messages.thread_id, messages.in_reply_to_id, conversations.contact_count
    FROM messages JOIN conversations ON conversations.thread_id = messages.thread_id
    WHERE messages.id = :draft_id
    """
)
_RUNNING = sql(
    """
    SELECT id, draft_id, inbound_id, started_at, step FROM review_clocks
    WHERE thread_id = :thread_id AND closed_at IS NULL
    """
)
_MOVE_TO = sql("UPDATE review_clocks SET draft_id = :draft_id WHERE id = :id")
_START = sql(
    """
    INSERT INTO review_clocks (thread_id, draft_id, inbound_id, contact, started_at,
                               next_step, due_at, urgency)
    VALUES (:thread_id, :draft_id, :inbound_id, :contact, :started_at, :next_step, :due_at,
            :urgency)
    """
)
_CLOSE = sql("UPDATE review_clocks SET closed_at = :at, outcome = 'CLOSED' WHERE id = :id")
_DECIDED = sql(
    """
    UPDATE review_clocks SET closed_at = :at, outcome = :outcome, reviewer_id = :reviewer_id,
                             business_seconds = :seconds
    WHERE id = :id
    """
)


def _open_clock(row: Row) -> OpenClock:
    return OpenClock(row["id"], row["draft_id"], row["inbound_id"], row["started_at"], row["step"])


def open_clocks(tx: Tx) -> list[OpenClock]:
    """Every clock still running."""
    return [_open_clock(row) for row in tx.all(_OPEN_CLOCKS)]


def reschedule(
    tx: Tx, clock_id: int, *, step: str, next_step: str | None, due_at: str, urgency: str
) -> None:
    tx.run(_RESCHEDULE, id=clock_id, step=step, next_step=next_step, due_at=due_at, urgency=urgency)


def clock_start(tx: Tx, draft_id: str) -> ClockStart:
    row = tx.one(_CLOCK_START, draft_id=draft_id)
    assert row is not None, draft_id  # a reply and its conversation, in this transaction
    return ClockStart(row["thread_id"], row["in_reply_to_id"], row["contact_count"])


def running(tx: Tx, thread_id: str) -> OpenClock | None:
    """The thread's open clock (at most one)."""
    row = tx.one(_RUNNING, thread_id=thread_id)
    return None if row is None else _open_clock(row)


def move_to(tx: Tx, clock_id: int, draft_id: str) -> None:
    """A new version of the same reply: the clock runs on, on it."""
    tx.run(_MOVE_TO, id=clock_id, draft_id=draft_id)


def start(
    tx: Tx,
    *,
    thread_id: str,
    draft_id: str,
    inbound_id: str | None,
    contact: int,
    started_at: str,
    next_step: str | None,
    due_at: str,
    urgency: str,
) -> None:
    tx.run(
        _START,
        thread_id=thread_id,
        draft_id=draft_id,
        inbound_id=inbound_id,
        contact=contact,
        started_at=started_at,
        next_step=next_step,
        due_at=due_at,
        urgency=urgency,
    )


def close(tx: Tx, clock_id: int, at: str) -> None:
    tx.run(_CLOSE, id=clock_id, at=at)


def close_decided(
    tx: Tx, clock_id: int, *, at: str, outcome: str, reviewer_id: int | None, seconds: float
) -> None:
    tx.run(_DECIDED, id=clock_id, at=at, outcome=outcome, reviewer_id=reviewer_id, seconds=seconds)


# -- rollups

# the day's decisions against the policy, with a JSON histogram of the waits by bucket
_SLA_DAY = sql(
    """
    INSERT INTO review_sla_days (day, reviewer_id, decisions, before_remind,
                                 before_escalate, waits)
    VALUES (:day, :reviewer, 1, :remind, :escalate, json_object(:key, 1))
    ON CONFLICT DO UPDATE SET
        decisions = decisions + 1,
        before_remind = before_remind + :remind,
        before_escalate = before_escalate + :escalate,
        waits = json_set(waits, '$."' || :key || '"',
                         coalesce(json_extract(waits, '$."' || :key || '"'), 0) + 1)
    """,
    postgres="""
    INSERT INTO review_sla_days (day, reviewer_id, decisions, before_remind,
                                 before_escalate, waits)
    VALUES (:day, :reviewer, 1, :remind, :escalate, jsonb_build_object(:key::text, 1)::text)
    ON CONFLICT (day, reviewer_id) DO UPDATE SET
        decisions = review_sla_days.decisions + 1,
        before_remind = review_sla_days.before_remind + :remind,
        before_escalate = review_sla_days.before_escalate + :escalate,
        waits = jsonb_set(
            review_sla_days.waits::jsonb, ARRAY[:key::text],
            to_jsonb(coalesce((review_sla_days.waits::jsonb ->> :key::text)::bigint, 0) + 1)
        )::text
    """,
)
_WAIT_BUCKET = sql(
    """
    INSERT INTO review_wait_buckets (le, decisions, seconds) VALUES (:le, 1, :seconds)
    ON CONFLICT (le) DO UPDATE SET decisions = review_wait_buckets.decisions + 1,
                                   seconds = review_wait_buckets.seconds + excluded.seconds
    """
)
_STEP_DAY = sql(
    """
    INSERT INTO review_step_days (day, step, steps) VALUES (:day, :step, :steps)
    ON CONFLICT (day, step) DO UPDATE SET steps = review_step_days.steps + excluded.steps
    """
)
_STEP_TOTAL = sql(
    """
    INSERT INTO review_step_totals (step, steps) VALUES (:step, :steps)
    ON CONFLICT (step) DO UPDATE SET steps = review_step_totals.steps + excluded.steps
    """
)


def count_decision(
    tx: Tx, *, day: str, reviewer: int, remind: int, escalate: int, key: str
) -> None:
    """One decision in the day's rollup: before the reminder, before escalation, its wait's
    histogram bucket `key`."""
    tx.run(_SLA_DAY, day=day, reviewer=reviewer, remind=remind, escalate=escalate, key=key)


def count_wait(tx: Tx, le: str, seconds: float) -> None:
    """One decision's business seconds in the /metrics histogram's bucket `le`."""
    tx.run(_WAIT_BUCKET, le=le, seconds=seconds)


def count_steps(tx: Tx, *, day: str, step: str, steps: int) -> None:
    """Steps of the ladder in the day's rollup and the all-time one."""
    tx.run(_STEP_DAY, day=day, step=step, steps=steps)
    tx.run(_STEP_TOTAL, step=step, steps=steps)


# -- the ladder's batches


@dataclass(frozen=True)
class DueClock:
    """A clock with a step due, with its reply (and the reply's code)."""

    id: int
    thread_id: str
    draft_id: str
    inbound_id: str | None
    contact: int
    started_at: str
    step: str
    next_step: str
    status: str
    body: str
    sender: str
    receiver: str
    channel: Channel
    code: str | None

    @classmethod
    def from_row(cls, row: Row) -> DueClock:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        return cls(**{**values, "channel": Channel(row["channel"])})


_DUE = sql(
    """
    SELECT review_clocks.id, review_clocks.thread_id, review_clocks.draft_id,
           review_clocks.inbound_id, review_clocks.contact, review_clocks.started_at,
           review_clocks.step, review_clocks.next_step,
           messages.status, messages.body, messages.sender, messages.receiver, messages.channel,
           draft_codes.code
    FROM review_clocks INDEXED BY review_clocks_due
    JOIN messages ON messages.id = review_clocks.draft_id
    LEFT JOIN draft_codes ON draft_codes.message_id = review_clocks.draft_id
    WHERE review_clocks.closed_at IS NULL AND review_clocks.next_step IS NOT NULL
      AND review_clocks.due_at <= :now
    ORDER BY review_clocks.due_at LIMIT :limit
    """,
    postgres="""
    SELECT review_clocks.id, review_clocks.thread_id, review_clocks.draft_id,
           review_clocks.inbound_id, review_clocks.contact, review_clocks.started_at,
           review_clocks.step, review_clocks.next_step,
           messages.status, messages.body, messages.sender, messages.receiver, messages.channel,
           draft_codes.code
    FROM review_clocks
    JOIN messages ON messages.id = review_clocks.draft_id
    LEFT JOIN draft_codes ON draft_codes.message_id = review_clocks.draft_id
    WHERE review_clocks.closed_at IS NULL AND review_clocks.next_step IS NOT NULL
      AND review_clocks.due_at <= :now
    ORDER BY review_clocks.due_at LIMIT :limit
    """,
)
_CLIMB = sql(
    """
    UPDATE review_clocks SET step = :step, next_step = :next_step, due_at = :due_at,
                             urgency = :urgency
    WHERE id = :id AND step = :was
    """
)
_HOLDING_SENT = sql(
    """
    SELECT 1 FROM review_clocks
    WHERE thread_id = :thread_id AND contact = :contact AND step = 'holding_sent' LIMIT 1
    """
)


def due(tx: Tx, now: str, limit: int) -> list[DueClock]:
    """Up to `limit` open clocks whose next step is due at `now`, the earliest first."""
    return [DueClock.from_row(row) for row in tx.all(_DUE, now=now, limit=limit)]


def climb_many(tx: Tx, moves: Iterable[tuple[str, str | None, str, str, int, str]]) -> None:
    """Each clock (step, next_step, due_at, urgency, id, the step it was at) one step up,
    unless it moved meanwhile."""
    tx.many(
        _CLIMB,
        (
            {
                "step": step,
                "next_step": next_step,
                "due_at": due_at,
                "urgency": urgency,
                "id": clock_id,
                "was": was,
            }
            for step, next_step, due_at, urgency, clock_id, was in moves
        ),
    )


def holding_sent(tx: Tx, thread_id: str, contact: int) -> bool:
    """Whether this contact of the thread already had the holding reply."""
    return tx.one(_HOLDING_SENT, thread_id=thread_id, contact=contact) is not None
