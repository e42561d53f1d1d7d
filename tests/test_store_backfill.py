"""PostgreSQL's migrations say what SQLite's say: their back-fills, run over the same history,
write the same rows. A PostgreSQL database starts empty, so these statements meet rows only
here; this is what shows their translation right (0010's rollups, with its levenshtein())."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from approval_bot.store import Store, add_functions, load_migrations, split_statements
from approval_bot.store.copy import copy_database
from tests.test_stats_rollups import ROLLUPS, random_history

pytestmark = pytest.mark.anyio


def _statements(dialect: str, name: str) -> list[str]:
    """The migration's INSERT … SELECT statements (its back-fills)."""
    (migration,) = [m for m in load_migrations(dialect) if m.name == name]  # type: ignore[arg-type]
    found = []
    for statement in split_statements(migration.sql):  # a function's body is cut, but no
        code = "\n".join(  # INSERT starts inside one
            line for line in statement.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if code.upper().startswith("INSERT INTO"):
            found.append(code)
    return found


def _normal(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        out.append(
            tuple(json.loads(v) if isinstance(v, str) and v.startswith("{") else v for v in row)
        )
    return sorted(out, key=repr)


def _sqlite_back_fill(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        add_functions(conn)
        conn.execute("BEGIN")
        for table in ROLLUPS:
            conn.execute(f"DELETE FROM {table}")
        for statement in _statements("sqlite", "stats_rollups"):
            conn.execute(statement)
        found = {t: _normal(t, conn.execute(f"SELECT * FROM {t}").fetchall()) for t in ROLLUPS}
        conn.execute("ROLLBACK")
        return found
    finally:
        conn.close()


def _postgres_back_fill(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:  # one transaction, rolled back on leaving
        for table in ROLLUPS:
            conn.execute(f"DELETE FROM {table}")
        for statement in _statements("postgres", "stats_rollups"):
            conn.execute(statement.encode())
        found = {t: _normal(t, conn.execute(f"SELECT * FROM {t}").fetchall()) for t in ROLLUPS}
        conn.rollback()
        return found


async def test_the_stats_back_fill_writes_the_same_rollups_on_both(
    db: Store, db_path: Path, empty_pg_url: str
):
    await random_history(db, random.Random(4))
    copy_database(db_path, empty_pg_url)
    on_sqlite = _sqlite_back_fill(db_path)
    assert on_sqlite["edit_days"] and on_sqlite["decision_waits"] and on_sqlite["queue_hours"]
    assert _postgres_back_fill(empty_pg_url) == on_sqlite


def test_levenshtein_counts_characters_as_rapidfuzz(pg_url: str):
    from rapidfuzz.distance import Levenshtein

    pairs = [("kitten", "sitting"), ("", "abc"), ("héllo wörld", "hello world"), ("a" * 300, "b")]
    with psycopg.connect(pg_url) as conn:
        for a, b in pairs:
            (distance,) = conn.execute("SELECT levenshtein(%s, %s)", (a, b)).fetchone() or (None,)
            assert distance == Levenshtein.distance(a, b), (a[:20], b[:20])


# (migration, what to reset first, the back-fill's first and next statement, what to compare)
BACK_FILLS = [
    (
        "understanding",
        "UPDATE messages SET sender_role = NULL, mode = NULL",
        "UPDATE messages SET sender_role = 'customer'",
        "ALTER TABLE conversations ADD COLUMN soft_no_count",
        "SELECT id, sender_role, mode FROM messages",
    ),
    (
        "settled_texts",
        "UPDATE messages SET settled_at = NULL",
        "UPDATE messages SET settled_at",
        "CREATE INDEX messages_open_needs_review",
        "SELECT id, settled_at FROM messages",
    ),
    (
        "review_deadlines",
        "DELETE FROM review_clocks",
        "INSERT INTO review_clocks",
        "\x00",  # to the end
        "SELECT thread_id, draft_id, inbound_id, contact, started_at, next_step, due_at, urgency "
        "FROM review_clocks",
    ),
]


@pytest.mark.parametrize(("name", "reset", "start", "end", "select"), BACK_FILLS)
async def test_the_other_back_fills_write_the_same_rows_on_both(
    db: Store, db_path: Path, empty_pg_url: str, name: str, reset: str, start: str, end: str,
    select: str,
):  # fmt: skip
    await random_history(db, random.Random(4))
    copy_database(db_path, empty_pg_url)

    def part(dialect: str) -> str:
        (migration,) = [m for m in load_migrations(dialect) if m.name == name]  # type: ignore[arg-type]
        text = migration.sql
        stop = text.index(end) if end in text else len(text)
        return text[text.index(start) : stop]

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(reset)
        for statement in split_statements(part("sqlite")):
            conn.execute(statement)
        on_sqlite = sorted(conn.execute(select).fetchall(), key=repr)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    with psycopg.connect(empty_pg_url) as pg:
        pg.execute(reset)
        pg.execute(part("postgres").encode())
        on_postgres = sorted(pg.execute(select.encode()).fetchall(), key=repr)
        pg.rollback()
    assert on_sqlite, "the history leaves nothing to back-fill"
    assert on_postgres == on_sqlite
