"""Texts to reviewers: the same claim, retry and reconciliation rules as customer messages,
without the customer checks (no gate, no thread, no window)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..gateways import FoundMessage, SendResult
from ..models import MessageStatus, MessageType, iso
from ..outbox import NotificationEvent, NotificationStatus, change_notification_status
from ..retry import Outcome, RetryPolicy
from ..store import Row, Tx
from ..store import notifications as notification_rows
from .claim import Work

log = logging.getLogger("approval_bot.sender")

N = NotificationStatus
S = MessageStatus


def takes_text(row: Row) -> bool:
    """Whether a notification row's reviewer takes it now.

    Nobody gets a text without a phone, or after texting STOP (Twilio would refuse it).
    A new-draft text also needs an active reviewer with draft texts on; the answer to a
    command they just sent (no draft) goes to them regardless, disabled ones included.
    """
    if not row["phone"] or row["sms_opted_out"]:
        return False
    return row["draft_id"] is None or bool(row["active"] and row["notify_sms"])


# a draft no reviewer can decide any more: approved, sent or not, rejected, or replaced
# (an edit, a reviewer's own reply, a close)
DECIDED = frozenset({S.APPROVED_TO_SEND, S.SENT, S.FAILED_SEND, S.REJECTED, S.SUPERSEDED})


def about_a_decided_draft(row: Row) -> bool:
    """Whether a due row is a text about a draft ("draft 7F3K is waiting": its notice, its
    reminder, its escalation) decided since it was queued. A command's answer is about no
    draft, a customer's text held for an opt-out decision is no draft: both still go."""
    return row["draft_type"] in (MessageType.DRAFT, MessageType.OUTBOUND) and (
        row["draft_status"] in DECIDED
    )


class NotificationLane:
    """Texts to reviewers: the same claim, retry and reconciliation rules, no customer checks."""

    kind = "notification"

    def __init__(self, settings: Settings, policy: RetryPolicy, rand: Callable[[], float]):
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._policy = policy
        self._rand = rand

    # -- the claim -------------------------------------------------------------------------

    def closed(self, conn: Tx) -> bool:
        return False  # reviewer notifications are not customer messages: never gated

    def due(self, conn: Tx, now: datetime, room: int) -> list[Row]:
        return notification_rows.due(
            conn, now=iso(now), stale_before=iso(now - self._lease), room=room
        )

    def stopped(self, conn: Tx, row: Row, now: datetime) -> bool:
        if about_a_decided_draft(row):
            change_notification_status(
                conn,
                row["id"],
                expected=N.PENDING,
                target=N.WITHDRAWN,
                event=NotificationEvent.WITHDRAWN,
                metadata={"reason": f"the draft is {row['draft_status']}"},
            )
            return True
        if takes_text(row):
            return False
        change_notification_status(
            conn,
            row["id"],
            expected=N.PENDING,
            target=N.HELD,
            event=NotificationEvent.HELD,
            metadata={"reason": "the reviewer takes no texts"},
        )
        return True

    def take(
        self, conn: Tx, row: Row, now: datetime, attempts: int, unconfirmed: str | None
    ) -> Work:
        notification_rows.ATTEMPTS.claim(
            conn, row["id"], claimed_at=iso(now), attempts=attempts, unconfirmed=unconfirmed
        )
        return Work(
            kind="notification",
            id=str(row["id"]),
            to=row["phone"],
            body=row["body"],
            media_urls=(),
            attempts=attempts,
            unconfirmed_since=unconfirmed,
            claimed_at=iso(now),
        )

    # -- after the claim: the row as it is now ---------------------------------------------

    def _current(self, conn: Tx, work: Work) -> Row | None:
        row = notification_rows.get(conn, int(work.id))
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
        notification_rows.ATTEMPTS.count_attempt(
            conn, int(work.id), attempts=attempts, claimed_at=iso(now)
        )
        return replace(work, attempts=attempts, claimed_at=iso(now))

    # -- the outcome -----------------------------------------------------------------------

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
        notification_rows.ATTEMPTS.retry_later(
            conn,
            int(work.id),
            next_attempt_at=iso(now + timedelta(seconds=delay)),
            unconfirmed=unconfirmed,
            error_code=result.error_code,
            error_message=result.error_message,
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
        notification_rows.ATTEMPTS.defer(
            conn, int(work.id), until=iso(until), claimed_at=work.claimed_at
        )
