"""Read queries for the stats page; read-only, in one snapshot of the reader connection.

Queue depth over time is rebuilt from the audit log: every status change of a reply
carries `from` and `to` in its metadata, so each move into DRAFT_PENDING_APPROVAL is +1
and each move out of it -1, exactly, including a reply held by a pause and released.
The moves of one thread within one second are netted: an edit puts the new version in
and the old one out in one transaction, which is no moment when two were waiting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import stats
from .db import Database
from .models import ApprovalAction, MessageStatus

PENDING = MessageStatus.DRAFT_PENDING_APPROVAL

# +1 for a reply entering the queue, -1 for one leaving it; inbound messages are not replies
_QUEUE_CHANGES = """
    SELECT audit_log.timestamp AS at, messages.thread_id,
           (json_extract(audit_log.metadata, '$.to') IS :pending)
           - (json_extract(audit_log.metadata, '$.from') IS :pending) AS delta
    FROM audit_log JOIN messages ON messages.id = audit_log.message_id
    WHERE messages.type != 'INBOUND'
      AND instr(audit_log.metadata, :pending) > 0  -- cheap, before parsing the JSON
      AND (json_extract(audit_log.metadata, '$.to') = :pending
           OR json_extract(audit_log.metadata, '$.from') = :pending)
"""


@dataclass(frozen=True)
class Decided:
    day: str  # YYYY-MM-DD, UTC
    action: str  # an ApprovalAction
    reviewer: str
    waited_seconds: float


@dataclass
class StatsData:
    """What the stats page shows for the window [start, end)."""

    start: datetime
    end: datetime
    depth: list[stats.DepthPoint]
    pending_now: int
    decisions: list[Decided]
    edits: list[stats.EditSize]
    failures: list[tuple[str, int]]
    per_day: dict[str, stats.Summary] = field(default_factory=dict)
    per_reviewer: dict[str, stats.Summary] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def load_stats(db: Database, start: datetime, end: datetime, step: timedelta) -> StatsData:
    """Everything the stats page shows between `start` and `end`, from one snapshot.

    `end` is now or later: the queue's depth is counted back from today's.
    """
    window = {"start": start.isoformat(), "end": end.isoformat(), "pending": PENDING}
    async with db.snapshot() as conn:
        async with conn.execute(
            f"""
            SELECT min(at) AS at, sum(delta) AS delta FROM ({_QUEUE_CHANGES}
              AND audit_log.timestamp >= :start AND audit_log.timestamp < :end)
            GROUP BY thread_id, substr(at, 1, 19) HAVING sum(delta) != 0
            ORDER BY at
            """,
            window,
        ) as cursor:
            changes = [(_time(r["at"]), int(r["delta"])) for r in await cursor.fetchall()]
        async with conn.execute(
            """
            SELECT count(*) AS n FROM messages WHERE status = :pending AND type != 'INBOUND'
            """,
            window,
        ) as cursor:
            row = await cursor.fetchone()
        pending_now = int(row["n"]) if row else 0
        # the window ends after now, so the depth at its start is today's less its changes;
        # no need to read the whole history
        depth_at_start = pending_now - sum(delta for _, delta in changes)
        # an edit-and-approve decides on the version that was edited: time runs from it
        async with conn.execute(
            """
            SELECT substr(approvals.timestamp, 1, 10) AS day, approvals.action,
                   coalesce(reviewers.name, approvals.reviewer_phone, '?') AS reviewer,
                   round(86400.0 * (julianday(approvals.timestamp) - julianday(coalesce(
                       CASE WHEN approvals.action = 'EDIT' THEN (
                           SELECT edited.timestamp FROM messages AS edited
                           WHERE edited.in_reply_to_id = draft.in_reply_to_id
                             AND edited.superseded_by = draft.id
                           ORDER BY edited.timestamp DESC LIMIT 1)
                       END,
                       draft.timestamp))), 3) AS waited
            FROM approvals
            JOIN messages AS draft ON draft.id = approvals.draft_id
            LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
            WHERE approvals.timestamp >= :start AND approvals.timestamp < :end
            """,
            window,
        ) as cursor:
            decisions = [
                Decided(day, action, reviewer, max(0.0, waited))
                for day, action, reviewer, waited in await cursor.fetchall()
            ]
        async with conn.execute(
            """
            SELECT before.body AS before, after.body AS after
            FROM audit_log
            JOIN messages AS after ON after.id = audit_log.message_id
            JOIN messages AS before
              ON before.id = json_extract(audit_log.metadata, '$.previous_version')
            WHERE audit_log.event = 'Edited'
              AND audit_log.timestamp >= :start AND audit_log.timestamp < :end
            """,
            window,
        ) as cursor:
            edits = [stats.edit_size(r["before"], r["after"]) for r in await cursor.fetchall()]
        # a send Twilio refused, and a delivery that failed afterwards, by Twilio's code
        async with conn.execute(
            """
            SELECT coalesce(CAST(error_code AS TEXT), 'no code') AS code, count(*) AS n
            FROM messages
            WHERE type != 'INBOUND' AND updated_at >= :start AND updated_at < :end
              AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'))
            GROUP BY code ORDER BY n DESC, code
            """,
            window,
        ) as cursor:
            failures = [(r["code"], int(r["n"])) for r in await cursor.fetchall()]

    data = StatsData(
        start=start,
        end=end,
        depth=stats.queue_depth(depth_at_start, changes, start, end, step),
        pending_now=pending_now,
        decisions=decisions,
        edits=edits,
        failures=failures,
    )
    data.per_day = stats.summarize_by((d.day, d.waited_seconds) for d in decisions)
    data.per_reviewer = stats.summarize_by((d.reviewer, d.waited_seconds) for d in decisions)
    counted = Counter(d.action for d in decisions)
    data.actions = {action.value: counted.get(action.value, 0) for action in ApprovalAction}
    return data
