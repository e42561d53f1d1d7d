"""The sender job: claim due rows, send them with at most SEND_CONCURRENCY in flight, and
record each outcome.

One pass: claim due rows in a write transaction (re-checking each at that moment, see
`claim`), send outside the transaction, and record each outcome with its audit row. The job
keeps going while due rows remain, and a wake that arrives while it runs is noticed, not
lost. A row whose outcome is unknown is reconciled with Twilio first (see `reconcile`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..config import Settings
from ..gateways import SmsGateway
from ..metrics import Metrics
from ..models import Event, utcnow
from ..retry import DEFAULT_POLICY, Outcome, RetryPolicy, jitter
from ..scheduler import SENDER_JOB_ID, wake_sender
from ..store import Priority, Store, Tx
from ..store import audit as audit_rows
from ..store.notify import SEND_CHANNEL
from .claim import Lane, Work, claim_all
from .message_lane import MessageLane
from .notification_lane import NotificationLane
from .reconcile import reconcile

log = logging.getLogger("approval_bot.sender")


class Sender:
    """Claims, sends and records; `run` is the scheduler job."""

    def __init__(
        self,
        db: Store,
        gateway: SmsGateway,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = jitter,
    ) -> None:
        self._db = db
        self._gateway = gateway
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        # customer messages are claimed first; reviewer texts take the room left
        self._lanes: dict[str, Lane] = {
            "message": MessageLane(settings, policy, rand, metrics),
            "notification": NotificationLane(settings, policy, rand),
        }
        self._concurrency = settings.send_concurrency
        self._wakeup = asyncio.Event()
        self._active = False
        self._stopping = False
        self._running: asyncio.Task[Any] | None = None
        self._unlisten: Callable[[], None] | None = None

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the sender job (every SEND_POLL_SECONDS, and at once) and listen for wakes."""
        scheduler.add_job(
            self.run,
            "interval",
            seconds=self._settings.send_poll_seconds,
            id=SENDER_JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

        def skipped(event: JobEvent) -> None:
            # a wake (or a tick) found the job running: make the running pass look again,
            # or, if it is just returning, run it once more when it has
            if event.job_id != SENDER_JOB_ID or self._stopping:
                return
            self._wakeup.set()
            if not self._active:
                asyncio.get_running_loop().call_soon(wake_sender, scheduler)

        scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)

        def notified() -> None:
            # a reply approved on any instance (PostgreSQL's NOTIFY at its commit)
            if scheduler.running and not self._stopping:
                wake_sender(scheduler)

        self._unlisten = self._db.on_notify(SEND_CHANNEL, notified)

    async def stop(self) -> None:
        """Claim nothing more and wait for sends in flight to be recorded."""
        self._stopping = True
        if self._unlisten is not None:
            self._unlisten()
        self._wakeup.set()
        running = self._running
        if running is not None and not running.done():
            await asyncio.wait({running})

    async def run(self) -> None:
        """Send everything due, keeping at most SEND_CONCURRENCY sends in flight."""
        self._active = True
        self._running = asyncio.current_task()
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wakeup.clear()
                room = self._concurrency - len(in_flight)
                if room > 0 and not self._stopping:
                    for work in await self._claim(room):
                        in_flight.add(asyncio.create_task(self._process(work)))
                if not in_flight:
                    if self._wakeup.is_set() and not self._stopping:
                        continue
                    return
                waiter = asyncio.create_task(self._wakeup.wait())
                done, _ = await asyncio.wait(
                    in_flight | {waiter}, return_when=asyncio.FIRST_COMPLETED
                )
                if not waiter.done():
                    waiter.cancel()
                in_flight -= done
        finally:
            if in_flight:
                await asyncio.wait(in_flight)
            self._active = False

    async def _claim(self, room: int) -> list[Work]:
        now = self._clock()
        lanes = list(self._lanes.values())

        def claim(conn: Tx) -> list[Work]:
            return claim_all(conn, lanes, now, room)

        return await self._db.write(claim, priority=Priority.DECISION)

    async def _process(self, work: Work) -> None:
        lane = self._lanes[work.kind]
        try:
            if work.unconfirmed_since is not None:
                prepared = await reconcile(
                    self._db,
                    self._gateway,
                    lane,
                    work,
                    clock=self._clock,
                    retry_in=timedelta(seconds=self._settings.send_poll_seconds),
                )
                if prepared is None:
                    return
                work = prepared
            result = await self._gateway.send(work.outgoing)
            accepted_at = utcnow()
            if self._metrics is not None:
                self._metrics.sends.labels(kind=work.kind, outcome=result.outcome).inc()
            now = self._clock()
            await self._db.write(
                lambda conn: lane.record(conn, work, result, now), priority=Priority.DECISION
            )
            if work.kind == "message" and result.outcome == Outcome.ACCEPTED:
                await self._observe_approval_to_accepted(work.id, accepted_at)
        except Exception:
            # the claim stays: when its lease runs out the row is reconciled, never resent blind
            log.exception("%s %s: sending failed unexpectedly", work.kind, work.id)

    async def _observe_approval_to_accepted(self, message_id: str, accepted_at: datetime) -> None:
        if self._metrics is None:
            return
        # the latest approval: a reply held and approved again waited from then
        approved_at = await audit_rows.read_latest_of(
            self._db, message_id, (Event.APPROVE, Event.HUMAN_REPLY)
        )
        if approved_at is None:
            return
        waited = (accepted_at - datetime.fromisoformat(approved_at)).total_seconds()
        self._metrics.approve_to_accepted_seconds.observe(max(0.0, waited))
