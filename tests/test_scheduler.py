"""The scheduler: interval jobs that coalesce, and a sender that can be woken at once."""

from __future__ import annotations

import asyncio

import pytest

from approval_bot.scheduler import SENDER_JOB_ID, build_scheduler, wake_sender

pytestmark = pytest.mark.anyio


async def test_waking_the_sender_runs_it_long_before_its_next_tick():
    runs: list[float] = []
    ran = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def send() -> None:
        runs.append(loop.time())
        ran.set()

    scheduler = build_scheduler()
    scheduler.add_job(send, "interval", hours=1, id=SENDER_JOB_ID)
    scheduler.start()
    try:
        wake_sender(scheduler)
        await asyncio.wait_for(ran.wait(), timeout=5)
    finally:
        scheduler.shutdown(wait=False)
    assert len(runs) == 1


async def test_waking_without_a_sender_job_does_nothing():
    scheduler = build_scheduler()
    scheduler.start()
    try:
        wake_sender(scheduler)
        assert scheduler.get_jobs() == []
    finally:
        scheduler.shutdown(wait=False)
