"""The writer's lock: arrival order, except that urgent transactions (drafts) go first."""

from __future__ import annotations

import asyncio

import pytest

from approval_bot.db import WriteLock

pytestmark = pytest.mark.anyio


async def test_urgent_waiters_go_before_normal_ones_and_each_in_arrival_order():
    lock, order = WriteLock(), []
    await lock.acquire()

    async def take(name: str, urgent: bool) -> None:
        await lock.acquire(urgent=urgent)
        order.append(name)
        lock.release()

    tasks = [
        asyncio.create_task(take(name, urgent))
        for name, urgent in [("w1", False), ("d1", True), ("w2", False), ("d2", True)]
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)

    assert order == ["d1", "d2", "w1", "w2"]


async def test_a_cancelled_waiter_does_not_keep_the_lock():
    lock = WriteLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lock.release()

    await asyncio.wait_for(lock.acquire(), 5)  # free again


async def test_transactions_still_roll_back_and_release_the_lock(db):
    with pytest.raises(RuntimeError):
        async with db.transaction(urgent=True) as conn:
            await conn.execute("INSERT INTO webhook_events VALUES ('t', 'e', 'now')")
            raise RuntimeError("boom")

    async with db.transaction() as conn:
        await conn.execute("INSERT INTO webhook_events VALUES ('t', 'e', 'now')")
    assert len(await db.fetchall("SELECT * FROM webhook_events")) == 1
