"""The audit chain's head row (migration 0020): one linear chain whatever the number of
writers, dense ids, and a deleted or rewritten tail that `audit verify` finds.

The head is locked FOR UPDATE on PostgreSQL, so writer threads of one store and of two
stores (two instances) on one database take turns; on SQLite the one writer does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from approval_bot import audit
from approval_bot.store import (
    SqliteStore,
    Store,
    Tx,
    load_migrations,
    opened,
    sql,
)
from approval_bot.store import audit as audit_rows
from approval_bot.store.postgres import migrate_connection

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

IDS = sql("SELECT id FROM audit_log ORDER BY id")
HEAD = sql("SELECT last_id, last_hash FROM audit_chain")


def _append(n: int, per_transaction: int = 1):
    def body(tx: Tx) -> None:
        audit.record_many(
            tx,
            [audit.AuditEvent("Tested", metadata={"n": n, "k": k}) for k in range(per_transaction)],
        )

    return body


async def _verify(db: Store) -> audit.Verification:
    async with db.snapshot() as conn:
        return await audit.verify(conn)


def _tamper(db: Store, backend: str, target: str | Path, *statements: str) -> None:
    """What someone with the database could do: turn the guards off and change rows."""
    if backend == "sqlite":
        with sqlite3.connect(target) as conn:
            conn.execute("DROP TRIGGER audit_log_no_update")
            conn.execute("DROP TRIGGER audit_log_no_delete")
            for statement in statements:
                conn.execute(statement)
        return
    with psycopg.connect(str(target), autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement)


async def test_a_fresh_database_has_an_empty_head_and_an_append_moves_it(db: Store):
    assert [dict(r) for r in await db.all(HEAD)] == [{"last_id": 0, "last_hash": None}]
    await db.write(_append(0, per_transaction=3))
    assert [r["id"] for r in await db.all(IDS)] == [1, 2, 3]
    rows = await db.all(sql("SELECT id, hash FROM audit_log ORDER BY id"))
    assert [dict(r) for r in await db.all(HEAD)] == [{"last_id": 3, "last_hash": rows[-1]["hash"]}]
    assert (await _verify(db)).ok


async def test_concurrent_writers_make_one_chain_with_dense_ids(
    db: Store, backend: str, database_target: str | Path
):
    """Many transactions at once, on one store and (PostgreSQL) on a second store on the
    same database, as a second instance: every id from 1 to N, one chain that verifies."""
    async with opened(database_target, migrate=False) as other:
        stores = [db, other]
        batches = [
            store.write(_append(n, per_transaction=1 + n % 3))
            for n in range(120)
            for store in stores
        ]
        await asyncio.gather(*batches)
    total = sum(1 + n % 3 for n in range(120)) * 2
    assert [r["id"] for r in await db.all(IDS)] == list(range(1, total + 1))
    result = await _verify(db)
    assert result.ok, result.describe()
    assert result.rows == total
    head = await audit_rows.read_head(db)
    assert head is not None and head.last_id == total


async def test_a_deleted_tail_is_found_even_after_more_appends(
    db: Store, backend: str, database_target: str | Path
):
    await db.write(_append(0, per_transaction=5))
    _tamper(db, backend, database_target, "DELETE FROM audit_log WHERE id >= 4")
    result = await _verify(db)
    assert (result.ok, result.broken_at, result.rows) == (False, 4, 3)
    assert "rows 4 to 5 are missing" in result.describe()

    await db.write(_append(1, per_transaction=2))  # ids 6 and 7: the gap stays
    assert [r["id"] for r in await db.all(IDS)] == [1, 2, 3, 6, 7]
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 4)
    assert "row 4 is missing" in result.describe()


async def test_a_last_row_rewritten_with_its_own_hash_is_found(
    db: Store, backend: str, database_target: str | Path
):
    await db.write(_append(0, per_transaction=3))
    row = dict(await db.one(sql("SELECT * FROM audit_log WHERE id = 3")))  # type: ignore[arg-type]
    row["event"] = "Approved"
    forged = audit.row_hash(row)
    _tamper(
        db,
        backend,
        database_target,
        f"UPDATE audit_log SET event = 'Approved', hash = '{forged}' WHERE id = 3",
    )
    result = await _verify(db)
    assert (result.ok, result.broken_at, result.rows) == (False, 3, 2)
    assert "head" in result.describe()


async def test_a_row_appended_behind_the_heads_back_is_found(
    db: Store, backend: str, database_target: str | Path
):
    await db.write(_append(0, per_transaction=2))
    last = await db.one(sql("SELECT hash FROM audit_log WHERE id = 2"))
    assert last is not None
    row = {
        "id": 3,
        "event": "Approved",
        "actor": "System",
        "actor_id": None,
        "thread_id": None,
        "message_id": None,
        "metadata": "{}",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "prev_hash": last["hash"],
    }
    row["hash"] = audit.row_hash(row)
    _tamper(
        db,
        backend,
        database_target,
        "INSERT INTO audit_log (id, event, actor, metadata, timestamp, prev_hash, hash) "
        f"VALUES (3, 'Approved', 'System', '{{}}', '{row['timestamp']}', "
        f"'{row['prev_hash']}', '{row['hash']}')",
    )
    result = await _verify(db)
    assert (result.ok, result.broken_at) == (False, 3)
    assert "past the head" in result.describe()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_chain SET last_id = 1",
        "UPDATE audit_chain SET last_id = last_id",
        "DELETE FROM audit_chain",
    ],
)
async def test_the_head_only_moves_forward_and_stays(db: Store, statement: str):
    await db.write(_append(0, per_transaction=2))
    with pytest.raises(Exception, match="head"):
        await db.write(lambda tx: tx.run(sql(statement)))
    assert [r["last_id"] for r in await db.all(HEAD)] == [2]
    assert (await _verify(db)).ok


# --- migration 0020 fills the head from the log it finds ----------------------------------


def _chained(count: int) -> list[dict[str, Any]]:
    rows, prev = [], audit.GENESIS_HASH
    for n in range(1, count + 1):
        row: dict[str, Any] = {
            "id": n,
            "event": "Before",
            "actor": "System",
            "actor_id": None,
            "thread_id": None,
            "message_id": None,
            "metadata": "{}",
            "timestamp": f"2026-01-01T00:00:0{n}+00:00",
            "prev_hash": prev,
        }
        row["hash"] = prev = audit.row_hash(row)
        rows.append(row)
    return rows


_INSERT = (
    "INSERT INTO audit_log (id, event, actor, actor_id, thread_id, message_id, metadata,"
    " timestamp, prev_hash, hash) VALUES (%(id)s, %(event)s, %(actor)s, %(actor_id)s,"
    " %(thread_id)s, %(message_id)s, %(metadata)s, %(timestamp)s, %(prev_hash)s, %(hash)s)"
)


async def _log_before_0020(
    backend: str,
    db_path: Path,
    request: pytest.FixtureRequest,
    rows: list[dict[str, Any]],
    *,
    delete_last: bool,
) -> str | Path:
    """A database migrated to 0019 holding the chained `rows` (the last deleted, its id
    handed out, when `delete_last`); its path or URL."""
    before = [
        m
        for m in load_migrations("sqlite" if backend == "sqlite" else "postgres")
        if m.version < 20
    ]
    last = len(rows)
    if backend == "sqlite":
        store = await SqliteStore.open(db_path)
        await store.migrate(before)
        await store.close()
        with sqlite3.connect(db_path) as conn:
            conn.executemany(_INSERT.replace("%(", ":").replace(")s", ""), rows)
            if delete_last:
                conn.execute("DROP TRIGGER audit_log_no_delete")
                conn.execute(f"DELETE FROM audit_log WHERE id = {last}")
        return db_path
    target = str(request.getfixturevalue("empty_pg_url"))
    with psycopg.connect(target, autocommit=True) as conn:
        migrate_connection(conn, before)
        with conn.cursor() as cursor:
            cursor.executemany(_INSERT, rows)
        if delete_last:
            # the identity hands out past the deleted row, as `db copy` leaves it
            conn.execute(f"SELECT setval(pg_get_serial_sequence('audit_log', 'id'), {last})")
            conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            conn.execute(f"DELETE FROM audit_log WHERE id = {last}")
            conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    return target


async def test_0020_fills_the_head_from_the_log_and_keeps_a_deleted_tail_found(
    backend: str, db_path: Path, request: pytest.FixtureRequest
):
    """A log of five rows whose last was deleted (its id handed out) before 0020: the head
    says 5, with row 4's hash, so the gap stays found and the next append takes id 6."""
    rows = _chained(5)
    target = await _log_before_0020(backend, db_path, request, rows, delete_last=True)
    async with opened(target) as db:
        assert [dict(r) for r in await db.all(HEAD)] == [
            {"last_id": 5, "last_hash": rows[3]["hash"]}
        ]
        assert (await _verify(db)).broken_at == 5
        await db.write(_append(9))
        assert [r["id"] for r in await db.all(IDS)] == [1, 2, 3, 4, 6]
        result = await _verify(db)
        assert (result.ok, result.broken_at) == (False, 5)


async def test_0020_on_an_intact_log_continues_the_chain(
    backend: str, db_path: Path, request: pytest.FixtureRequest
):
    rows = _chained(3)
    target = await _log_before_0020(backend, db_path, request, rows, delete_last=False)
    async with opened(target) as db:
        await db.write(_append(9, per_transaction=2))
        assert [r["id"] for r in await db.all(IDS)] == [1, 2, 3, 4, 5]
        result = await _verify(db)
        assert result.ok and result.rows == 5
