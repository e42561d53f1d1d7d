"""The stats page's reads: only the rollups (and the few failed sends), in one snapshot.

The funnel keeps the rollups (`rollups.py`) in the transaction of each change, so the page
reads a row per hour of the queue, per day, reviewer and rounded wait of the decisions, and
per day and size of the edits, however long the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import Row, Store
from ..sql import sql

_DEPTH_BEFORE = sql(
    "SELECT depth FROM queue_hours WHERE hour < :start_hour ORDER BY hour DESC LIMIT 1"
)
_DEPTH_NOW = sql("SELECT depth FROM queue_hours ORDER BY hour DESC LIMIT 1")
_HOURS = sql(
    """
    SELECT hour, depth, peak FROM queue_hours
    WHERE hour >= :start_hour AND hour <= :last_hour ORDER BY hour
    """
)
_ACTIONS = sql(
    """
    SELECT action, sum(decisions) AS n FROM decision_days
    WHERE day >= :first_day AND day <= :last_day GROUP BY action
    """
)
# a row per day and reviewer, as the page names them
_WAITS = sql(
    """
    SELECT day, coalesce(reviewers.name, nullif(reviewer_phone, ''), '?') AS reviewer, waits
    FROM decision_waits LEFT JOIN reviewers ON reviewers.id = decision_waits.reviewer_id
    WHERE day >= :first_day AND day <= :last_day
    """
)
_SLA = sql(
    """
    SELECT coalesce(reviewers.name, 'no reviewer') AS reviewer, decisions, before_remind,
           before_escalate, waits
    FROM review_sla_days LEFT JOIN reviewers ON reviewers.id = review_sla_days.reviewer_id
    WHERE day >= :first_day AND day <= :last_day
    """
)
_STEPS = sql(
    """
    SELECT step, sum(steps) AS n FROM review_step_days
    WHERE day >= :first_day AND day <= :last_day GROUP BY step
    """
)
_EDITS = sql(
    """
    SELECT edits, distances, shares, changes FROM edit_days
    WHERE day >= :first_day AND day <= :last_day
    """
)
# a send Twilio refused, and a delivery that failed afterwards, by Twilio's code
_FAILURES = sql(
    """
    SELECT coalesce(CAST(error_code AS TEXT), 'no code') AS code, count(*) AS n
    FROM messages
    WHERE type != 'INBOUND' AND updated_at >= :start AND updated_at < :end
      AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'))
    GROUP BY code ORDER BY n DESC, code
    """,
    postgres="""
    SELECT coalesce(CAST(error_code AS TEXT), 'no code') AS code, count(*) AS n
    FROM messages
    WHERE type != 'INBOUND' AND updated_at >= :start AND updated_at < :end
      AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'))
    GROUP BY coalesce(CAST(error_code AS TEXT), 'no code') ORDER BY n DESC, code
    """,
)


@dataclass(frozen=True)
class Window:
    """The stats page's window: its ends, its first and last hours and UTC days."""

    start: str
    end: str
    start_hour: str
    last_hour: str
    first_day: str
    last_day: str


@dataclass(frozen=True)
class Rollups:
    """The window's rollup rows, as plain values."""

    depth_at_start: int  # the queue's depth at the end of the last hour before the window
    pending_now: int  # and at the end of the latest hour kept
    hours: list[tuple[str, int, int]]  # (hour, depth at its end, peak)
    actions: dict[str, int]  # decisions by action
    waits: list[tuple[str, str, str]]  # (day, reviewer, JSON histogram of waits)
    sla: list[Row]  # review_sla_days: reviewer, decisions, before_remind, before_escalate, waits
    steps: list[tuple[str, int]]  # the review ladder's steps taken, by step
    edits: list[Row]  # edit_days: edits, distances, shares, changes
    failures: list[tuple[str, int]]  # failed sends and deliveries by Twilio's code


def _depth(row: Row | None) -> int:
    """The queue's depth an hour row ended with; 0 before any."""
    return int(row["depth"]) if row else 0


async def rollups(db: Store, window: Window) -> Rollups:
    """Everything the stats page reads for `window`, from one snapshot."""
    days: dict[str, Any] = {"first_day": window.first_day, "last_day": window.last_day}
    async with db.snapshot() as r:
        depth_at_start = _depth(await r.one(_DEPTH_BEFORE, start_hour=window.start_hour))
        hours = await r.all(_HOURS, start_hour=window.start_hour, last_hour=window.last_hour)
        pending_now = _depth(await r.one(_DEPTH_NOW))
        actions = await r.all(_ACTIONS, **days)
        waits = await r.all(_WAITS, **days)
        sla = await r.all(_SLA, **days)
        steps = await r.all(_STEPS, **days)
        edits = await r.all(_EDITS, **days)
        failures = await r.all(_FAILURES, start=window.start, end=window.end)
    return Rollups(
        depth_at_start=depth_at_start,
        pending_now=pending_now,
        hours=[(row["hour"], int(row["depth"]), int(row["peak"])) for row in hours],
        actions={str(row["action"]): int(row["n"]) for row in actions},
        waits=[(row["day"], row["reviewer"], row["waits"]) for row in waits],
        sla=sla,
        steps=[(str(row["step"]), int(row["n"])) for row in steps],
        edits=edits,
        failures=[(row["code"], int(row["n"])) for row in failures],
    )
