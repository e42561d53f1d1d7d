"""The APScheduler instance the app's background jobs run on."""

from __future__ import annotations

import asyncio
import functools
import inspect
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


# how long a stopping app waits for the job runs still going before they are cancelled
STOP_GRACE_SECONDS = 10.0


class Scheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler has no types
    """APScheduler's asyncio scheduler, with a stop that lets the runs in progress finish.

    Its own `shutdown` cancels every coroutine job still running (its executor cannot wait
    from a plain method), and each cancelled run is logged as a job that "raised an
    exception": at every stop, a sender pass cut in the middle of its claim.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._runs: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            func = self._tracked(func)
        return super().add_job(func, *args, **kwargs)

    def _tracked(self, job: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(job)
        async def run(*args: Any, **kwargs: Any) -> R:
            task = asyncio.current_task()
            assert task is not None
            self._runs.add(task)
            try:
                return await job(*args, **kwargs)
            finally:
                self._runs.discard(task)

        return run

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Start no more runs, wait up to `grace` seconds for the ones in progress, then
        shut down (cancelling any still running)."""
        if not self.running:
            return
        self.pause()
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=grace)
        self.shutdown(wait=False)
        await asyncio.sleep(0)  # APScheduler shuts down at the loop's next turn


def build_scheduler() -> Scheduler:
    """An asyncio scheduler in UTC whose jobs never pile up behind a slow run."""
    return Scheduler(
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
