"""The APScheduler instance the app's background jobs run on."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .store import Store

SENDER_JOB_ID = "sender"
P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


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


def once_across_instances(
    db: Store, name: str, job: Callable[P, Awaitable[R]]
) -> Callable[P, Coroutine[Any, Any, R | None]]:
    """`job`, run only while no other instance on the database runs the job `name`.

    Each run takes `Store.exclusive(name)` (on PostgreSQL an advisory lock with a fixed
    key per name) for its whole length; when another instance holds it the run is skipped
    (logged at debug) and answers None: that instance does the work, and this one tries
    again at its next tick. On SQLite every run goes ahead.
    """

    @functools.wraps(job)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        async with db.exclusive(name) as mine:
            if not mine:
                log.debug("job %s skipped: another instance is running it", name)
                return None
            return await job(*args, **kwargs)

    return run
