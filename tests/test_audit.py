"""The hash-chained audit log: append-only, and any edit or deletion is found."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from approval_bot import audit
from approval_bot.models import Actor
from approval_bot.store import Store, Tx
from approval_bot.store.sql import sql
from tests.builders import make_draft, make_inbound

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


async def _fill(db: Store) -> None:
    for n in range(3):
        await make_draft(db, await make_inbound(db, f"+1415555010{n}", body=f"message {n} 🙂"))


async def _verify(db: Store) -> audit.Verification:
    async with db.snapshot() as conn:
        return await audit.verify(conn)


@contextmanager
def _connection(target: str | Path) -> Iterator[Any]:
    """A connection of the driver's own to the test's database, outside the store."""
    if isinstance(target, Path):
        with closing(sqlite3.connect(target)) as conn, conn:
            yield conn
    else:
        with psycopg.connect(target, autocommit=True) as pg:
            yield pg


def _tamper(target: str | Path, *statements: str) -> None:
    """What someone with the file (or the database's owner) could do: drop the guards and
    change rows."""
    on = "" if isinstance(target, Path) else " ON audit_log"
    with _connection(target) as conn:
        conn.execute(f"DROP TRIGGER audit_log_no_update{on}")
        conn.execute(f"DROP TRIGGER audit_log_no_delete{on}")
        for statement in statements:
            conn.execute(statement)


async def _one(db: Store, text: str) -> Any:
    row = await db.one(sql(text))
    assert row is not None
    return row


async def test_an_untouched_chain_verifies(db):
    await _fill(db)
    result = await _verify(db)
    assert result.ok
    assert result.rows == (await _one(db, "SELECT count(*) AS n FROM audit_log"))["n"] > 10


async def test_each_row_links_to_the_one_before(db):
    await _fill(db)
    rows = await db.all(sql("SELECT * FROM audit_log ORDER BY id"))
    assert rows[0]["prev_hash"] == audit.GENESIS_HASH
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
        assert after["id"] == before["id"] + 1


@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE audit_log SET metadata = \'{"to":"SENT"}\' WHERE id = 5',
        "UPDATE audit_log SET actor = 'Human' WHERE id = 5",
        "UPDATE audit_log SET timestamp = '2020-01-01T00:00:00+00:00' WHERE id = 5",
        "UPDATE audit_log SET message_id = 'other' WHERE id = 5",
    ],
)
async def test_an_edited_row_is_found(db, database_target, statement):
    await _fill(db)
    _tamper(database_target, statement)
    result = await _verify(db)
    assert not result.ok
    assert result.broken_at == 5
    assert "hash does not match" in result.describe()


async def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(db, database_target):
    await _fill(db)
    row = dict(await _one(db, "SELECT * FROM audit_log WHERE id = 5"))
    row["event"] = "Approved"
    forged = audit.row_hash(row)
    _tamper(
        database_target, f"UPDATE audit_log SET event = 'Approved', hash = '{forged}' WHERE id = 5"
    )
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 6)
    assert "prev_hash" in result.describe()


async def test_a_deleted_row_is_found(db, database_target):
    await _fill(db)
    _tamper(database_target, "DELETE FROM audit_log WHERE id = 4")
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 4)
    assert "missing" in result.describe()


async def test_a_deleted_last_row_is_found(db, database_target):
    await _fill(db)
    last = (await _one(db, "SELECT max(id) AS n FROM audit_log"))["n"]
    _tamper(database_target, f"DELETE FROM audit_log WHERE id = {last}")
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, last)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET event = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1"],
)
async def test_the_log_is_append_only(db, database_target, statement):
    await _fill(db)
    refused = (sqlite3.IntegrityError, psycopg.errors.RestrictViolation)
    with _connection(database_target) as conn, pytest.raises(refused, match="append"):
        conn.execute(statement)
    assert (await _verify(db)).ok


async def test_a_system_event_cannot_claim_a_reviewer(db):
    def change(conn: Tx) -> Any:
        with pytest.raises(ValueError):
            audit.record(conn, audit.AuditEvent("x", actor=Actor.SYSTEM, actor_id=1))

    await db.write(change)
