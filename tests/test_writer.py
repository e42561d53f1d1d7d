"""The one writer: whole transactions on its thread, decisions first, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from approval_bot.db import Priority

pytestmark = pytest.mark.anyio


def _insert(event_id: str):
    def body(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO webhook_events VALUES ('t', ?, 'now')", (event_id,))
        return event_id

    return body


async def test_a_transaction_returns_its_result_and_its_rows_are_visible_to_readers(db):
    assert await db.write(_insert("one")) == "one"
    rows = await db.fetchall("SELECT event_id FROM webhook_events")
    assert [row["event_id"] for row in rows] == ["one"]


async def test_decisions_run_before_drafts_and_drafts_before_bulk_each_in_arrival_order(db):
    started, release, order = threading.Event(), threading.Event(), []

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    def record(name: str):
        def body(conn: sqlite3.Connection) -> None:
            order.append(name)

        return body

    first = asyncio.create_task(db.write(blocker, priority=Priority.BULK))
    await asyncio.to_thread(started.wait, 10)
    queued = [
        ("bulk1", Priority.BULK),
        ("draft1", Priority.DRAFT),
        ("decision1", Priority.DECISION),
        ("bulk2", Priority.BULK),
        ("decision2", Priority.DECISION),
    ]
    tasks = [asyncio.create_task(db.write(record(n), priority=p)) for n, p in queued]
    await asyncio.sleep(0.05)  # every task has queued its transaction
    release.set()
    await asyncio.gather(first, *tasks)

    assert order == ["decision1", "decision2", "draft1", "bulk1", "bulk2"]


async def test_one_failing_transaction_in_a_group_commit_rolls_back_alone(db):
    started, release = threading.Event(), threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    def failing(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO webhook_events VALUES ('t', 'failed', 'now')")
        raise ValueError("refused")

    first = asyncio.create_task(db.write(blocker))
    await asyncio.to_thread(started.wait, 10)
    # queued together behind the blocker, so committed in one group
    tasks = [
        asyncio.create_task(db.write(_insert("a"))),
        asyncio.create_task(db.write(failing)),
        asyncio.create_task(db.write(_insert("b"))),
    ]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)

    assert results[1] == "a" and results[3] == "b"
    assert isinstance(results[2], ValueError) and str(results[2]) == "refused"
    rows = await db.fetchall("SELECT event_id FROM webhook_events ORDER BY event_id")
    assert [row["event_id"] for row in rows] == ["a", "b"]


async def test_a_constraint_error_reaches_the_caller_and_changes_nothing(db):
    await db.write(_insert("dup"))
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(_insert("dup"))
    assert len(await db.fetchall("SELECT * FROM webhook_events")) == 1
