"""Customer messages in APPROVED_TO_SEND: re-checked at the claim, sent, and every outcome
recorded through the workflow funnel with its audit row."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from .. import audit, delivery, events, review, sending_gate, whatsapp_window, workflow
from ..config import Settings
from ..gateways import FoundMessage, SendResult
from ..metrics import Metrics
from ..models import (
    Channel,
    ConversationState,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
    iso,
)
from ..phones import WHATSAPP_PREFIX
from ..retry import OPTED_OUT_CODE, WHATSAPP_WINDOW_CODE, Outcome, RetryPolicy
from ..store import Row, Tx, conversations, inbound_dedupe
from ..store import audit as audit_rows
from ..store import messages as message_rows
from ..store import sending as sending_rows
from .claim import Work

log = logging.getLogger("approval_bot.sender")

S = MessageStatus
CUSTOMER_WROTE_AGAIN = "customer wrote again"
CONVERSATION_CLOSED = "the conversation was closed"
HOLDING_ANSWERED = "the customer's text was answered before the holding reply went"
STATUS_EVENTS_PROVIDER = "twilio-status"
RETRY_SCHEDULED = "Send Retry Scheduled"
OPTED_OUT_REASON = f"the customer opted out (Twilio {OPTED_OUT_CODE})"


def _media_urls(media: str) -> tuple[str, ...]:
    items = json.loads(media or "[]")
    return tuple(item["url"] if isinstance(item, dict) else str(item) for item in items)


def _address(receiver: str, channel: str) -> str:
    if channel == Channel.WHATSAPP and not receiver.startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + receiver
    return receiver


class MessageLane:
    """Customer messages in APPROVED_TO_SEND: re-checked, sent, recorded through the workflow."""

    kind = "message"

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

    # -- the claim -------------------------------------------------------------------------

    def closed(self, conn: Tx) -> bool:
        # held by the sending gate: nothing is claimed or failed; they wait for it to open
        return sending_gate.why_closed(conn) is not None

    def due(self, conn: Tx, now: datetime, room: int) -> list[Row]:
        return sending_rows.due(conn, now=iso(now), stale_before=iso(now - self._lease), room=room)

    def stopped(self, conn: Tx, row: Row, now: datetime) -> bool:
        # a thread another transaction is writing (a STOP, a pause, a new text) is left for
        # the next pass, which sees what it wrote; waiting here, holding this row, could
        # deadlock with it
        if not conversations.try_lock(conn, row["thread_id"]):
            return True
        # the thread's holding reply is on its way: the answer follows it, never beside it
        if sending_rows.holding_in_flight(conn, row["thread_id"], row["id"]):
            return True
        return self._recheck(conn, row, now)

    def take(
        self, conn: Tx, row: Row, now: datetime, attempts: int, unconfirmed: str | None
    ) -> Work:
        sending_rows.ATTEMPTS.claim(
            conn, row["id"], claimed_at=iso(now), attempts=attempts, unconfirmed=unconfirmed
        )
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

    def _recheck(self, conn: Tx, row: Row, now: datetime) -> bool:
        """Stop a message that must not go out now; True when it was moved."""
        message_id, thread_id = row["id"], row["thread_id"]
        thread = conversations.thread(conn, thread_id)
        if thread is None or thread.opted_out or thread.paused:
            reason = "opted out" if thread is not None and thread.opted_out else "thread paused"
            self._move(conn, message_id, S.PAUSED_THREAD, Event.HELD, {"reason": reason})
            return True
        if self._taken_over_since_approval(conn, row, thread):
            # the bot's reply would cross what the holder writes: held until the release
            self._move(conn, message_id, S.PAUSED_THREAD, Event.HELD, {"reason": review.TAKEN_OVER})
            return True
        if thread.state == ConversationState.CLOSED and row["unconfirmed_since"] is not None:
            # a close leaves a reply Twilio may already have to the sender; not sent after
            # all, it is superseded as the close's other replies were (a message a reviewer
            # sends on the closed thread, a WhatsApp template, is theirs: it goes)
            self._move(
                conn, message_id, S.SUPERSEDED, Event.SUPERSEDED, {"reason": CONVERSATION_CLOSED}
            )
            return True
        newer = sending_rows.newer_reply(conn, thread_id, message_id, row["timestamp"])
        if newer is not None:
            self._move(
                conn,
                message_id,
                S.SUPERSEDED,
                Event.SUPERSEDED,
                {"reason": "no longer the latest reply"},
                superseded_by=newer,
            )
            return True
        answer = sending_rows.holding_answered(conn, message_id)
        if answer is not None:
            # "a person will reply shortly", after the reply itself, would only confuse
            self._move(
                conn,
                message_id,
                S.SUPERSEDED,
                Event.SUPERSEDED,
                {"reason": HOLDING_ANSWERED},
                superseded_by=answer,
            )
            return True
        approved_at = audit_rows.latest_of(
            conn, message_id, (Event.APPROVE, Event.HUMAN_REPLY, Event.TEMPLATE_REPLY)
        )
        if approved_at is not None:
            wrote_again = sending_rows.wrote_after(conn, thread_id, approved_at)
            if wrote_again is not None:
                self._move(
                    conn,
                    message_id,
                    S.DRAFT_PENDING_APPROVAL,
                    Event.CUSTOMER_WROTE_AGAIN,
                    {"reason": CUSTOMER_WROTE_AGAIN, "inbound_id": wrote_again},
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

    def _taken_over_since_approval(self, conn: Tx, row: Row, thread: conversations.Thread) -> bool:
        """A bot's reply approved before a human took the thread over (one approved since,
        by the holder or with their knowledge, goes)."""
        if thread.taken_over_at is None or row["type"] != MessageType.DRAFT:
            return False
        approved_at = audit_rows.latest_of(conn, row["id"], (Event.APPROVE,))
        return approved_at is None or approved_at < thread.taken_over_at

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
            sending_rows.clear_unconfirmed(conn, message_id)

    # -- after the claim: the row as it is now ---------------------------------------------

    def _current(self, conn: Tx, work: Work) -> Row | None:
        row = sending_rows.current(conn, work.id)
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
        message_rows.lock(conn, work.id)  # a STOP or pause being written is seen
        row = self._current(conn, work)
        if row is None:
            return None
        if sending_gate.why_closed(conn) is not None:
            # the gate closed since the claim: let go, still unconfirmed, until it opens
            sending_rows.let_go(conn, work.id)
            return None
        if self._recheck(conn, row, now):
            return None
        if self._policy.exhausted(row["send_attempts"]):
            self._fail(conn, row, "retries spent; Twilio has no record of the message", None, None)
            return None
        attempts = row["send_attempts"] + 1
        sending_rows.ATTEMPTS.count_attempt(conn, work.id, attempts=attempts, claimed_at=iso(now))
        return replace(work, attempts=attempts, claimed_at=iso(now))

    def _fail(
        self,
        conn: Tx,
        row: Row,
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

    # -- the outcome -----------------------------------------------------------------------

    def record(self, conn: Tx, work: Work, result: SendResult, now: datetime) -> None:
        message_rows.lock(conn, work.id)  # a STOP or pause being written is seen
        row = self._current(conn, work)
        if row is None:
            return
        # an opt-out or a flag this outcome causes belongs to the reply's chain
        with events.correlation(row["correlation_id"]):
            self._record(conn, work, row, result, now)

    def _record(self, conn: Tx, work: Work, row: Row, result: SendResult, now: datetime) -> None:
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
        self, conn: Tx, work: Work, row: Row, result: SendResult, now: datetime
    ) -> None:
        uncertain = result.outcome is Outcome.UNCERTAIN
        unconfirmed = row["unconfirmed_since"] or (work.claimed_at if uncertain else None)
        if self._policy.exhausted(work.attempts) and unconfirmed is None:
            message = f"retries spent: {result.error_message or 'no answer'}"
            self._fail(conn, row, message, result.error_code, result.http_status)
            return
        # with the outcome unknown, even after the last attempt Twilio is asked once more
        delay = self._policy.delay(work.attempts, self._rand)
        sending_rows.ATTEMPTS.retry_later(
            conn,
            work.id,
            next_attempt_at=iso(now + timedelta(seconds=delay)),
            unconfirmed=unconfirmed,
            error_code=result.error_code,
            error_message=result.error_message,
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
        early = inbound_dedupe.early_statuses(conn, STATUS_EVENTS_PROVIDER, sid)
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
        sending_rows.ATTEMPTS.defer(conn, work.id, until=iso(until), claimed_at=work.claimed_at)


def opt_out_thread(conn: Tx, thread_id: str) -> None:
    """Twilio said 21610: the thread is opted out, paused, and needs a human's attention.

    Read under the thread's lock: a STOP or a reviewer's pause committed meanwhile is seen,
    not made a second time.
    """
    thread = conversations.lock(conn, thread_id)
    if thread is None:
        return
    if not thread.opted_out:
        workflow.set_opted_out(
            conn, thread_id, opted_out=True, source=f"Twilio error {OPTED_OUT_CODE}"
        )
    if not thread.paused:
        review.hold_thread(conn, thread_id, OPTED_OUT_REASON, None, kind=PauseKind.OPT_OUT)
    workflow.flag_conversation(conn, thread_id, OPTED_OUT_REASON)
