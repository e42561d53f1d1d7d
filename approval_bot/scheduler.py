"""The APScheduler instance the app's background jobs run on."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

SENDER_JOB_ID = "sender"


def build_scheduler() -> AsyncIOScheduler:
    """An asyncio scheduler in UTC whose jobs never pile up behind a slow run."""
    return AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )


def wake_sender(scheduler: AsyncIOScheduler) -> None:
    """Run the sender job now rather than at its next tick, so approve→send does not wait.

    Call it after anything becomes APPROVED_TO_SEND. Without a sender job it does nothing.
    """
    job = scheduler.get_job(SENDER_JOB_ID)
    if job is not None:
        job.modify(next_run_time=datetime.now(UTC))
