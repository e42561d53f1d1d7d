"""Delivery of the event outbox to webhook subscriptions, signed per Standard Webhooks.

A scheduler job claims due deliveries in a short write transaction, POSTs each with httpx
outside any transaction (at most WEBHOOK_CONCURRENCY at once, on one keep-alive client),
and records the outcomes finished meanwhile in the next pass's transaction, which also
claims the next ones: a busy job costs the writer one BULK transaction for many events.
2xx is delivered; anything else is tried again with exponential backoff and full jitter,
until WEBHOOK_MAX_ATTEMPTS, then failed. Per subscription and conversation, only the
earliest pending delivery is ever claimed, so events arrive in order and a later one
waits while an earlier one is retried. A claim older than LEASE means the process died
mid-delivery: the event is delivered again (at least once; consumers dedupe on
`webhook-id`, the event's id).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from standardwebhooks.webhooks import Webhook

from . import events, logs, webhooks
from .config import Settings
from .metrics import Metrics
from .models import iso, utcnow
from .retry import RetryPolicy, jitter
from .scheduler import once_across_instances
from .store import Priority, Store, Tx
from .store import webhook_events as outbox

log = logging.getLogger(__name__)

DELIVERY_JOB_ID = "webhook-delivery"
RETENTION_JOB_ID = "event-retention"
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 10.0
# of an answer's body, only so much is read (nothing in it counts): a huge one is cut off
MAX_ANSWER_BYTES = 64 * 1024
# a claim outlives one resolution and one request; older, its process died
LEASE = timedelta(seconds=60)
RETENTION_EVERY = timedelta(hours=1)
RETENTION_BATCH = 500
USER_AGENT = "approval-bot-webhooks/1"
# HTTP requests in flight at once that mean a burst: Twilio posts each text on its own,
# so a handful at once is more than steady traffic
BURST_REQUESTS = 4


class DeliveryStatus(StrEnum):
    """Where one event's delivery to one subscription stands (webhook_deliveries.status)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def policy(max_attempts: int) -> RetryPolicy:
    """After attempt n a wait in [0, 12 min × 2ⁿ⁻¹]: with 8 attempts at most ~25 h in all."""
    return RetryPolicy(base_seconds=720.0, cap_seconds=86400.0, max_attempts=max_attempts)


@dataclass(frozen=True)
class Claimed:
    """One delivery on its way out."""

    id: int
    event_id: str
    url: str
    secrets: tuple[str, ...]  # the current secret, then the one it replaced while it signs
    attempts: int  # made before this one
    body: str
    claimed_at: str


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None
    error: str | None


@dataclass(frozen=True)
class Attempt:
    """One finished POST, waiting for the next pass to record it."""

    work: Claimed
    outcome: Outcome
    at: datetime


# a subscription URL's target and the address it was checked to resolve to, or a refusal
Address = tuple[webhooks.Target, str] | str


def claim(conn: Tx, now: datetime, room: int) -> list[Claimed]:
    """Claim up to `room` due deliveries, each with its signed-to-be body."""
    now_text = iso(now)
    claimed = []
    for row in outbox.due(conn, now=now_text, stale_before=iso(now - LEASE), room=room):
        outbox.mark_claimed(conn, row.id, now_text)
        event = outbox.event(conn, row.event_id)
        body = json.dumps(events.envelope(event), separators=(",", ":"))
        secrets: tuple[str, ...] = (row.secret,)
        if row.previous_secret is not None and now_text < str(row.previous_secret_until):
            secrets += (row.previous_secret,)
        claimed.append(
            Claimed(row.id, row.event_id, row.url, secrets, row.attempts, body, now_text)
        )
    return claimed


def release_claims(conn: Tx) -> int:
    """Free every claim: what was in flight when the last process died goes out again."""
    return outbox.release_claims(conn)


def record(
    conn: Tx,
    work: Claimed,
    outcome: Outcome,
    now: datetime,
    retry: RetryPolicy,
    rand: Callable[[], float],
) -> str:
    """Record one attempt's outcome if the claim is still ours; delivered, retry, failed
    or lost (another pass took the claim over)."""
    attempts = work.attempts + 1
    fields: dict[str, str | None]
    if outcome.delivered:
        result, fields = "delivered", {"status": "delivered", "delivered_at": iso(now)}
    elif retry.exhausted(attempts):
        result, fields = "failed", {"status": "failed", "delivered_at": None}
    else:
        wait = timedelta(seconds=retry.delay(attempts, rand))
        result, fields = "retry", {"next_attempt_at": iso(now + wait)}
    held = outbox.record_attempt(
        conn,
        work.id,
        claimed_at=work.claimed_at,
        attempts=attempts,
        last_status=outcome.status,
        last_error=outcome.error,
        fields=fields,
    )
    return result if held else "lost"


def settle(
    conn: Tx,
    finished: list[Attempt],
    now: datetime,
    room: int,
    retry: RetryPolicy,
    rand: Callable[[], float],
) -> tuple[list[str], list[Claimed]]:
    """Record each finished attempt (as `record`), then claim up to `room` due deliveries.

    Recorded first, so a delivered event's successor in its conversation is claimed in the
    same transaction.
    """
    results = [record(conn, a.work, a.outcome, a.at, retry, rand) for a in finished]
    return results, claim(conn, now, room) if room > 0 else []


def signed_headers(work: Claimed, moment: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for `work`'s body at `moment`: one signature per
    secret, space-separated, so a receiver holding either secret accepts it."""
    signatures = [Webhook(secret).sign(work.event_id, moment, work.body) for secret in work.secrets]
    return {
        "webhook-id": work.event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _pinned(target: webhooks.Target, address: str) -> str:
    """The URL with its host replaced by the address checked, so no second lookup happens."""
    host = f"[{address}]" if ":" in address else address
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def _host_header(target: webhooks.Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


class Deliverer:
    """The delivery job and its wake-ups; `run` is the scheduler job."""

    def __init__(
        self,
        db: Store,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = jitter,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._db = db
        self._timeout = timeout
        self._check_address = settings.production and not settings.webhook_allow_private
        self._policy = policy(settings.webhook_max_attempts)
        self._concurrency = settings.webhook_concurrency
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        # httpx's transport itself, one connection pool with keep-alive: a delivery is one
        # request to an address already checked, so the client's layers (redirects, which
        # are never followed, auth, cookies, event hooks) would only cost the event loop
        self._transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=self._concurrency)
        )
        self._timeouts = httpx.Timeout(timeout).as_dict()
        self._wakeup = asyncio.Event()
        self._active = False
        self._stopping = False
        self._running: asyncio.Task[Any] | None = None
        self._claims_released = False
        self._wake_queued = False
        self._unlisten: Callable[[], None] | None = None

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the job (every POLL_SECONDS and at once), woken by each emitted event."""
        scheduler.add_job(
            # one instance delivers at a time, so its claims left at start were a dead one's
            once_across_instances(self._db, DELIVERY_JOB_ID, self.run),
            "interval",
            seconds=POLL_SECONDS,
            id=DELIVERY_JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),
        )
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._wake_queued = False
            if self._stopping:
                return
            self._wakeup.set()
            if not self._active:
                job = scheduler.get_job(DELIVERY_JOB_ID)
                if job is not None:
                    job.modify(next_run_time=utcnow())

        def skipped(event: JobEvent) -> None:
            if event.job_id == DELIVERY_JOB_ID and not self._stopping:
                self._wakeup.set()

        def wake_from_writer() -> None:
            # called on the writer's thread after a commit: hop to the loop, once for
            # however many commits come before the loop runs the wake (cleared first there,
            # so a commit after that queues another)
            if not self._wake_queued:
                self._wake_queued = True
                loop.call_soon_threadsafe(wake)

        self._unlisten = events.listen(wake_from_writer)
        scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)

    async def stop(self) -> None:
        """Claim nothing more, let deliveries in flight finish, close the client."""
        self._stopping = True
        if self._unlisten is not None:
            self._unlisten()
        self._wakeup.set()
        running = self._running
        if running is not None and not running.done():
            await asyncio.wait({running})
        await self._transport.aclose()

    async def run(self) -> None:
        """Deliver everything due, at most WEBHOOK_CONCURRENCY at once.

        Each pass is one write transaction: it records every attempt finished since the
        last pass, then claims as many due deliveries as there is room for, so an event's
        successor in its conversation can be claimed in the transaction that records it.
        """
        self._active = True
        self._running = asyncio.current_task()
        in_flight: set[asyncio.Task[Attempt | None]] = set()
        finished: list[Attempt] = []
        if not self._claims_released:
            # one instance at a time delivers (the job's lock): a claim left now was a
            # predecessor's, cut short
            await self._db.write(release_claims, priority=Priority.BULK)
            self._claims_released = True
        try:
            while True:
                self._wakeup.clear()
                room = 0 if self._stopping else self._room(len(in_flight))
                if finished or room > 0:
                    # taken off first: if the write fails, their claims run out and they go again
                    recorded, finished = finished, []
                    work = await self._settle(recorded, room)
                    addresses = await self._addresses({item.url for item in work})
                    in_flight |= {
                        asyncio.create_task(self._attempt(item, addresses[item.url]))
                        for item in work
                    }
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
                finished += _results(in_flight & done)
                in_flight -= done
        finally:
            if in_flight:
                done, _ = await asyncio.wait(in_flight)
                finished += _results(in_flight & done)
            if finished:
                recorded, finished = finished, []
                await self._settle(recorded, 0)
            self._active = False
            self._running = None

    def _room(self, in_flight: int) -> int:
        """How many more deliveries to claim: during a burst (other writes wait for or hold
        the writer, or BURST_REQUESTS requests are being served), one at a time, so the
        burst keeps the event loop and deliveries still move; the backlog goes out at full
        concurrency after it."""
        burst = self._db.queued_writes() > 0 or logs.requests_in_flight() >= BURST_REQUESTS
        limit = 1 if burst else self._concurrency
        return max(0, limit - in_flight)

    async def _settle(self, finished: list[Attempt], room: int) -> list[Claimed]:
        """Record the finished attempts and claim up to `room` more, in one transaction."""
        now = self._clock()
        results, work = await self._db.write(
            lambda conn: settle(conn, finished, now, room, self._policy, self._rand),
            priority=Priority.BULK,
        )
        for attempt, result in zip(finished, results, strict=True):
            if self._metrics is not None:
                self._metrics.webhook_deliveries.labels(result=result).inc()
            if result == "failed":
                log.warning(
                    "webhook delivery %s of event %s failed for good: %s",
                    attempt.work.id,
                    attempt.work.event_id,
                    attempt.outcome.error,
                )
        return work

    async def _addresses(self, urls: set[str]) -> dict[str, Address]:
        """Each URL's target and checked address, or why it is refused: one lookup a pass."""
        found: dict[str, Address] = {}
        for url in urls:
            try:
                target = webhooks.parse_url(url)
                found[url] = (
                    target,
                    await webhooks.allowed_address(target, check=self._check_address),
                )
            except webhooks.BadSubscription as error:
                found[url] = f"refused: {error}"
        return found

    async def _attempt(self, work: Claimed, address: Address) -> Attempt | None:
        try:
            if isinstance(address, str):
                outcome = Outcome(False, None, address)
            else:
                outcome = await self._post(work, *address)
            return Attempt(work, outcome, self._clock())
        except Exception:
            # the claim stays: when the lease runs out the event is delivered again
            log.exception("webhook delivery %s failed unexpectedly", work.id)
            return None

    async def _post(self, work: Claimed, target: webhooks.Target, address: str) -> Outcome:
        """One signed POST; what came of it."""
        # signed at the wall clock: receivers check the timestamp against theirs
        headers = signed_headers(work, utcnow()) | {"host": _host_header(target)}
        extensions: dict[str, Any] = {"timeout": self._timeouts}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        request = httpx.Request(
            "POST",
            _pinned(target, address),
            content=work.body.encode(),
            headers=headers,
            extensions=extensions,
        )
        # the timeout bounds the whole exchange: httpx's bounds each read, which a consumer
        # sending a byte at a time would never reach
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            async with asyncio.timeout_at(deadline):
                answer = await self._transport.handle_async_request(request)
        except (httpx.TimeoutException, TimeoutError):
            return Outcome(False, None, f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(False, None, f"{type(error).__name__}: {error}"[:500])
        cut = await _drain(answer, deadline)
        if cut is not None:
            log.info("webhook delivery %s: the answer's body was cut off (%s)", work.id, cut)
        if 200 <= answer.status_code < 300:
            return Outcome(True, answer.status_code, None)
        return Outcome(False, answer.status_code, f"answered {answer.status_code}")


async def _drain(answer: httpx.Response, deadline: float) -> str | None:
    """Read the answer's body to its end, so the connection is kept for the next request;
    why it was cut off instead (the connection then closed), when it is over
    MAX_ANSWER_BYTES, still coming at the deadline, or broken. The status is read already:
    nothing in the body changes the outcome."""
    taken = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in answer.aiter_raw():
                taken += len(chunk)
                if taken > MAX_ANSWER_BYTES:
                    return f"over {MAX_ANSWER_BYTES} bytes"
    except TimeoutError:
        return "still coming at the timeout"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500]
    finally:
        await answer.aclose()
    return None


def _results(done: set[asyncio.Task[Attempt | None]]) -> list[Attempt]:
    return [attempt for task in done if (attempt := task.result()) is not None]


def prune_batch(conn: Tx, before: str) -> int:
    """Delete up to RETENTION_BATCH events older than `before` that every subscription got."""
    return outbox.prune(conn, before, RETENTION_BATCH)


async def prune_events(db: Store, retention_days: float) -> int:
    """Delete delivered events older than `retention_days`, in batches; how many.

    An event some subscription has not received (failed, or still pending) is kept until
    it is resent and delivered, or the subscription is removed.
    """
    before = iso(utcnow() - timedelta(days=retention_days))
    total = 0
    while True:
        deleted = await db.write(lambda conn: prune_batch(conn, before), priority=Priority.BULK)
        total += deleted
        if deleted < RETENTION_BATCH:
            return total


def register_retention(scheduler: AsyncIOScheduler, db: Store, settings: Settings) -> None:
    scheduler.add_job(
        once_across_instances(db, RETENTION_JOB_ID, prune_events),
        "interval",
        seconds=RETENTION_EVERY.total_seconds(),
        args=[db, settings.event_retention_days],
        id=RETENTION_JOB_ID,
        replace_existing=True,
    )
