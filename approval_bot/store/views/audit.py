"""The audit page: filtered keyset pages of the log, its exports, its menus, and the reads
of the hash chain's walk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..base import Reads, Row, Tx
from ..sql import Query, sql
from .common import Page, as_dict

PAGE_SIZE = 50

_AUDIT_SELECT = """
    SELECT audit_log.id, audit_log.event, audit_log.actor, audit_log.actor_id,
           reviewers.name AS actor_name, audit_log.thread_id, audit_log.message_id,
           audit_log.metadata, audit_log.timestamp, audit_log.hash
    FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
"""
# the filter's clauses, in the order they are written, each with its parameter (if any)
_CLAUSES = {
    "thread_id": "audit_log.thread_id = :thread_id",
    "system_only": "audit_log.actor = 'System'",
    "actor_id": "audit_log.actor_id = :actor_id",
    "event": "audit_log.event = :event",
    "since": "audit_log.timestamp >= :since",
    "until": "audit_log.timestamp < :until",
    "before": "audit_log.id < :before",
    "after": "audit_log.id > :after",
}


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page narrows to; None means any."""

    thread_id: str | None = None
    actor_id: int | None = None
    system_only: bool = False
    event: str | None = None
    since: str | None = None
    until: str | None = None

    def params(self) -> dict[str, Any]:
        """The filter's clauses that narrow anything, by name, with their values."""
        given: dict[str, Any] = {}
        if self.thread_id:
            given["thread_id"] = self.thread_id
        if self.system_only:
            given["system_only"] = None
        elif self.actor_id is not None:
            given["actor_id"] = self.actor_id
        if self.event:
            given["event"] = self.event
        if self.since:
            given["since"] = self.since
        if self.until:
            given["until"] = self.until
        return given


@lru_cache(maxsize=256)
def _audit_query(clauses: tuple[str, ...], order: str) -> Query:
    where = " AND ".join(_CLAUSES[name] for name in clauses)
    return sql(
        f"{_AUDIT_SELECT} {f'WHERE {where}' if where else ''}"
        f" ORDER BY audit_log.id {order} LIMIT :limit"
    )


async def _rows(db: Reads, given: dict[str, Any], order: str, limit: int) -> list[Row]:
    q = _audit_query(tuple(given), order)
    return await db.all(q, **{k: v for k, v in given.items() if k != "system_only"}, limit=limit)


async def audit_page(
    db: Reads, where: AuditFilter, before: int | None = None, limit: int | None = None
) -> Page:
    """Audit rows matching the filter, newest first, older than the `before` id."""
    limit = limit or PAGE_SIZE
    given = where.params()
    if before is not None:
        given["before"] = before
    rows = await _rows(db, given, "DESC", limit + 1)
    items = [as_dict(row) for row in rows[:limit]]
    next_cursor = str(items[-1]["id"]) if len(rows) > limit else None
    return Page(items, next_cursor)


async def audit_batches(
    db: Reads, where: AuditFilter, batch: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every audit row matching the filter, oldest first, in batches (for exports)."""
    after = 0
    while True:
        rows = await _rows(db, {**where.params(), "after": after}, "", batch)
        if not rows:
            return
        yield [as_dict(row) for row in rows]
        after = rows[-1]["id"]


_FIRST_EVENT = sql("SELECT min(event) AS e FROM audit_log")
_NEXT_EVENT = sql("SELECT min(event) AS e FROM audit_log WHERE event > :after")


async def audit_events(db: Reads) -> list[str]:
    """The distinct event names in the audit log, for the filter's menu."""
    # a loose index scan: one seek per distinct event, not a pass over every row
    found: list[str] = []
    row = await db.one(_FIRST_EVENT)
    while row is not None and row["e"] is not None:
        found.append(row["e"])
        row = await db.one(_NEXT_EVENT, after=row["e"])
    return found


# --- the chain's walk: on a read-only connection of its own, in a thread ---------------------

_AFTER = sql("SELECT * FROM audit_log WHERE id > :after ORDER BY id LIMIT :limit")
_ROW = sql("SELECT * FROM audit_log WHERE id = :id")


def rows_after(tx: Tx, after: int, limit: int) -> list[Row]:
    """The audit rows after id `after`, in id order, at most `limit`."""
    return tx.all(_AFTER, after=after, limit=limit)


def row_at(tx: Tx, row_id: int) -> Row | None:
    """The audit row of this id, or None."""
    return tx.one(_ROW, id=row_id)
