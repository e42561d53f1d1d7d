"""The rollups /stats reads (`approval_bot.rollups` says what each counts): each write a
point lookup and an upsert on a primary key.

A histogram column is a JSON object of counts (TEXT on both backends); counting one key
up is `json_set` on SQLite and `jsonb_set` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .base import Tx
from .sql import sql

_LATEST_HOUR = sql("SELECT hour, depth FROM queue_hours ORDER BY hour DESC LIMIT 1")
_MOVE_HOUR = sql(
    """
    INSERT INTO queue_hours (hour, depth, peak) VALUES (:hour, :depth, :peak)
    ON CONFLICT (hour) DO UPDATE SET depth = excluded.depth,
        peak = CASE WHEN queue_hours.peak > excluded.peak
                    THEN queue_hours.peak ELSE excluded.peak END
    """
)


@dataclass(frozen=True)
class QueueHour:
    hour: str  # "YYYY-MM-DDTHH"
    depth: int


def latest_hour(tx: Tx) -> QueueHour | None:
    row = tx.one(_LATEST_HOUR)
    return None if row is None else QueueHour(str(row["hour"]), int(row["depth"]))


def write_hour(tx: Tx, hour: str, depth: int, peak: int) -> None:
    """The queue's depth at the end of `hour` so far; its peak the highest written for it."""
    tx.run(_MOVE_HOUR, hour=hour, depth=depth, peak=peak)


def _counted_up(table: str, column: str, key: str) -> str:
    """SQLite: the histogram `column` with the count under `:key` one higher."""
    path = f"""'$."' || :{key} || '"'"""
    existing = f"{table}.{column}"
    return f"json_set({existing}, {path}, coalesce(json_extract({existing}, {path}), 0) + 1)"


def _pg_counted_up(table: str, column: str, key: str) -> str:
    """PostgreSQL: as `_counted_up`."""
    existing = f"{table}.{column}::jsonb"
    return (
        f"jsonb_set({existing}, ARRAY[CAST(:{key} AS text)],"
        f" to_jsonb(coalesce(({existing} ->> CAST(:{key} AS text))::bigint, 0) + 1))::text"
    )


def _first(key: str) -> str:
    return f"json_object(:{key}, 1)"


def _pg_first(key: str) -> str:
    return f"json_build_object(CAST(:{key} AS text), 1)::text"


_DECIDED = sql(
    """
    INSERT INTO decision_days (day, action, channel, reviewer_id, reviewer_phone, decisions)
    VALUES (:day, :action, :channel, :reviewer_id, :reviewer_phone, 1)
    ON CONFLICT (day, action, channel, reviewer_id, reviewer_phone)
    DO UPDATE SET decisions = decision_days.decisions + 1
    """
)
_WAITED = """
    INSERT INTO decision_waits (day, reviewer_id, reviewer_phone, waits)
    VALUES (:day, :reviewer_id, :phone, {first})
    ON CONFLICT (day, reviewer_id, reviewer_phone) DO UPDATE SET waits = {counted}
"""
_WAITED_QUERY = sql(
    _WAITED.format(first=_first("key"), counted=_counted_up("decision_waits", "waits", "key")),
    postgres=_WAITED.format(
        first=_pg_first("key"), counted=_pg_counted_up("decision_waits", "waits", "key")
    ),
)


def count_decision(
    tx: Tx,
    *,
    day: str,
    action: str,
    channel: str,
    reviewer_id: int,
    reviewer_phone: str,
    wait_bucket: str,
) -> None:
    """One decision more on `day` for its action, channel and reviewer, and one more in
    the reviewer's histogram of waits under `wait_bucket`."""
    tx.run(
        _DECIDED,
        day=day,
        action=action,
        channel=channel,
        reviewer_id=reviewer_id,
        reviewer_phone=reviewer_phone,
    )
    tx.run(_WAITED_QUERY, day=day, reviewer_id=reviewer_id, phone=reviewer_phone, key=wait_bucket)


_HISTOGRAMS = (("distances", "distance"), ("shares", "share"), ("changes", "change"))
_EDITED = """
    INSERT INTO edit_days (day, edits, distances, shares, changes)
    VALUES (:day, 1, {firsts})
    ON CONFLICT (day) DO UPDATE SET edits = edit_days.edits + 1, {counted}
"""


def _edited(first: Callable[[str], str], counted_up: Callable[[str, str, str], str]) -> str:
    return _EDITED.format(
        firsts=", ".join(first(key) for _, key in _HISTOGRAMS),
        counted=", ".join(
            f"{column} = {counted_up('edit_days', column, key)}" for column, key in _HISTOGRAMS
        ),
    )


_EDITED_QUERY = sql(_edited(_first, _counted_up), postgres=_edited(_pg_first, _pg_counted_up))


def count_edit(tx: Tx, *, day: str, distance: str, share: str, change: str) -> None:
    """One edit more on `day`, counted in each histogram under its key."""
    tx.run(_EDITED_QUERY, day=day, distance=distance, share=share, change=change)
