"""`approval-bot db copy`: a SQLite history into an empty PostgreSQL database, and back out
as it went in: every row of every table, the sequences past the copied ids, the chain whole."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from approval_bot import cli
from approval_bot.store import opened, sql
from approval_bot.store.copy import CopyRefused, copy_database

from .history_seed import REVIEWERS, seed_history

pytestmark = pytest.mark.anyio


async def _history(path: Path) -> None:
    async with opened(path):
        pass
    with sqlite3.connect(path) as conn:
        for reviewer_id, phone in REVIEWERS:
            conn.execute(
                "INSERT INTO reviewers (id, name, phone, password_hash, created_at) "
                "VALUES (?, ?, ?, 'x', '2026-01-01T00:00:00+00:00')",
                (reviewer_id, f"Reviewer {reviewer_id}", phone),
            )
    seed_history(str(path), threads=12, rounds=3, days=5)


def _rows_sqlite(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


def _rows_postgres(url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


async def test_a_copy_keeps_every_row_and_the_chain_and_moves_the_sequences(
    db_path: Path, empty_pg_url: str, capsys: pytest.CaptureFixture[str]
):
    await _history(db_path)
    argv = ["db", "copy", "--from", f"sqlite:///{db_path}", "--to", empty_pg_url]
    assert await asyncio.to_thread(cli.main, argv) == 0
    out = capsys.readouterr().out
    assert "audit log verified on the target" in out and "hash chain intact" in out

    with sqlite3.connect(db_path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT IN ('sqlite_sequence', 'schema_migrations')"
            )
        ]
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        audit_rows = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    assert messages > 0 and audit_rows > 0
    for table in tables:
        assert _rows_postgres(empty_pg_url, table) == _rows_sqlite(db_path, table), table
    printed = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
    assert printed["messages"] == str(messages) and printed["audit_log"] == str(audit_rows)

    # a new row on the target takes the next id, past the copied ones
    async with opened(empty_pg_url) as db:
        new_id = await db.write(
            lambda tx: tx.one(
                sql(
                    "INSERT INTO audit_log (event, actor, metadata, timestamp, prev_hash, hash) "
                    "VALUES ('After', 'System', '{}', 'now', :p, :h) RETURNING id"
                ),
                p="0" * 64,
                h="f" * 64,
            )["id"]  # type: ignore[index]
        )
    assert new_id == audit_rows + 1


async def test_a_second_copy_into_the_same_target_is_refused(db_path: Path, empty_pg_url: str):
    await _history(db_path)
    copy_database(db_path, empty_pg_url)
    with pytest.raises(CopyRefused, match="not empty"):
        copy_database(db_path, empty_pg_url)


async def test_a_broken_chain_is_not_copied(db_path: Path, empty_pg_url: str):
    await _history(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET event = 'Forged' WHERE id = 2")
    with pytest.raises(CopyRefused, match="audit log broken after the copy at row 2"):
        copy_database(db_path, empty_pg_url)
    assert _rows_postgres(empty_pg_url, "messages") == []  # nothing was kept


def test_only_sqlite_to_postgresql(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    url = "postgresql://h/d"
    assert cli.main(["db", "copy", "--from", url, "--to", url]) == 1
    assert "copies from sqlite" in capsys.readouterr().err


async def test_a_nul_that_sqlite_kept_is_copied_as_the_replacement_character(
    db_path: Path, empty_pg_url: str, capsys: pytest.CaptureFixture[str]
):
    # SQLite stored a NUL before the edges refused it (a UTF-16 file piped to
    # `directive set -`, a reply body sent with \u0000); PostgreSQL's text columns refuse
    # it, and the copy stopped with psycopg's "cannot contain NUL (0x00) bytes"
    await _history(db_path)
    with sqlite3.connect(db_path) as conn:
        (message_id,) = conn.execute(
            "SELECT id FROM messages WHERE type = 'INBOUND' ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE messages SET body = ? WHERE id = ?", ("Open\x00 on Sunday?", message_id)
        )
        conn.execute(
            "INSERT INTO directives (scope, body, updated_at) VALUES ('global', ?, ?) "
            "ON CONFLICT (scope) DO UPDATE SET body = excluded.body",
            ("B\x00e\x00 brief.", "2026-01-01T00:00:00+00:00"),
        )
    argv = ["db", "copy", "--from", f"sqlite:///{db_path}", "--to", empty_pg_url]

    assert await asyncio.to_thread(cli.main, argv) == 0

    out = capsys.readouterr().out
    assert "audit log verified on the target" in out
    assert "messages.body: 1 value held a NUL character" in out
    assert "directives.body: 1 value held a NUL character" in out
    with psycopg.connect(empty_pg_url) as conn:
        body = conn.execute("SELECT body FROM messages WHERE id = %s", (message_id,)).fetchone()
        directive = conn.execute("SELECT body FROM directives WHERE scope = 'global'").fetchone()
    assert body == ("Open\ufffd on Sunday?",)
    assert directive == ("B\ufffde\ufffd brief.",)
