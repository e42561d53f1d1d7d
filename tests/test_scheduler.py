"""The scheduler: interval jobs that coalesce, a sender that can be woken at once, and a
stop that lets the runs in progress finish."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

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


async def test_stopping_lets_a_run_in_progress_finish_and_logs_no_error(caplog):
    started, finished = asyncio.Event(), []

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append("done")

    scheduler = build_scheduler()
    scheduler.add_job(job, "interval", hours=1, next_run_time=datetime.now(UTC))
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await scheduler.stop()
    assert finished == ["done"]
    assert not scheduler.running
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_run_still_going_after_the_grace_is_cancelled():
    started, finished = asyncio.Event(), []

    async def job() -> None:
        started.set()
        await asyncio.sleep(60)
        finished.append("done")

    scheduler = build_scheduler()
    scheduler.add_job(job, "interval", hours=1, next_run_time=datetime.now(UTC))
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.wait_for(scheduler.stop(grace=0.1), timeout=5)
    await asyncio.sleep(0)  # the cancelled run unwinds
    assert finished == []
    assert not scheduler.running
