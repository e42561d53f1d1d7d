"""Several instances on one database: jobs that run on one instance at a time
(`Store.exclusive`), and "approved → send now" that wakes the sender of every instance
(`Store.on_notify`, LISTEN/NOTIFY on PostgreSQL).

Two stores opened on one database stand for two instances. On SQLite one process owns
the file: `exclusive` always answers yes and nothing is notified (each instance wakes its
own sender, as before).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from approval_bot import jobs, review, workflow
from approval_bot.models import (
    Channel,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
)
from approval_bot.scheduler import SENDER_JOB_ID, once_across_instances
from approval_bot.store import Store, Tx, conversations, opened, sql
from approval_bot.store.notify import SEND_CHANNEL, notify_senders
from approval_bot.store.postgres import PostgresStore, lock_key
from tests.builders import first_start, make_draft, make_inbound, make_reviewer, status_of

THREAD = "+14155550100"
BUSINESS = "+14155550000"

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


@pytest.fixture
async def other(db: Store, database_target: str | Path):
    """A second instance's store on the same database."""
    async with opened(database_target, migrate=False) as second:
        yield second


# --- exclusive: one instance at a time --------------------------------------------------------


async def test_a_job_held_by_one_instance_is_refused_to_the_other(
    db: Store, other: Store, backend: str
):
    async with db.exclusive(jobs.LADDER_JOB_ID) as first:
        assert first
        async with other.exclusive(jobs.LADDER_JOB_ID) as second:
            assert second is (backend == "sqlite")
        async with other.exclusive(jobs.DIGEST_JOB_ID) as another_job:
            assert another_job  # each job has a lock of its own
    async with other.exclusive(jobs.LADDER_JOB_ID) as after:
        assert after  # released when the first instance's block ended


async def test_the_lock_is_released_when_the_block_raises(db: Store, other: Store):
    with pytest.raises(RuntimeError):
        async with db.exclusive(jobs.ARCHIVE_JOB_ID) as mine:
            assert mine
            raise RuntimeError("the job failed")
    async with other.exclusive(jobs.ARCHIVE_JOB_ID) as theirs:
        assert theirs


async def test_one_instance_holds_a_name_once(db: Store, backend: str):
    async with db.exclusive("job") as first, db.exclusive("job") as again:
        assert first and again is (backend == "sqlite")


async def test_a_job_runs_on_one_instance_and_the_other_skips_its_tick(
    db: Store, other: Store, backend: str, caplog: pytest.LogCaptureFixture
):
    ran: list[str] = []
    started, finish = asyncio.Event(), asyncio.Event()

    async def job(who: str) -> str:
        ran.append(who)
        started.set()
        await finish.wait()
        return who

    on_first = once_across_instances(db, jobs.ARCHIVE_JOB_ID, job)
    on_second = once_across_instances(other, jobs.ARCHIVE_JOB_ID, job)
    first = asyncio.create_task(on_first("first"))
    await started.wait()
    if backend == "postgres":
        with caplog.at_level("DEBUG", logger="approval_bot.scheduler"):
            assert await on_second("second") is None
        assert f"job {jobs.ARCHIVE_JOB_ID} skipped" in caplog.text
        assert ran == ["first"]
    finish.set()
    assert await first == "first"
    assert await on_second("second") == "second"  # the next tick, once it is free


async def test_the_lock_is_a_postgresql_advisory_lock_with_a_fixed_key(db: Store, backend: str):
    if backend != "postgres":
        pytest.skip("SQLite takes no lock")
    assert isinstance(db, PostgresStore)
    assert lock_key(jobs.LADDER_JOB_ID) == lock_key(jobs.LADDER_JOB_ID)
    assert lock_key(jobs.LADDER_JOB_ID) != lock_key(jobs.DIGEST_JOB_ID)
    held = sql(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND objid = CAST(:objid AS oid)"
    )
    objid = lock_key(jobs.LADDER_JOB_ID) % 2**32
    async with db.exclusive(jobs.LADDER_JOB_ID):
        assert (await db.one(held, objid=objid))["n"] == 1  # type: ignore[index]
    assert (await db.one(held, objid=objid))["n"] == 0  # type: ignore[index]


async def test_every_job_that_must_run_once_at_a_time_takes_its_lock(
    db: Store, other: Store, backend: str, make_settings
):
    """The registered jobs, each run while another instance holds its name: each skips."""
    if backend != "postgres":
        pytest.skip("on SQLite every run goes ahead")
    from approval_bot import event_delivery
    from approval_bot.drafting import DraftingService

    scheduler = AsyncIOScheduler(timezone="UTC")
    settings = make_settings()
    jobs.register(scheduler, db, settings, DraftingService.__new__(DraftingService))
    event_delivery.register_retention(scheduler, db, settings)
    names = [
        jobs.ARCHIVE_JOB_ID,
        jobs.DIGEST_JOB_ID,
        jobs.LADDER_JOB_ID,
        jobs.PRUNE_JOB_ID,
        jobs.PRUNE_KEYS_JOB_ID,
        jobs.RECOVERY_JOB_ID,
        event_delivery.RETENTION_JOB_ID,
    ]
    for name in names:
        job = scheduler.get_job(name)
        assert job is not None, name
        async with other.exclusive(name) as theirs:
            assert theirs
            assert await job.func(*job.args) is None, name  # skipped: nothing touched


# --- approved → send now, on every instance ---------------------------------------------------


def _pending_draft(tx: Tx) -> str:
    """A customer's text on a new thread and a draft reply to it, pending approval."""
    workflow.open_conversation(tx, THREAD, Channel.SMS)
    inbound = workflow.create_message(
        tx,
        type=MessageType.INBOUND,
        event=Event.STORED,
        thread_id=THREAD,
        sender=THREAD,
        receiver=BUSINESS,
        body="Are you open today?",
    )
    draft = workflow.create_message(
        tx,
        type=MessageType.DRAFT,
        event=Event.DRAFT_CREATED,
        thread_id=THREAD,
        sender=BUSINESS,
        receiver=THREAD,
        body="Yes, 9 to 5.",
        in_reply_to_id=inbound,
        draft_meta={"drafter": "test"},
    )
    workflow.change_status(
        tx,
        inbound,
        expected=MessageStatus.RECEIVED,
        target=MessageStatus.DRAFT_PENDING_APPROVAL,
        event=Event.DRAFT_CREATED,
        metadata={"draft_id": draft},
    )
    return draft


async def test_an_approval_on_one_instance_wakes_the_other(db: Store, other: Store, backend: str):
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    draft = await db.write(_pending_draft)
    woken = asyncio.Event()
    stop = other.on_notify(SEND_CHANNEL, woken.set)
    try:
        if backend == "postgres":
            await _listening(other)
        await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
        status = await db.one(sql("SELECT status FROM messages WHERE id = :id"), id=draft)
        assert status is not None and status["status"] == MessageStatus.APPROVED_TO_SEND
        if backend == "postgres":
            await asyncio.wait_for(woken.wait(), timeout=10)
        else:
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # one process: the approving request wakes its sender
    finally:
        stop()


async def test_a_rolled_back_approval_wakes_nobody(db: Store, other: Store, backend: str):
    if backend != "postgres":
        pytest.skip("nothing is notified on SQLite")
    woken = asyncio.Event()
    stop = other.on_notify(SEND_CHANNEL, woken.set)
    try:
        await _listening(other)

        def approve_then_fail(tx) -> None:
            notify_senders(tx)
            raise ValueError("rolled back")

        with pytest.raises(ValueError):
            await db.write(approve_then_fail)
        await asyncio.sleep(1.5)
        assert not woken.is_set()
        await db.write(notify_senders)
        await asyncio.wait_for(woken.wait(), timeout=10)
    finally:
        stop()


async def test_the_sender_of_each_instance_listens(
    db: Store, other: Store, backend: str, make_settings
):
    """Sender.schedule listens on the channel: a notification moves its job to now."""
    if backend != "postgres":
        pytest.skip("nothing is notified on SQLite")
    from approval_bot.gateways import SmsGateway
    from approval_bot.sending.send import Sender

    scheduler = AsyncIOScheduler(timezone="UTC")
    sender = Sender(other, cast(SmsGateway, object()), make_settings())
    sender.schedule(scheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(SENDER_JOB_ID)
        assert job is not None
        job.modify(next_run_time=job.next_run_time.replace(year=job.next_run_time.year + 1))
        later = scheduler.get_job(SENDER_JOB_ID).next_run_time
        await _listening(other)
        await db.write(notify_senders)
        for _ in range(100):
            if scheduler.get_job(SENDER_JOB_ID).next_run_time < later:
                break
            await asyncio.sleep(0.05)
        assert scheduler.get_job(SENDER_JOB_ID).next_run_time < later
    finally:
        await sender.stop()
        scheduler.shutdown(wait=False)


async def _listening(db: Store) -> None:
    """Until the store's listener LISTENs (it connects in the background)."""
    assert isinstance(db, PostgresStore)
    for _ in range(200):
        if SEND_CHANNEL in db._listener.listening:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the listener never listened")


# --- the server ends the pooled sessions ------------------------------------------------------


async def test_after_the_server_ends_every_session_the_next_write_and_reads_succeed(
    db: Store, backend: str, database_target: str | Path
):
    # a PostgreSQL restart, a failover or idle_session_timeout ends the pooled connections;
    # before, the next write and the next read each failed with the dead connection's
    # AdminShutdown (one 500 or failed sender pass per pooled connection)
    if backend != "postgres":
        pytest.skip("SQLite has no server to lose")
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    draft = await db.write(_pending_draft)
    status = sql("SELECT status FROM messages WHERE id = :id")
    assert (await db.one(status, id=draft)) is not None
    server = str(database_target)
    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        ended = await cursor.fetchone()
        assert ended is not None and ended[0] >= 2  # the write pool's and the read pool's

    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))

    row = await db.one(status, id=draft)
    assert row is not None and row["status"] == MessageStatus.APPROVED_TO_SEND
    async with db.snapshot() as snapshot:
        again = await snapshot.one(status, id=draft)
    assert again is not None and again["status"] == MessageStatus.APPROVED_TO_SEND


async def test_after_the_server_ends_the_lock_session_the_next_job_run_takes_its_lock(
    db: Store, backend: str, database_target: str | Path
):
    # before, each job run once across instances (archive, digests, the ladder, event
    # delivery, pruning, recovery) raised AdminShutdown once after a restart, an ERROR each
    if backend != "postgres":
        pytest.skip("SQLite has no server to lose")
    async with db.exclusive(jobs.LADDER_JOB_ID) as mine:
        assert mine
    server = str(database_target)
    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    async with db.exclusive(jobs.LADDER_JOB_ID) as again:
        assert again
    async with db.exclusive(jobs.DIGEST_JOB_ID) as another:
        assert another


# --- drafting on two instances ----------------------------------------------------------------


async def test_a_draft_that_failed_here_but_was_made_on_the_other_instance_flags_nothing(
    db: Store, other: Store
):
    # the recovery job on one instance drafts a text the other instance is drafting right
    # now; the other's draft is stored first, then this one's model call times out. Before,
    # the conversation was flagged "no draft could be made" beside its pending draft.
    from approval_bot.drafting import DraftingService, DraftUnavailable
    from approval_bot.metrics import Metrics

    await first_start(db)
    inbound = await make_inbound(db, THREAD)

    class DraftedElsewhereThenTimesOut:
        name = "slow"

        async def draft(self, context: object) -> object:
            await make_draft(other, inbound)  # the other instance's drafting finished
            raise DraftUnavailable("the model did not answer within 30 s")

    service = DraftingService(db, cast(Any, DraftedElsewhereThenTimesOut()), Metrics())

    assert await service.draft_thread(THREAD) is None

    thread = await conversations.read_thread(db, THREAD)
    assert thread is not None
    assert thread.state == ConversationState.ACTIVE and thread.attention_reason is None
    assert await status_of(db, inbound) == MessageStatus.DRAFT_PENDING_APPROVAL
    flagged = await db.all(
        sql("SELECT 1 FROM audit_log WHERE thread_id = :t AND event = :e"),
        t=THREAD,
        e=ConversationEvent.FLAGGED,
    )
    assert flagged == []


async def test_the_recovery_job_leaves_a_text_the_other_instance_is_drafting(
    db: Store, other: Store, backend: str
):
    # before, the other instance's recovery job drafted the text again while this one's
    # model call was still running: a second model call, and its draft thrown away
    if backend != "postgres":
        pytest.skip("one process owns a SQLite file: no other instance drafts there")
    from approval_bot.drafting import DraftingService
    from approval_bot.drafting.builtin import BuiltinDrafter
    from approval_bot.metrics import Metrics

    await first_start(db)
    inbound = await make_inbound(db, THREAD)
    asked = {"here": 0, "there": 0}
    started, finish = asyncio.Event(), asyncio.Event()

    class Counted:
        name = "builtin"

        def __init__(self, where: str) -> None:
            self.where = where

        async def draft(self, context: Any) -> Any:
            asked[self.where] += 1
            if self.where == "here":
                started.set()
                await finish.wait()  # the model is still thinking
            return await BuiltinDrafter().draft(context)

    here = DraftingService(db, cast(Any, Counted("here")), Metrics())
    there = DraftingService(other, cast(Any, Counted("there")), Metrics())
    here.schedule(THREAD)
    await asyncio.wait_for(started.wait(), 5)

    await jobs.recover_undrafted(other, there)
    await there.wait_idle()
    finish.set()
    await here.wait_idle()

    assert asked == {"here": 1, "there": 0}
    assert await status_of(db, inbound) == MessageStatus.DRAFT_PENDING_APPROVAL
    drafts = await db.all(
        sql("SELECT status FROM messages WHERE thread_id = :t AND type = 'DRAFT'"), t=THREAD
    )
    assert [row["status"] for row in drafts] == [MessageStatus.DRAFT_PENDING_APPROVAL]


async def test_the_recovery_job_drafts_a_text_nobody_is_drafting(db: Store, other: Store):
    from approval_bot.drafting import DraftingService
    from approval_bot.drafting.builtin import BuiltinDrafter
    from approval_bot.metrics import Metrics

    await first_start(db)
    inbound = await make_inbound(db, THREAD)
    there = DraftingService(other, BuiltinDrafter(), Metrics())

    assert await jobs.recover_undrafted(other, there) == 1
    await there.wait_idle()

    assert await status_of(db, inbound) == MessageStatus.DRAFT_PENDING_APPROVAL
