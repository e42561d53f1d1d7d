"""The sender: the scheduler job that sends what was approved, once, to open threads only.

One pass of the job: claim due rows in a write transaction (re-checking each at that
moment), send outside the transaction with at most SEND_CONCURRENCY sends in flight, and
record each outcome with its audit row. The job keeps going while due rows remain, and a
wake that arrives while it runs is noticed, not lost.

Never twice: a claimed row whose outcome is unknown (a crash mid-send, a timeout, a 5xx)
keeps `unconfirmed_since`; before any further attempt Twilio's messages to that number
since then are listed, and a match is recorded as SENT instead of sending again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import audit, delivery, events, review, sending_gate, whatsapp_window, workflow
from .config import Settings
from .gateways import (
    RECONCILE_SLACK_SECONDS,
    FoundMessage,
    GatewayUnreachable,
    OutgoingSms,
    SendResult,
    SmsGateway,
)
from .metrics import Metrics
from .models import Channel, Event, MessageStatus, PauseKind, iso, utcnow
from .outbox import NotificationEvent, NotificationStatus, change_notification_status
from .phones import WHATSAPP_PREFIX
from .retry import DEFAULT_POLICY, OPTED_OUT_CODE, WHATSAPP_WINDOW_CODE, Outcome, RetryPolicy
from .scheduler import SENDER_JOB_ID, wake_sender
from .store import Priority, Store, Tx

log = logging.getLogger(__name__)

S = MessageStatus
N = NotificationStatus
CUSTOMER_WROTE_AGAIN = "customer wrote again"
STATUS_EVENTS_PROVIDER = "twilio-status"
RETRY_SCHEDULED = "Send Retry Scheduled"
OPTED_OUT_REASON = f"the customer opted out (Twilio {OPTED_OUT_CODE})"


@dataclass(frozen=True)
class Work:
    """One claimed row on its way out: a customer message or a reviewer notification."""

    kind: str  # "message" | "notification"
    id: str
    to: str
    body: str
    media_urls: tuple[str, ...]
    attempts: int  # attempts made, this one included once it is sent
    unconfirmed_since: str | None
    claimed_at: str
    content_sid: str | None = None
    content_variables: str | None = None

    @property
    def outgoing(self) -> OutgoingSms:
        return OutgoingSms(
            self.to,
            self.body,
            self.media_urls,
            status_callback=self.kind == "message",
            content_sid=self.content_sid,
            content_variables=self.content_variables,
        )


class Lane(Protocol):
    """What the sender does with one kind of row; the driver is shared."""

    def claim(self, conn: Tx, now: datetime, room: int) -> list[Work]: ...

    def prepare(self, conn: Tx, work: Work, now: datetime) -> Work | None:
        """After a reconciliation found nothing: re-check and count the attempt, or stop."""
        ...

    def record(self, conn: Tx, work: Work, result: SendResult, now: datetime) -> None: ...

    def record_found(self, conn: Tx, work: Work, found: FoundMessage) -> None: ...

    def defer(self, conn: Tx, work: Work, until: datetime) -> None: ...


def _media_urls(media: str) -> tuple[str, ...]:
    items = json.loads(media or "[]")
    return tuple(item["url"] if isinstance(item, dict) else str(item) for item in items)


def _address(receiver: str, channel: str) -> str:
    if channel == Channel.WHATSAPP and not receiver.startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + receiver
    return receiver


def _one(conn: Tx, sql: str, params: Any) -> Any:
    return conn.execute(sql, params).fetchone()


class MessageLane:
    """Customer messages in APPROVED_TO_SEND: re-checked, sent, recorded through the workflow."""

    def __init__(
        self,
        settings: Settings,
        policy: RetryPolicy,
        rand: Callable[[], float],
        metrics: Metrics | None = None,
    ):
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._policy = policy
        self._rand = rand
        self._metrics = metrics

    def claim(self, conn: Tx, now: datetime, room: int) -> list[Work]:
        if sending_gate.why_closed(conn) is not None:
            # held by the sending gate: nothing is claimed or failed; they wait for it to open
            return []
        rows = conn.execute(
            """
            SELECT messages.*, conversations.channel AS thread_channel
            FROM messages JOIN conversations USING (thread_id)
            WHERE messages.status = 'APPROVED_TO_SEND'
              AND ((messages.claimed_at IS NULL
                    AND (messages.next_attempt_at IS NULL OR messages.next_attempt_at <= :now))
                   OR messages.claimed_at <= :stale_before)
            ORDER BY messages.timestamp LIMIT :room
            """,
            {"now": iso(now), "stale_before": iso(now - self._lease), "room": room},
        ).fetchall()
        claimed = []
        for row in rows:
            # a claim still held means its process died mid-send: the outcome is unknown
            unconfirmed = row["unconfirmed_since"] or row["claimed_at"]
            if unconfirmed is None:
                if self._recheck(conn, row, now):
                    continue
                attempts = row["send_attempts"] + 1
            else:
                attempts = row["send_attempts"]  # counted again only if it is sent again
                if row["claimed_at"] is not None:
                    log.warning("message %s: claim from %s expired", row["id"], row["claimed_at"])
            conn.execute(
                """
                UPDATE messages SET claimed_at = ?, next_attempt_at = NULL, send_attempts = ?,
                                    unconfirmed_since = ?
                WHERE id = ? AND status = 'APPROVED_TO_SEND'
                """,
                (iso(now), attempts, unconfirmed, row["id"]),
            )
            claimed.append(self._work(row, attempts, unconfirmed, now))
        return claimed

    def _work(self, row: Any, attempts: int, unconfirmed: str | None, now: datetime) -> Work:
        return Work(
            kind="message",
            id=row["id"],
            to=_address(row["receiver"], row["thread_channel"]),
            body=row["body"],
            media_urls=_media_urls(row["media"]),
            attempts=attempts,
            unconfirmed_since=unconfirmed,
            claimed_at=iso(now),
            content_sid=row["content_sid"],
            content_variables=row["content_variables"],
        )

    def _recheck(self, conn: Tx, row: Any, now: datetime) -> bool:
        """Stop a message that must not go out now; True when it was moved."""
        message_id, thread_id = row["id"], row["thread_id"]
        thread = _one(
            conn,
            """
            SELECT conversations.opted_out, thread_controls.paused, thread_controls.paused_reason
            FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
            """,
            (thread_id,),
        )
        if thread is None or thread["opted_out"] or thread["paused"]:
            reason = "opted out" if thread is not None and thread["opted_out"] else "thread paused"
            self._move(conn, message_id, S.PAUSED_THREAD, Event.HELD, {"reason": reason})
            return True
        newer = _one(
            conn,
            """
            SELECT id FROM messages
            WHERE thread_id = ? AND type IN ('DRAFT', 'OUTBOUND') AND id != ? AND timestamp > ?
              AND status NOT IN ('REJECTED', 'SUPERSEDED', 'FAILED_SEND')
            ORDER BY timestamp DESC LIMIT 1
            """,
            (thread_id, message_id, row["timestamp"]),
        )
        if newer is not None:
            self._move(
                conn,
                message_id,
                S.SUPERSEDED,
                Event.SUPERSEDED,
                {"reason": "no longer the latest reply"},
                superseded_by=newer["id"],
            )
            return True
        approved = _one(
            conn,
            """
            SELECT max(timestamp) AS at FROM audit_log
            WHERE message_id = ? AND event IN (?, ?, ?)
            """,
            (message_id, Event.APPROVE, Event.HUMAN_REPLY, Event.TEMPLATE_REPLY),
        )
        approved_at = approved["at"] if approved is not None else None
        if approved_at is not None:
            wrote_again = _one(
                conn,
                """
                SELECT id FROM messages
                WHERE thread_id = ? AND type = 'INBOUND' AND timestamp > ? LIMIT 1
                """,
                (thread_id, approved_at),
            )
            if wrote_again is not None:
                self._move(
                    conn,
                    message_id,
                    S.DRAFT_PENDING_APPROVAL,
                    Event.CUSTOMER_WROTE_AGAIN,
                    {"reason": CUSTOMER_WROTE_AGAIN, "inbound_id": wrote_again["id"]},
                )
                return True
        # the thread's channel decides: a reply row may not repeat it; a Content template
        # is what may go outside the window
        if row["thread_channel"] == Channel.WHATSAPP and row["content_sid"] is None:
            last_inbound = whatsapp_window.last_inbound(conn, thread_id)
            if not whatsapp_window.is_open(last_inbound, now):
                closing = whatsapp_window.closes_at(last_inbound)
                self._window_closed(conn, message_id, whatsapp_window.closed_message(closing))
                if self._metrics is not None:
                    self._metrics.whatsapp_window_closed.labels(source="sender").inc()
                return True
        return False

    def _window_closed(self, conn: Tx, message_id: str, reason: str) -> None:
        """Back to review, where approving offers the WhatsApp templates instead."""
        self._move(
            conn,
            message_id,
            S.DRAFT_PENDING_APPROVAL,
            Event.WINDOW_CLOSED,
            {"reason": reason, "error_code": WHATSAPP_WINDOW_CODE},
            error_code=WHATSAPP_WINDOW_CODE,
            error_message=reason,
        )

    def _move(
        self,
        conn: Tx,
        message_id: str,
        target: MessageStatus,
        event: Event,
        metadata: Mapping[str, Any],
        **fields: Any,
    ) -> None:
        workflow.change_status(
            conn,
            message_id,
            expected=S.APPROVED_TO_SEND,
            target=target,
            event=event,
            metadata=metadata,
            claimed_at=None,
            next_attempt_at=None,
            **fields,
        )
        if target is not S.DRAFT_PENDING_APPROVAL and target is not S.PAUSED_THREAD:
            conn.execute("UPDATE messages SET unconfirmed_since = NULL WHERE id = ?", (message_id,))

    def _current(self, conn: Tx, work: Work) -> Any:
        row = _one(
            conn,
            """
            SELECT messages.*, conversations.channel AS thread_channel
            FROM messages JOIN conversations USING (thread_id) WHERE messages.id = ?
            """,
            (work.id,),
        )
        if (
            row is None
            or row["status"] != S.APPROVED_TO_SEND
            or row["claimed_at"] != work.claimed_at
        ):
            # review actions leave claimed rows alone, so this means another sender took it
            log.error("message %s: claim lost before its outcome was recorded", work.id)
            return None
        return row

    def prepare(self, conn: Tx, work: Work, now: datetime) -> Work | None:
        row = self._current(conn, work)
        if row is None:
            return None
        if sending_gate.why_closed(conn) is not None:
            # the gate closed since the claim: let go, still unconfirmed, until it opens
            conn.execute("UPDATE messages SET claimed_at = NULL WHERE id = ?", (work.id,))
            return None
        if self._recheck(conn, row, now):
            return None
        if self._policy.exhausted(row["send_attempts"]):
            self._fail(conn, row, "retries spent; Twilio has no record of the message", None, None)
            return None
        attempts = row["send_attempts"] + 1
        conn.execute(
            "UPDATE messages SET send_attempts = ?, claimed_at = ? WHERE id = ?",
            (attempts, iso(now), work.id),
        )
        return replace(work, attempts=attempts, claimed_at=iso(now))

    def _fail(
        self,
        conn: Tx,
        row: Any,
        message: str,
        code: int | None,
        http_status: int | None,
    ) -> None:
        self._move(
            conn,
            row["id"],
            S.FAILED_SEND,
            Event.SEND_FAILED,
            {"error_code": code, "http_status": http_status, "reason": message},
            error_code=code,
            error_message=message,
        )
        workflow.flag_conversation(conn, row["thread_id"], "a reply could not be sent")

    def record(self, conn: Tx, work: Work, result: SendResult, now: datetime) -> None:
        row = self._current(conn, work)
        if row is None:
            return
        # an opt-out or a flag this outcome causes belongs to the reply's chain
        with events.correlation(row["correlation_id"]):
            self._record(conn, work, row, result, now)

    def _record(self, conn: Tx, work: Work, row: Any, result: SendResult, now: datetime) -> None:
        if result.outcome is Outcome.ACCEPTED:
            assert result.sid is not None
            self._sent(conn, work, result.sid, result.status, reconciled=False)
        elif result.error_code == WHATSAPP_WINDOW_CODE:
            twilio_says = result.error_message or "outside the allowed window"
            self._window_closed(
                conn,
                work.id,
                f"Twilio refused a free-form WhatsApp reply ({WHATSAPP_WINDOW_CODE}: "
                f"{twilio_says}): the customer's 24-hour window has closed; send one of the "
                "WhatsApp templates instead.",
            )
            if self._metrics is not None:
                self._metrics.whatsapp_window_closed.labels(source="twilio").inc()
        elif result.outcome is Outcome.REJECTED:
            self._fail(
                conn, row, result.error_message or "refused", result.error_code, result.http_status
            )
        elif result.outcome is Outcome.OPTED_OUT:
            self._fail(
                conn,
                row,
                result.error_message or "opted out",
                result.error_code,
                result.http_status,
            )
            opt_out_thread(conn, row["thread_id"])
        else:
            self._retry_later(conn, work, row, result, now)

    def _retry_later(
        self, conn: Tx, work: Work, row: Any, result: SendResult, now: datetime
    ) -> None:
        uncertain = result.outcome is Outcome.UNCERTAIN
        unconfirmed = row["unconfirmed_since"] or (work.claimed_at if uncertain else None)
        if self._policy.exhausted(work.attempts) and unconfirmed is None:
            message = f"retries spent: {result.error_message or 'no answer'}"
            self._fail(conn, row, message, result.error_code, result.http_status)
            return
        # with the outcome unknown, even after the last attempt Twilio is asked once more
        delay = self._policy.delay(work.attempts, self._rand)
        conn.execute(
            """
            UPDATE messages SET claimed_at = NULL, next_attempt_at = ?, unconfirmed_since = ?,
                                error_code = ?, error_message = ?
            WHERE id = ?
            """,
            (
                iso(now + timedelta(seconds=delay)),
                unconfirmed,
                result.error_code,
                result.error_message,
                work.id,
            ),
        )
        audit.record(
            conn,
            audit.AuditEvent(
                event=RETRY_SCHEDULED,
                thread_id=row["thread_id"],
                message_id=work.id,
                metadata={
                    "attempt": work.attempts,
                    "outcome": result.outcome,
                    "http_status": result.http_status,
                    "error_code": result.error_code,
                    "retry_in_seconds": round(delay, 3),
                },
            ),
        )

    def _sent(
        self,
        conn: Tx,
        work: Work,
        sid: str,
        status: str | None,
        *,
        reconciled: bool,
    ) -> None:
        # a delivery callback can beat the create response here; its status was kept
        rows = conn.execute(
            """
            SELECT event_id FROM webhook_events
            WHERE provider = ? AND event_id > ? AND event_id < ?
            """,
            (STATUS_EVENTS_PROVIDER, sid + ":", sid + ";"),
        ).fetchall()
        early = [r["event_id"].split(":", 1)[1] for r in rows]
        known = status if status in delivery.KNOWN else None
        delivery_status = delivery.most_advanced(known, early) or known
        self._move(
            conn,
            work.id,
            S.SENT,
            Event.SEND_ACCEPTED,
            {"sid": sid, "attempt": work.attempts, "reconciled": reconciled},
            provider_sid=sid,
            delivery_status=delivery_status,
            error_code=None,
            error_message=None,
        )

    def record_found(self, conn: Tx, work: Work, found: FoundMessage) -> None:
        if self._current(conn, work) is not None:
            self._sent(conn, work, found.sid, found.status, reconciled=True)

    def defer(self, conn: Tx, work: Work, until: datetime) -> None:
        conn.execute(
            """
            UPDATE messages SET claimed_at = NULL, next_attempt_at = ?
            WHERE id = ? AND status = 'APPROVED_TO_SEND' AND claimed_at = ?
            """,
            (iso(until), work.id, work.claimed_at),
        )


def opt_out_thread(conn: Tx, thread_id: str) -> None:
    """Twilio said 21610: the thread is opted out, paused, and needs a human's attention."""
    thread = _one(
        conn,
        """
        SELECT conversations.opted_out, thread_controls.paused
        FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
        """,
        (thread_id,),
    )
    if thread is None:
        return
    if not thread["opted_out"]:
        workflow.set_opted_out(
            conn, thread_id, opted_out=True, source=f"Twilio error {OPTED_OUT_CODE}"
        )
    if not thread["paused"]:
        review.hold_thread(conn, thread_id, OPTED_OUT_REASON, None, kind=PauseKind.OPT_OUT)
    workflow.flag_conversation(conn, thread_id, OPTED_OUT_REASON)


def takes_text(row: Any) -> bool:
    """Whether a notification row's reviewer takes it now.

    Nobody gets a text without a phone, or after texting STOP (Twilio would refuse it).
    A new-draft text also needs an active reviewer with draft texts on; the answer to a
    command they just sent (no draft) goes to them regardless, disabled ones included.
    """
    if not row["phone"] or row["sms_opted_out"]:
        return False
    return row["draft_id"] is None or bool(row["active"] and row["notify_sms"])


class NotificationLane:
    """Texts to reviewers: the same claim, retry and reconciliation rules, no customer checks."""

    def __init__(self, settings: Settings, policy: RetryPolicy, rand: Callable[[], float]):
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._policy = policy
        self._rand = rand

    def claim(self, conn: Tx, now: datetime, room: int) -> list[Work]:
        rows = conn.execute(
            """
            SELECT notifications.*, reviewers.phone, reviewers.active, reviewers.notify_sms,
                   reviewers.sms_opted_out
            FROM notifications JOIN reviewers ON reviewers.id = notifications.reviewer_id
            WHERE notifications.status = 'PENDING'
              AND ((notifications.claimed_at IS NULL
                    AND (notifications.next_attempt_at IS NULL
                         OR notifications.next_attempt_at <= :now))
                   OR notifications.claimed_at <= :stale_before)
            ORDER BY notifications.created_at LIMIT :room
            """,
            {"now": iso(now), "stale_before": iso(now - self._lease), "room": room},
        ).fetchall()
        claimed = []
        for row in rows:
            unconfirmed = row["unconfirmed_since"] or row["claimed_at"]
            if unconfirmed is None:
                if not takes_text(row):
                    change_notification_status(
                        conn,
                        row["id"],
                        expected=N.PENDING,
                        target=N.HELD,
                        event=NotificationEvent.HELD,
                        metadata={"reason": "the reviewer takes no texts"},
                    )
                    continue
                attempts = row["send_attempts"] + 1
            else:
                attempts = row["send_attempts"]
            conn.execute(
                """
                UPDATE notifications SET claimed_at = ?, next_attempt_at = NULL,
                                         send_attempts = ?, unconfirmed_since = ?
                WHERE id = ?
                """,
                (iso(now), attempts, unconfirmed, row["id"]),
            )
            claimed.append(
                Work(
                    kind="notification",
                    id=str(row["id"]),
                    to=row["phone"],
                    body=row["body"],
                    media_urls=(),
                    attempts=attempts,
                    unconfirmed_since=unconfirmed,
                    claimed_at=iso(now),
                )
            )
        return claimed

    def _current(self, conn: Tx, work: Work) -> Any:
        row = _one(conn, "SELECT * FROM notifications WHERE id = ?", (int(work.id),))
        if row is None or row["status"] != N.PENDING or row["claimed_at"] != work.claimed_at:
            log.error("notification %s: claim lost before its outcome was recorded", work.id)
            return None
        return row

    def _finish(
        self,
        conn: Tx,
        work: Work,
        target: NotificationStatus,
        metadata: Mapping[str, Any],
        **fields: Any,
    ) -> None:
        change_notification_status(
            conn,
            int(work.id),
            expected=N.PENDING,
            target=target,
            event=NotificationEvent.SENT if target is N.SENT else NotificationEvent.FAILED,
            metadata=metadata,
            claimed_at=None,
            next_attempt_at=None,
            unconfirmed_since=None,
            **fields,
        )

    def prepare(self, conn: Tx, work: Work, now: datetime) -> Work | None:
        row = self._current(conn, work)
        if row is None:
            return None
        if self._policy.exhausted(row["send_attempts"]):
            self._finish(
                conn,
                work,
                N.FAILED,
                {"reason": "retries spent"},
                error_message="retries spent; Twilio has no record of the text",
            )
            return None
        attempts = row["send_attempts"] + 1
        conn.execute(
            "UPDATE notifications SET send_attempts = ?, claimed_at = ? WHERE id = ?",
            (attempts, iso(now), int(work.id)),
        )
        return replace(work, attempts=attempts, claimed_at=iso(now))

    def record(self, conn: Tx, work: Work, result: SendResult, now: datetime) -> None:
        row = self._current(conn, work)
        if row is None:
            return
        if result.outcome is Outcome.ACCEPTED:
            self._finish(
                conn, work, N.SENT, {"sid": result.sid}, provider_sid=result.sid, sent_at=iso(now)
            )
            return
        unconfirmed = row["unconfirmed_since"] or (
            work.claimed_at if result.outcome is Outcome.UNCERTAIN else None
        )
        final = result.outcome in (Outcome.REJECTED, Outcome.OPTED_OUT)
        if final or (self._policy.exhausted(work.attempts) and unconfirmed is None):
            message = result.error_message or "refused"
            if not final:
                message = f"retries spent: {message}"
            self._finish(
                conn,
                work,
                N.FAILED,
                {"error_code": result.error_code, "http_status": result.http_status},
                error_code=result.error_code,
                error_message=message,
            )
            return
        delay = self._policy.delay(work.attempts, self._rand)
        conn.execute(
            """
            UPDATE notifications SET claimed_at = NULL, next_attempt_at = ?,
                                     unconfirmed_since = ?, error_code = ?, error_message = ?
            WHERE id = ?
            """,
            (
                iso(now + timedelta(seconds=delay)),
                unconfirmed,
                result.error_code,
                result.error_message,
                int(work.id),
            ),
        )

    def record_found(self, conn: Tx, work: Work, found: FoundMessage) -> None:
        if self._current(conn, work) is not None:
            self._finish(
                conn,
                work,
                N.SENT,
                {"sid": found.sid, "reconciled": True},
                provider_sid=found.sid,
                sent_at=work.unconfirmed_since,
            )

    def defer(self, conn: Tx, work: Work, until: datetime) -> None:
        conn.execute(
            """
            UPDATE notifications SET claimed_at = NULL, next_attempt_at = ?
            WHERE id = ? AND status = 'PENDING' AND claimed_at = ?
            """,
            (iso(until), int(work.id), work.claimed_at),
        )


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
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._gateway = gateway
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._lanes: dict[str, Lane] = {
            "message": MessageLane(settings, policy, rand, metrics),
            "notification": NotificationLane(settings, policy, rand),
        }
        self._concurrency = settings.send_concurrency
        self._wakeup = asyncio.Event()
        self._active = False
        self._stopping = False
        self._running: asyncio.Task[Any] | None = None

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

    async def stop(self) -> None:
        """Claim nothing more and wait for sends in flight to be recorded."""
        self._stopping = True
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

        def claim(conn: Tx) -> list[Work]:
            work = self._lanes["message"].claim(conn, now, room)
            if len(work) < room:
                work += self._lanes["notification"].claim(conn, now, room - len(work))
            return work

        return await self._db.write(claim, priority=Priority.DECISION)

    async def _process(self, work: Work) -> None:
        lane = self._lanes[work.kind]
        try:
            if work.unconfirmed_since is not None:
                prepared = await self._reconcile(lane, work)
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
        row = await self._db.fetchone(
            """
            SELECT max(timestamp) AS at FROM audit_log
            WHERE message_id = ? AND event IN (?, ?)
            """,
            (message_id, Event.APPROVE, Event.HUMAN_REPLY),
        )
        if row is None or row["at"] is None:
            return
        waited = (accepted_at - datetime.fromisoformat(row["at"])).total_seconds()
        self._metrics.approve_to_accepted_seconds.observe(max(0.0, waited))

    async def _reconcile(self, lane: Lane, work: Work) -> Work | None:
        """Look for an earlier attempt at Twilio; the work to send when there is none."""
        assert work.unconfirmed_since is not None
        since = datetime.fromisoformat(work.unconfirmed_since) - timedelta(
            seconds=RECONCILE_SLACK_SECONDS
        )
        try:
            found = await self._gateway.find_sent(work.to, work.body, since)
        except GatewayUnreachable as error:
            log.warning("%s %s: reconciliation postponed: %s", work.kind, work.id, error)
            until = self._clock() + timedelta(seconds=self._settings.send_poll_seconds)
            await self._db.write(
                lambda conn: lane.defer(conn, work, until), priority=Priority.DECISION
            )
            return None
        if found is not None:
            log.info("%s %s: found at Twilio as %s; not sent again", work.kind, work.id, found.sid)
            await self._db.write(
                lambda conn: lane.record_found(conn, work, found), priority=Priority.DECISION
            )
            return None
        now = self._clock()
        return await self._db.write(
            lambda conn: lane.prepare(conn, work, now), priority=Priority.DECISION
        )
