"""Both backends keep the store's promises: whole transactions, after-commit work only after
COMMIT, snapshots of one moment, priorities, one migration history, an append-only audit log.

Each test runs on SQLite and on PostgreSQL (the `store` fixture; PostgreSQL needs
TEST_DATABASE_URL, which scripts/test sets).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from approval_bot.store import (
    Migration,
    Priority,
    Query,
    SchemaTooNew,
    Store,
    Tx,
    at_transaction_end,
    call_after_commit,
    load_migrations,
    log_after_commit,
    open_store,
    opened,
    sql,
)
from approval_bot.store import migrate as migrate_module
from approval_bot.store.postgres import PostgresStore, PostgresUrl

from .conftest import database_url, postgres_url

pytestmark = pytest.mark.anyio

INSERT_EVENT = sql(
    "INSERT INTO webhook_events (provider, event_id, received_at) VALUES ('t', :id, 'now')"
)
EVENTS = sql("SELECT event_id FROM webhook_events ORDER BY event_id")
COUNT_EVENTS = sql("SELECT count(*) AS n FROM webhook_events")
INSERT_AUDIT = sql(
    "INSERT INTO audit_log (event, actor, metadata, timestamp, prev_hash, hash) "
    "VALUES ('Tested', 'System', '{}', 'now', :prev, :hash) RETURNING id"
)
UPDATE_AUDIT = sql("UPDATE audit_log SET event = 'Changed' WHERE id = :id")
DELETE_AUDIT = sql("DELETE FROM audit_log WHERE id = :id")


async def _events(db: Store) -> list[str]:
    return [row["event_id"] for row in await db.all(EVENTS)]


def _insert(event_id: str):
    def body(tx: Tx) -> str:
        tx.run(INSERT_EVENT, id=event_id)
        return event_id

    return body


async def test_a_write_returns_its_result_and_its_rows_are_visible(store: Store):
    assert await store.write(_insert("one")) == "one"
    assert await _events(store) == ["one"]


async def test_a_write_that_raises_leaves_nothing_and_its_callbacks_never_run(store: Store):
    called: list[str] = []

    def failing(tx: Tx) -> None:
        tx.run(INSERT_EVENT, id="lost")
        tx.after_commit(lambda: called.append("tx.after_commit"))
        call_after_commit(lambda: called.append("call_after_commit"))
        log_after_commit("never logged", {})
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await store.write(failing)
    await store.write(_insert("kept"))  # the next transaction is not disturbed
    assert await _events(store) == ["kept"]
    assert called == []


async def test_callbacks_and_logs_come_only_after_the_commit(
    store: Store, caplog: pytest.LogCaptureFixture
):
    seen: dict[str, Any] = {}

    def body(tx: Tx) -> None:
        tx.run(INSERT_EVENT, id="e")
        log_after_commit("committed line", {"event_id": "e"})
        tx.after_commit(lambda: seen.setdefault("tx", True))
        call_after_commit(lambda: seen.setdefault("call", True))
        seen["logged_inside"] = "committed line" in caplog.text
        seen["called_inside"] = "tx" in seen or "call" in seen

    with caplog.at_level(logging.INFO, logger="approval_bot.audit"):
        await store.write(body)
    assert seen == {"logged_inside": False, "called_inside": False, "tx": True, "call": True}
    assert "committed line" in caplog.text


async def test_a_callback_sees_the_committed_rows(store: Store):
    """After-commit work runs once the change is durable: another connection sees it."""
    counted: list[int] = []
    seen = threading.Event()

    def body(tx: Tx) -> None:
        tx.run(INSERT_EVENT, id="e")
        tx.after_commit(seen.set)

    await store.write(body)
    assert seen.is_set()
    counted.append((await store.one(COUNT_EVENTS))["n"])  # type: ignore[index]
    assert counted == [1]


async def test_closing_steps_run_inside_the_transaction(store: Store):
    def make():
        def step(tx: Tx) -> None:
            tx.run(INSERT_EVENT, id="closing")

        return step

    def body(tx: Tx) -> None:
        assert at_transaction_end("k", make) is at_transaction_end("k", make)
        tx.run(INSERT_EVENT, id="body")

    await store.write(body)
    assert await _events(store) == ["body", "closing"]
    assert at_transaction_end("k", make) is None  # outside a transaction


async def test_a_snapshot_sees_one_moment_while_a_write_commits(store: Store):
    await store.write(_insert("before"))
    async with store.snapshot() as view:
        first = await view.all(EVENTS)
        await store.write(_insert("during"))
        again = await view.all(EVENTS)
    assert [r["event_id"] for r in first] == [r["event_id"] for r in again] == ["before"]
    assert await _events(store) == ["before", "during"]


async def _one_writer(store: Store, store_url: str | Path) -> Store:
    """The same database with one writer thread, so the order of the queue is the order
    of the transactions (SQLite has one writer anyway)."""
    if isinstance(store, PostgresStore):
        return await PostgresStore.open(f"{store_url}?write_pool_size=1")
    return store


async def test_a_decision_queued_behind_bulk_writes_runs_first(store: Store, store_url: str | Path):
    db = await _one_writer(store, store_url)
    started, release, order = threading.Event(), threading.Event(), []

    def blocker(tx: Tx) -> None:
        started.set()
        release.wait(10)

    def record(name: str):
        def body(tx: Tx) -> None:
            order.append(name)

        return body

    try:
        first = asyncio.create_task(db.write(blocker, priority=Priority.BULK))
        await asyncio.to_thread(started.wait, 10)
        queued = [("bulk1", Priority.BULK), ("bulk2", Priority.BULK), ("draft", Priority.DRAFT)]
        queued.append(("decision", Priority.DECISION))
        tasks = []
        for name, priority in queued:
            tasks.append(asyncio.create_task(db.write(record(name), priority=priority)))
            await asyncio.sleep(0.01)  # each queued in this order
        assert db.queued_writes() >= len(queued)
        release.set()
        await asyncio.gather(first, *tasks)
    finally:
        if db is not store:
            await db.close()
    assert order == ["decision", "draft", "bulk1", "bulk2"]


async def test_the_audit_log_refuses_update_and_delete(store: Store):
    row_id = await store.write(
        lambda tx: tx.one(INSERT_AUDIT, prev="0" * 64, hash="1" * 64)["id"]  # type: ignore[index]
    )
    refused = (sqlite3.IntegrityError, psycopg.Error)
    for change in (UPDATE_AUDIT, DELETE_AUDIT):

        def attempt(tx: Tx, q: Query = change) -> int:
            return tx.run(q, id=row_id)

        with pytest.raises(refused, match="append-only"):
            await store.write(attempt)
    rows = await store.all(sql("SELECT event FROM audit_log"))
    assert [r["event"] for r in rows] == ["Tested"]


# migrations: one history, both backends


@pytest.fixture(params=["sqlite", "postgres"])
def empty_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "empty.sqlite3"
    return str(request.getfixturevalue("empty_pg_url"))


async def test_migrations_run_from_empty_to_latest_once(empty_target: str | Path):
    db = await open_store(empty_target)
    try:
        assert await db.schema_version() == 0
        applied = await db.migrate()
        assert applied == [m.version for m in load_migrations(db.dialect)]
        assert await db.schema_version() == len(load_migrations())
        assert await db.migrate() == []  # again: nothing to do
        rows = await db.all(sql("SELECT version, name FROM schema_migrations ORDER BY version"))
        assert [(r["version"], r["name"]) for r in rows] == [
            (m.version, m.name) for m in load_migrations()
        ]
    finally:
        await db.close()


async def test_a_database_newer_than_the_code_is_refused(empty_target: str | Path):
    newer = len(load_migrations()) + 1
    db = await open_store(empty_target)
    try:
        future = Migration(newer, "from_the_future", "CREATE TABLE later (x TEXT);")
        await db.migrate([*load_migrations(db.dialect), future])
        with pytest.raises(SchemaTooNew) as error:
            await db.migrate()
        assert error.value.database_version == newer
    finally:
        await db.close()
    with pytest.raises(SchemaTooNew):
        async with opened(empty_target):
            pass


def _columns_sqlite(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


def _columns_postgres(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


async def test_both_backends_have_the_same_tables_and_columns_in_order(db_path: Path, pg_url: str):
    async with opened(db_path):
        pass
    assert _columns_postgres(pg_url) == _columns_sqlite(db_path)


def test_the_postgres_history_must_match_sqlites(monkeypatch: pytest.MonkeyPatch):
    sqlite_set = migrate_module._read(migrate_module._folder("sqlite"))
    renamed = [*sqlite_set[:-1], Migration(sqlite_set[-1].version, "other_name", "")]
    monkeypatch.setattr(
        migrate_module, "_read", lambda folder: renamed if folder.name == "postgres" else sqlite_set
    )
    with pytest.raises(RuntimeError, match="differ from SQLite's"):
        load_migrations("postgres")


def test_a_gap_in_the_history_is_refused(tmp_path: Path):
    for name in ("0001_a.sql", "0003_c.sql"):
        (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(RuntimeError, match="without gaps"):
        migrate_module._read(tmp_path)  # a Path is a Traversable


# PostgreSQL only


async def test_postgres_retries_a_transaction_after_a_serialization_failure(pg_url: str):
    attempts: list[int] = []
    called: list[str] = []

    def body(tx: Tx) -> str:
        attempts.append(1)
        tx.run(INSERT_EVENT, id=f"try{len(attempts)}")
        tx.after_commit(lambda: called.append("once"))
        if len(attempts) == 1:
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return "done"

    async with opened(pg_url) as db:
        assert await db.write(body) == "done"
        assert await _events(db) == ["try2"]  # the first attempt was rolled back
    assert called == ["once"]


async def test_postgres_refuses_raw_sqlite_statements_with_a_clear_error(pg_url: str):
    async with opened(pg_url) as db:
        with pytest.raises(RuntimeError, match="only on the SQLite backend"):
            await db.fetchall("SELECT 1")
        async with db.snapshot() as view:
            with pytest.raises(RuntimeError, match="only on the SQLite backend"):
                await view.execute_fetchall("SELECT 1")
        with pytest.raises(RuntimeError, match="only on the SQLite backend"):
            await db.write(lambda tx: tx.execute("SELECT 1"))


async def test_postgres_snapshot_is_read_only(pg_url: str):
    async with opened(pg_url) as db, db.snapshot() as view:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await view.one(INSERT_EVENT, id="x")


async def test_postgres_pool_sizes_come_from_the_url(pg_url: str):
    parsed = PostgresUrl.parse(f"{pg_url}?pool_size=3&write_pool_size=2&application_name=t")
    assert (parsed.pool_size, parsed.write_pool_size) == (3, 2)
    assert "pool_size" not in parsed.conninfo and "application_name=t" in parsed.conninfo
    db = await PostgresStore.open(f"{pg_url}?pool_size=3&write_pool_size=2")
    try:
        info = db.info()
        assert info["backend"] == "postgresql"
        assert info["pool"]["size"] == 3 and info["writers"]["size"] == 2
    finally:
        await db.close()


async def test_an_unreachable_postgres_server_is_a_clear_error():
    from approval_bot.store import DatabaseUnavailable

    server = postgres_url()
    url = database_url(server, "approval_bot_no_such_database")
    with pytest.raises(DatabaseUnavailable, match="cannot connect to PostgreSQL"):
        await open_store(url)


async def test_concurrent_writes_to_one_row_all_count_and_many_inserts_every_row(store: Store):
    """On PostgreSQL several writer threads run at once: each increment still counts."""
    setup = sql("INSERT INTO review_step_totals (step, steps) VALUES ('reminded', 0)")
    bump = sql("UPDATE review_step_totals SET steps = steps + 1 WHERE step = 'reminded'")
    await store.write(lambda tx: tx.run(setup))
    await asyncio.gather(*(store.write(lambda tx: tx.run(bump)) for _ in range(40)))
    row = await store.one(sql("SELECT steps FROM review_step_totals"))
    assert row is not None and row["steps"] == 40

    await store.write(lambda tx: tx.many(INSERT_EVENT, [{"id": f"m{n}"} for n in range(5)]))
    assert await _events(store) == [f"m{n}" for n in range(5)]


async def test_postgres_runs_a_transaction_again_after_a_deadlock(pg_url: str):
    setup = sql(
        "INSERT INTO review_step_totals (step, steps) VALUES ('reminded', 0), ('escalated', 0)"
    )
    bump = sql("UPDATE review_step_totals SET steps = steps + 1 WHERE step = :step")
    both_hold_one = threading.Barrier(2)
    attempts: list[str] = []

    def crossing(first: str, second: str):
        def body(tx: Tx) -> None:
            attempts.append(first)
            tx.run(bump, step=first)
            if attempts.count(first) == 1:  # the first attempt: wait until the other holds
                both_hold_one.wait(10)
            tx.run(bump, step=second)  # one of the two is chosen as the deadlock's victim

        return body

    async with opened(pg_url) as db:
        await db.write(lambda tx: tx.run(setup))
        await asyncio.gather(
            db.write(crossing("reminded", "escalated")),
            db.write(crossing("escalated", "reminded")),
        )
        rows = await db.all(sql("SELECT step, steps FROM review_step_totals ORDER BY step"))
    assert [(r["step"], r["steps"]) for r in rows] == [("escalated", 2), ("reminded", 2)]
    assert len(attempts) == 3  # the victim ran again, whole
