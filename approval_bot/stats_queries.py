"""Read queries for the stats page; read-only, in one snapshot of the reader connection.

Queue depth over time is rebuilt from the audit log: every status change of a reply
carries `from` and `to` in its metadata, so each move into DRAFT_PENDING_APPROVAL is +1
and each move out of it -1, exactly, including a reply held by a pause and released.
The moves of one thread within one second are netted: an edit puts the new version in
and the old one out in one transaction, which is no moment when two were waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

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


# an edit-and-approve decides on the version that was edited: time runs from it
_DECIDED = """
    SELECT substr(approvals.timestamp, 1, 10) AS day, approvals.action,
           coalesce(reviewers.name, approvals.reviewer_phone, '?') AS reviewer,
           max(0.0, round(86400.0 * (julianday(approvals.timestamp) - julianday(coalesce(
               CASE WHEN approvals.action = 'EDIT' THEN (
                   SELECT edited.timestamp FROM messages AS edited
                   WHERE edited.in_reply_to_id = draft.in_reply_to_id
                     AND edited.superseded_by = draft.id
                   ORDER BY edited.timestamp DESC LIMIT 1)
               END,
               draft.timestamp))), 3)) AS waited
    FROM approvals
    JOIN messages AS draft ON draft.id = approvals.draft_id
    LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
    WHERE approvals.timestamp >= :start AND approvals.timestamp < :end
"""

# each edit's size: edit_distance and change_bucket are the Python functions of `stats`
_EDITS = """
    SELECT distance, share, change_bucket(share) AS bucket FROM (
        SELECT distance,
               CASE WHEN longest > 0 THEN distance * 1.0 / longest ELSE 0.0 END AS share
        FROM (
            SELECT edit_distance(before.body, after.body) AS distance,
                   max(length(before.body), length(after.body)) AS longest
            FROM audit_log
            JOIN messages AS after ON after.id = audit_log.message_id
            JOIN messages AS before
              ON before.id = json_extract(audit_log.metadata, '$.previous_version')
            WHERE audit_log.event = 'Edited'
              AND audit_log.timestamp >= :start AND audit_log.timestamp < :end))
"""


def _ranked(kind: str, source: str, value: str, group: str) -> str:
    """Per `group` of the rows of `source`: their count, and the values at the ranks that
    p50 and p95 read (`stats.positions`), as (kind, key, n, rank, value) rows."""
    return f"""
        SELECT '{kind}' AS kind, key, n, rank, value FROM (
            SELECT {group} AS key, {value} AS value,
                   row_number() OVER (PARTITION BY {group} ORDER BY {value}) - 1 AS rank,
                   count(*) OVER (PARTITION BY {group}) AS n
            FROM {source})
        WHERE rank IN (50 * (n - 1) / 100, 50 * (n - 1) / 100 + 1,
                       95 * (n - 1) / 100, 95 * (n - 1) / 100 + 1)
    """


def _counted(kind: str, source: str, group: str) -> str:
    return f"SELECT '{kind}', {group}, count(*), 0, NULL FROM {source} GROUP BY {group}"


@dataclass(frozen=True)
class EditSummary:
    """How much reviewers changed drafts: how many edits, their medians, a histogram."""

    count: int = 0
    median_distance: float | None = None
    median_share: float | None = None
    histogram: dict[str, int] = field(
        default_factory=lambda: {label: 0 for label, _ in stats.CHANGE_BUCKETS}
    )


@dataclass
class StatsData:
    """What the stats page shows for the window [start, end)."""

    start: datetime
    end: datetime
    depth: list[stats.DepthPoint]
    pending_now: int
    edits: EditSummary
    failures: list[tuple[str, int]]
    per_day: dict[str, stats.Summary] = field(default_factory=dict)
    per_reviewer: dict[str, stats.Summary] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


def _summaries(rows: Iterable[Any]) -> dict[str, stats.Summary]:
    """The count, p50 and p95 of each key, from `_ranked` rows, keys in sorted order."""
    counts: dict[str, int] = {}
    ranked: dict[str, dict[int, float]] = {}
    for _, key, n, rank, value in rows:
        counts[key] = int(n)
        ranked.setdefault(key, {})[int(rank)] = value
    return {
        key: stats.Summary(
            counts[key],
            stats.percentile_of(counts[key], 50, ranked[key]),
            stats.percentile_of(counts[key], 95, ranked[key]),
        )
        for key in sorted(counts)
    }


def _of_kind(rows: list[Any], kind: str) -> list[Any]:
    return [row for row in rows if row[0] == kind]


def _bucket_changes(
    rows: Iterable[Any], start: datetime, step: timedelta
) -> list[tuple[datetime, int]]:
    """Two changes per bucket, up to its highest point and then to its net: the same
    depth and peak per bucket as the moves themselves give."""
    changes: list[tuple[datetime, int]] = []
    before = 0  # the net of the buckets before, as the running depth counts from `start`
    for bucket, net, highest in rows:
        top = int(highest) - before
        changes += [(start + step * int(bucket), top), (start + step * int(bucket), net - top)]
        before += int(net)
    return changes


async def _fetch(conn: aiosqlite.Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def load_stats(db: Database, start: datetime, end: datetime, step: timedelta) -> StatsData:
    """Everything the stats page shows between `start` and `end`, from one snapshot.

    `end` is now or later: the queue's depth is counted back from today's.
    """
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    window = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "pending": PENDING,
        # the bucket of a moment is counted in whole microseconds from `start`, exactly
        "start_second": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "start_micro": start.microsecond,
        "step_micro": step // timedelta(microseconds=1),
    }
    async with db.snapshot() as conn:
        await conn.create_function("edit_distance", 2, _edit_distance, deterministic=True)
        await conn.create_function("change_bucket", 1, stats.change_bucket, deterministic=True)
        buckets = await _fetch(
            conn,
            f"""
            WITH moves AS MATERIALIZED (
                SELECT min(at) AS at, sum(delta) AS delta FROM ({_QUEUE_CHANGES}
                  AND audit_log.timestamp >= :start AND audit_log.timestamp < :end)
                GROUP BY thread_id, substr(at, 1, 19) HAVING sum(delta) != 0
            ), running AS (
                SELECT delta,
                       sum(delta) OVER (ORDER BY at ROWS UNBOUNDED PRECEDING) AS depth,
                       (CAST(round(86400 * (julianday(substr(at, 1, 19))
                                            - julianday(:start_second))) AS INTEGER)
                        * 1000000 + CAST(substr(at, 21, 6) AS INTEGER) - :start_micro)
                       / :step_micro AS bucket
                FROM moves
            )
            SELECT bucket, sum(delta) AS net, max(depth) AS highest
            FROM running GROUP BY bucket ORDER BY bucket
            """,
            window,
        )
        (row,) = await _fetch(
            conn,
            "SELECT count(*) AS n FROM messages WHERE status = :pending AND type != 'INBOUND'",
            window,
        )
        pending_now = int(row["n"])
        decisions = await _fetch(
            conn,
            f"""
            WITH decided AS MATERIALIZED ({_DECIDED})
            {_ranked("day", "decided", "waited", "day")}
            UNION ALL {_ranked("reviewer", "decided", "waited", "reviewer")}
            UNION ALL {_counted("action", "decided", "action")}
            """,
            window,
        )
        edits = await _edit_summary(conn, window)
        # a send Twilio refused, and a delivery that failed afterwards, by Twilio's code
        failures = [
            (r["code"], int(r["n"]))
            for r in await _fetch(
                conn,
                """
                SELECT coalesce(CAST(error_code AS TEXT), 'no code') AS code, count(*) AS n
                FROM messages
                WHERE type != 'INBOUND' AND updated_at >= :start AND updated_at < :end
                  AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'))
                GROUP BY code ORDER BY n DESC, code
                """,
                window,
            )
        ]

    counted = _of_kind(decisions, "action")
    changes = _bucket_changes(buckets, start, step)
    # the window ends after now, so the depth at its start is today's less its changes;
    # no need to read the whole history
    depth_at_start = pending_now - sum(delta for _, delta in changes)
    return StatsData(
        start=start,
        end=end,
        depth=stats.queue_depth(depth_at_start, changes, start, end, step),
        pending_now=pending_now,
        edits=edits,
        failures=failures,
        per_day=_summaries(_of_kind(decisions, "day")),
        per_reviewer=_summaries(_of_kind(decisions, "reviewer")),
        actions={
            action.value: next((int(r[2]) for r in counted if r[1] == action.value), 0)
            for action in ApprovalAction
        },
    )


def _edit_distance(before: str, after: str) -> int:
    return stats.edit_size(before, after).distance


async def _edit_summary(conn: aiosqlite.Connection, window: dict[str, Any]) -> EditSummary:
    rows = await _fetch(
        conn,
        f"""
        WITH sizes AS MATERIALIZED (SELECT 'all' AS everything, * FROM ({_EDITS}))
        {_ranked("distance", "sizes", "distance", "everything")}
        UNION ALL {_ranked("share", "sizes", "share", "everything")}
        UNION ALL {_counted("bucket", "sizes", "bucket")}
        """,
        window,
    )
    distance = _summaries(_of_kind(rows, "distance")).get("all")
    share = _summaries(_of_kind(rows, "share")).get("all")
    if distance is None or share is None:
        return EditSummary()
    histogram = EditSummary().histogram | {r[1]: int(r[2]) for r in _of_kind(rows, "bucket")}
    return EditSummary(distance.count, distance.p50, share.p50, histogram)
