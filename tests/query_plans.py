"""Collect the statements the app runs, and find the full scans in their query plans."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from approval_bot.store import Store, Tx

# the tables that grow with history: a scan of one of them costs more every day
GROWING = frozenset(
    {
        "messages",
        "audit_log",
        "approvals",
        "draft_codes",
        "notifications",
        "event_outbox",
        "webhook_deliveries",
        "review_clocks",
    }
)
_NOT_DATA = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|CREATE)\b", re.I)
# one pass, so that a quote in a comment or "--" in a string is read as what it is
_TOKEN = re.compile(r"(--[^\n]*)|'(?:[^']|'')*'|(?<![\w.$])-?\d+(?:\.\d+)?(?![\w.])")
_TABLE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(?!(?:ON|WHERE|JOIN|LEFT|INNER|CROSS|"
    r"USING|SET|ORDER|GROUP|LIMIT|VALUES|SELECT|UNION|AND|OR|NATURAL|DEFAULT)\b)(\w+))?",
    re.I,
)
_SCAN = re.compile(r"^(?:SCAN|SEARCH) (\w+)(?: AS \w+)?\b(.*)$")
# columns with a handful of values: a search keyed on them alone reads a share of history
STATE_COLUMNS = frozenset({"type", "status", "event", "action", "channel", "actor"})
_CONSTRAINT = re.compile(r"\((.*)\)")
_COLUMN = re.compile(r"\b[a-z_]\w*\b")  # the schema's columns are lower case, AND is not
# a keyset cursor's range narrows nothing on a first page: `(timestamp,id)>(?,?)`
_CURSOR = re.compile(r"\([\w,]+\)>\(\?(?:,\?)*\)")


def shape(sql: str) -> str:
    """A statement with its literals replaced by `?`: one shape per statement in the code.

    The trace callback sees the statement with its parameters filled in, so this is also
    the statement as the code prepares it (up to the literals the code itself wrote).
    """
    return " ".join(_TOKEN.sub(lambda m: "" if m[1] else "?", sql).split())


@dataclass
class Tracer:
    """Every data statement the traced connections ran, by shape, with one real instance."""

    seen: dict[str, str]

    def __call__(self, sql: str) -> None:
        if not _NOT_DATA.match(sql):
            self.seen.setdefault(shape(sql), sql)


async def trace(db: Store, callback: Callable[[str], None] | None) -> int:
    """Install `callback` (None: remove it) on every connection `db` holds; returns how many.

    Found by type rather than by name, because which connections exist changes as the
    writes move to the writer thread: aiosqlite ones are set on their own thread; the
    writer's plain connection is shared across threads (check_same_thread=False).
    """
    count = 0
    for value in vars(db).values():
        if isinstance(value, aiosqlite.Connection):
            await value.set_trace_callback(callback)  # type: ignore[arg-type]  # None removes it
            count += 1
        elif isinstance(getattr(value, "_conn", None), sqlite3.Connection):
            value._conn.set_trace_callback(callback)
            count += 1
    return count


def aliases(sql: str) -> dict[str, str]:
    """The name each table goes by in `sql` (its alias, or its own name) → the table."""
    named: dict[str, str] = {}
    for table, alias in _TABLE.findall(sql):
        named[table] = table
        if alias:
            named[alias] = table
    return named


def scans(conn: Tx, sql: str, unbound: int = 0) -> list[str]:
    """The plan lines of `sql` that read a growing table whole, build an index for it, or
    search it on state columns alone (as many rows as, say, every inbound message)."""
    named = aliases(sql)
    found = []
    # a shape's parameters are left NULL: without statistics the plan does not depend on them
    for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * unbound):
        detail = row[3]
        match = _SCAN.match(detail)
        if match is None or named.get(match[1], match[1]) not in GROWING:
            continue
        constraint = _CONSTRAINT.search(match[2])
        keys = set(_COLUMN.findall(_CURSOR.sub("", constraint[1]))) if constraint else set()
        if detail.startswith("SCAN") or "AUTOMATIC" in match[2] or keys <= STATE_COLUMNS:
            found.append(detail)
    return found


def full_scans(
    conn: Tx, statements: Iterable[tuple[str, str]], allowed: dict[str, str]
) -> dict[str, Any]:
    """Each statement shape whose plan scans a growing table: with the literals the code
    bound, and with every literal a parameter (how the planner sees it when prepared).

    `allowed` maps a shape to why its scan is bounded; those are left out.
    """
    bad: dict[str, Any] = {}
    for shaped, instance in statements:
        if shaped in allowed:
            continue
        lines = scans(conn, instance)
        try:
            lines += scans(conn, shaped, shaped.count("?"))
        except sqlite3.OperationalError as error:
            # INDEXED BY a partial index whose condition the code writes as literals: the
            # shape lost them, and the instance's plan is the one the code gets
            if "no query solution" not in str(error):
                raise
        if lines:
            bad[shaped] = sorted(set(lines))
    return bad
