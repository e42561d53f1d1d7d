"""The hash-chained audit log: append-only, and any edit or deletion is found."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from approval_bot import audit
from approval_bot.models import Actor
from approval_bot.store import Store, Tx
from tests.builders import make_draft, make_inbound

pytestmark = pytest.mark.anyio


async def _fill(db: Store) -> None:
    for n in range(3):
        await make_draft(db, await make_inbound(db, f"+1415555010{n}", body=f"message {n} 🙂"))


async def _verify(db: Store) -> audit.Verification:
    async with db.snapshot() as conn:
        return await audit.verify(conn)


def _tamper(db: Store, *statements: str) -> None:
    """What someone with the file could do: drop the guards and change rows."""
    with sqlite3.connect(db.path) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.execute(statement)


async def test_an_untouched_chain_verifies(db):
    await _fill(db)
    result = await _verify(db)
    assert result.ok
    assert result.rows == (await db.fetchone("SELECT count(*) AS n FROM audit_log"))["n"] > 10


async def test_each_row_links_to_the_one_before(db):
    await _fill(db)
    rows = await db.fetchall("SELECT * FROM audit_log ORDER BY id")
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
async def test_an_edited_row_is_found(db, statement):
    await _fill(db)
    _tamper(db, statement)
    result = await _verify(db)
    assert not result.ok
    assert result.broken_at == 5
    assert "hash does not match" in result.describe()


async def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(db):
    await _fill(db)
    row = dict(await db.fetchone("SELECT * FROM audit_log WHERE id = 5"))
    row["event"] = "Approved"
    forged = audit.row_hash(row)
    _tamper(db, f"UPDATE audit_log SET event = 'Approved', hash = '{forged}' WHERE id = 5")
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 6)
    assert "prev_hash" in result.describe()


async def test_a_deleted_row_is_found(db):
    await _fill(db)
    _tamper(db, "DELETE FROM audit_log WHERE id = 4")
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 4)
    assert "missing" in result.describe()


async def test_a_deleted_last_row_is_found(db):
    await _fill(db)
    last = (await db.fetchone("SELECT max(id) AS n FROM audit_log"))["n"]
    _tamper(db, f"DELETE FROM audit_log WHERE id = {last}")
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, last)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET event = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1"],
)
async def test_the_log_is_append_only(db, statement):
    await _fill(db)
    with sqlite3.connect(db.path) as conn, pytest.raises(sqlite3.IntegrityError, match="append"):
        conn.execute(statement)
    assert (await _verify(db)).ok


async def test_a_system_event_cannot_claim_a_reviewer(db):
    def change(conn: Tx) -> Any:
        with pytest.raises(ValueError):
            audit.record(conn, audit.AuditEvent("x", actor=Actor.SYSTEM, actor_id=1))

    await db.write(change)
