"""The one writer: whole transactions on its thread, decisions first, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from approval_bot import inbound, review
from approval_bot.inbound import InboundSms
from approval_bot.models import Channel, DecisionChannel, Event
from approval_bot.store import Priority, Tx
from tests.builders import BUSINESS, make_draft, make_inbound, make_reviewer

pytestmark = pytest.mark.anyio


def _insert(event_id: str):
    def body(conn: Tx) -> str:
        conn.execute("INSERT INTO webhook_events VALUES ('t', ?, 'now')", (event_id,))
        return event_id

    return body


async def test_a_transaction_returns_its_result_and_its_rows_are_visible_to_readers(db):
    assert await db.write(_insert("one")) == "one"
    rows = await db.fetchall("SELECT event_id FROM webhook_events")
    assert [row["event_id"] for row in rows] == ["one"]


async def test_decisions_run_before_drafts_and_drafts_before_bulk_each_in_arrival_order(db):
    started, release, order = threading.Event(), threading.Event(), []

    def blocker(conn: Tx) -> None:
        started.set()
        release.wait(10)

    def record(name: str):
        def body(conn: Tx) -> None:
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


async def test_a_decision_arriving_during_a_bulk_group_runs_after_the_running_transaction(db):
    first_started, first_release = threading.Event(), threading.Event()
    group_started, group_release = threading.Event(), threading.Event()
    order: list[str] = []

    def blocker(conn: Tx) -> None:
        first_started.set()
        first_release.wait(10)

    def record(name: str, started=None, release=None):
        def body(conn: Tx) -> None:
            if started is not None:
                started.set()
                release.wait(10)
            conn.execute("INSERT INTO webhook_events VALUES ('t', ?, 'now')", (name,))
            order.append(name)

        return body

    first = asyncio.create_task(db.write(blocker, priority=Priority.BULK))
    await asyncio.to_thread(first_started.wait, 10)
    # three bulk transactions queue behind the blocker and form the next group
    bulk = [
        asyncio.create_task(db.write(record("bulk1", group_started, group_release))),
        asyncio.create_task(db.write(record("bulk2"))),
        asyncio.create_task(db.write(record("bulk3"))),
    ]
    await asyncio.sleep(0.05)
    first_release.set()
    await asyncio.to_thread(group_started.wait, 10)  # the group is running bulk1
    decision = asyncio.create_task(db.write(record("decision"), priority=Priority.DECISION))
    await asyncio.sleep(0.05)
    group_release.set()
    await asyncio.gather(first, decision, *bulk)

    assert order == ["bulk1", "decision", "bulk2", "bulk3"]
    rows = await db.fetchall("SELECT event_id FROM webhook_events ORDER BY rowid")
    assert [row["event_id"] for row in rows] == ["bulk1", "decision", "bulk2", "bulk3"]


async def test_one_failing_transaction_in_a_group_commit_rolls_back_alone(db):
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Tx) -> None:
        started.set()
        release.wait(10)

    def failing(conn: Tx) -> None:
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


async def test_a_transaction_that_raises_is_rolled_back_and_the_writer_goes_on(db):
    def boom(conn: Tx) -> None:
        conn.execute("INSERT INTO webhook_events VALUES ('t', 'e', 'now')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.write(boom, priority=Priority.DRAFT)

    await db.write(_insert("e"))
    assert len(await db.fetchall("SELECT * FROM webhook_events")) == 1


async def test_a_reviewers_approve_commits_before_the_webhooks_queued_ahead_of_it(db):
    ana = await make_reviewer(db, "Ana")
    draft = await make_draft(db, await make_inbound(db, "+14155550100"))
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Tx) -> None:
        started.set()
        release.wait(10)

    first = asyncio.create_task(db.write(blocker))
    await asyncio.to_thread(started.wait, 10)
    # a burst of customer texts, each a webhook's write, all queued behind the blocker
    texts = [
        InboundSms(f"SM{n:032x}", f"+1415555{n:04d}", BUSINESS, "Are you open?", Channel.SMS)
        for n in range(1000, 1040)
    ]
    webhooks = [asyncio.create_task(inbound.receive_sms(db, sms)) for sms in texts]
    await asyncio.sleep(0.05)  # every webhook has queued its transaction
    decision = review.Decision(ana.id, DecisionChannel.WEB)
    approval = asyncio.create_task(review.approve(db, draft, decision))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, approval, *webhooks)

    (approved,) = await db.fetchall(
        "SELECT id FROM audit_log WHERE event = ? AND message_id = ?", (Event.APPROVE, draft)
    )
    stored = await db.fetchall(
        "SELECT id FROM audit_log WHERE event = ? AND thread_id != ?",
        (Event.STORED, "+14155550100"),
    )
    assert len(stored) == len(texts)
    assert approved["id"] < min(row["id"] for row in stored)


async def test_a_read_during_someone_elses_snapshot_sees_what_was_committed_since(db):
    await db.write(lambda conn: conn.execute("CREATE TABLE t (x INTEGER)"))
    began, done = asyncio.Event(), asyncio.Event()

    async def long_snapshot() -> None:
        async with db.snapshot() as conn:
            await conn.execute("SELECT count(*) FROM t")
            began.set()
            await done.wait()

    holder = asyncio.create_task(long_snapshot())
    await began.wait()
    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
    reader = asyncio.create_task(db.fetchone("SELECT count(*) AS n FROM t"))
    await asyncio.sleep(0.05)
    done.set()
    await holder
    # the snapshot began before the insert; a plain read after the commit must see it
    row = await reader
    assert row is not None and row["n"] == 1
