"""Sending to customers: the sending gate, the sender's claims, attempts and outcomes of
messages, what reconciliation reads, the sandbox gateway's messages, and the background
jobs' reads of due work."""

from __future__ import annotations

from .base import Reads, Row, Tx
from .send_attempts import SendAttempts
from .sql import sql

# -- the sending gate --------------------------------------------------------------------------

_GATE = sql(
    """
    SELECT sending_gate.*, reviewers.name AS changed_by_name
    FROM sending_gate LEFT JOIN reviewers ON reviewers.id = sending_gate.changed_by
    WHERE sending_gate.id = 1
    """
)
_SET_UP_GATE = sql(
    """
    INSERT INTO sending_gate (id, status, stopped, reason, changed_via, changed_at)
    VALUES (1, :status, 0, NULL, :changed_via, :changed_at) ON CONFLICT (id) DO NOTHING
    """
)
_CHANGE_GATE = sql(
    """
    UPDATE sending_gate SET status = :status, stopped = :stopped, reason = :reason,
                            changed_by = :changed_by, changed_via = :changed_via,
                            changed_at = :changed_at
    WHERE id = 1
    """
)
# approved replies not at Twilio (never claimed, nothing unconfirmed), oldest first, each
# with its latest approval (`events`: every way into APPROVED_TO_SEND); a reply that may
# already be at Twilio is the sender's to reconcile, never re-reviewed
_APPROVED_UNSENT = sql(
    """
    SELECT messages.id,
           (SELECT max(timestamp) FROM audit_log
            WHERE audit_log.message_id = messages.id
              AND audit_log.event IN (:event_1, :event_2, :event_3, :event_4))
           AS approved_at
    FROM messages
    WHERE messages.status = 'APPROVED_TO_SEND'
      AND messages.claimed_at IS NULL AND messages.unconfirmed_since IS NULL
    ORDER BY messages.timestamp
    """
)
_APPROVED_COUNT = sql("SELECT count(*) AS n FROM messages WHERE status = 'APPROVED_TO_SEND'")


def gate(tx: Tx) -> Row | None:
    """The gate's row (with `changed_by_name`), or None before the first start."""
    return tx.one(_GATE)


async def read_gate(db: Reads) -> Row | None:
    """As `gate`, outside a write transaction."""
    return await db.one(_GATE)


def set_up_gate(tx: Tx, status: str, changed_via: str, changed_at: str) -> bool:
    """Write the gate's first row, open, unless there is one; whether it did."""
    return tx.run(_SET_UP_GATE, status=status, changed_via=changed_via, changed_at=changed_at) > 0


def change_gate(
    tx: Tx,
    *,
    status: str,
    stopped: bool,
    reason: str | None,
    changed_by: int | None,
    changed_via: str,
    changed_at: str,
) -> None:
    tx.run(
        _CHANGE_GATE,
        status=status,
        stopped=int(stopped),
        reason=reason,
        changed_by=changed_by,
        changed_via=changed_via,
        changed_at=changed_at,
    )


def approved_unsent(tx: Tx, approval_events: tuple[str, str, str, str]) -> list[Row]:
    """Approved replies no sender holds (id, approved_at: their latest of `approval_events`),
    oldest first. Reads messages and audit_log."""
    first, second, third, fourth = approval_events
    return tx.all(_APPROVED_UNSENT, event_1=first, event_2=second, event_3=third, event_4=fourth)


async def approved_count(db: Reads) -> int:
    """How many replies are approved and not sent yet. Reads messages."""
    row = await db.one(_APPROVED_COUNT)
    return int(row["n"]) if row is not None else 0


# -- the sandbox gateway -----------------------------------------------------------------------

_SANDBOX_SEND = sql(
    """
    INSERT INTO sandbox_messages (sid, to_address, from_address, body, media, created_at)
    VALUES (:sid, :to_address, :from_address, :body, :media, :created_at)
    """
)
_SANDBOX_FIND = sql(
    """
    SELECT sid FROM sandbox_messages
    WHERE to_address = :to_address AND body = :body AND created_at >= :since
    ORDER BY created_at LIMIT 1
    """
)


def add_sandbox_message(
    tx: Tx, *, sid: str, to_address: str, from_address: str, body: str, media: str, created_at: str
) -> None:
    tx.run(
        _SANDBOX_SEND,
        sid=sid,
        to_address=to_address,
        from_address=from_address,
        body=body,
        media=media,
        created_at=created_at,
    )


async def find_sandbox_message(db: Reads, to_address: str, body: str, since: str) -> str | None:
    """The sid of the first sandbox message with this body to `to_address` since `since`."""
    row = await db.one(_SANDBOX_FIND, to_address=to_address, body=body, since=since)
    return None if row is None else str(row["sid"])


# -- the background jobs (tables of other store modules: messages, missed_calls)

_UNDRAFTED = sql(
    """
    SELECT DISTINCT thread_id FROM messages WHERE type = 'INBOUND' AND status = 'RECEIVED'
    UNION
    SELECT DISTINCT thread_id FROM missed_calls WHERE wants_draft = 1
    """
)


async def undrafted_threads(db: Reads) -> list[str]:
    """Threads with a received message or a missed call still waiting for a draft.
    Reads messages and missed_calls."""
    return [row["thread_id"] for row in await db.all(_UNDRAFTED)]


# -- the sender: customer messages in APPROVED_TO_SEND ------------------------------------------

# due now: never tried, due again, or claimed before `stale_before` (its sender died mid-send)
_DUE_TEXT = """
    SELECT messages.*, conversations.channel AS thread_channel
    FROM messages JOIN conversations USING (thread_id)
    WHERE messages.status = 'APPROVED_TO_SEND'
      AND ((messages.claimed_at IS NULL
            AND (messages.next_attempt_at IS NULL OR messages.next_attempt_at <= :now))
           OR messages.claimed_at <= :stale_before)
    ORDER BY messages.timestamp LIMIT :room
    """
_DUE = sql(
    _DUE_TEXT,
    # several instances: a row another one is claiming is skipped, not waited for
    postgres=_DUE_TEXT + "FOR UPDATE OF messages SKIP LOCKED",
)
_CURRENT = sql(
    """
    SELECT messages.*, conversations.channel AS thread_channel
    FROM messages JOIN conversations USING (thread_id) WHERE messages.id = :id
    """
)
_LET_GO = sql("UPDATE messages SET claimed_at = NULL WHERE id = :id")
_CONFIRMED = sql("UPDATE messages SET unconfirmed_since = NULL WHERE id = :id")

# claims, attempts, retries and deferrals, as for reviewer texts
ATTEMPTS = SendAttempts.of("messages", "APPROVED_TO_SEND")


def due(tx: Tx, *, now: str, stale_before: str, room: int) -> list[Row]:
    """Up to `room` approved messages to send now, oldest first, each with its thread's
    channel (`thread_channel`)."""
    return tx.all(_DUE, now=now, stale_before=stale_before, room=room)


def current(tx: Tx, message_id: str) -> Row | None:
    """A message with its thread's channel (`thread_channel`), or None."""
    return tx.one(_CURRENT, id=message_id)


def let_go(tx: Tx, message_id: str) -> None:
    """Drop a claim, keeping what is unconfirmed about it."""
    tx.run(_LET_GO, id=message_id)


def clear_unconfirmed(tx: Tx, message_id: str) -> None:
    tx.run(_CONFIRMED, id=message_id)


# what a claim re-checks before a first attempt (the messages table; the thread itself is
# `conversations.thread`, its approval `audit.latest_of`); a holding reply only says a
# person will answer, so it never replaces the reply it was sent for
_NEWER_REPLY = sql(
    """
    SELECT id FROM messages
    WHERE thread_id = :thread_id AND type IN ('DRAFT', 'OUTBOUND') AND id != :id
      AND timestamp > :since
      AND status NOT IN ('REJECTED', 'SUPERSEDED', 'FAILED_SEND')
      AND NOT EXISTS (SELECT 1 FROM auto_replies
                      WHERE auto_replies.message_id = messages.id
                        AND auto_replies.trigger = 'holding')
    ORDER BY timestamp DESC LIMIT 1
    """
)
# a holding reply whose customer text has an answer approved or sent since: it would only
# follow that answer; the answer's id, none for any other message
_HOLDING_ANSWERED = sql(
    """
    SELECT answer.id FROM auto_replies
    JOIN messages AS holding ON holding.id = auto_replies.message_id
    JOIN messages AS inbound ON inbound.id = holding.in_reply_to_id
    JOIN messages AS answer ON answer.thread_id = holding.thread_id
    WHERE auto_replies.message_id = :id AND auto_replies.trigger = 'holding'
      AND answer.type IN ('DRAFT', 'OUTBOUND') AND answer.status IN ('APPROVED_TO_SEND', 'SENT')
      AND answer.timestamp > inbound.timestamp AND answer.id != holding.id
      AND NOT EXISTS (SELECT 1 FROM auto_replies AS other
                      WHERE other.message_id = answer.id AND other.trigger = 'holding')
    LIMIT 1
    """
)
# a holding reply of the thread claimed by a sender, or maybe at Twilio already
_HOLDING_IN_FLIGHT = sql(
    """
    SELECT 1 FROM messages
    WHERE thread_id = :thread_id AND type = 'OUTBOUND' AND status = 'APPROVED_TO_SEND'
      AND id != :id AND (claimed_at IS NOT NULL OR unconfirmed_since IS NOT NULL)
      AND EXISTS (SELECT 1 FROM auto_replies
                  WHERE auto_replies.message_id = messages.id
                    AND auto_replies.trigger = 'holding')
    LIMIT 1
    """
)
# not messages.last_inbound, though it asks nearly the same: the id found here goes into the
# Customer Wrote Again audit row, and it is the first text after `since` the index range
# gives, not the latest
_WROTE_AGAIN = sql(
    """
    SELECT id FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND' AND timestamp > :since LIMIT 1
    """
)


def newer_reply(tx: Tx, thread_id: str, message_id: str, since: str) -> str | None:
    """The newest live reply of the thread other than `message_id` made after `since`, a
    holding reply aside. Reads messages and auto_replies."""
    row = tx.one(_NEWER_REPLY, thread_id=thread_id, id=message_id, since=since)
    return None if row is None else str(row["id"])


def holding_answered(tx: Tx, message_id: str) -> str | None:
    """When `message_id` is a holding reply whose customer text has since had an answer
    approved or sent, that answer's id. Reads auto_replies and messages."""
    row = tx.one(_HOLDING_ANSWERED, id=message_id)
    return None if row is None else str(row["id"])


def holding_in_flight(tx: Tx, thread_id: str, message_id: str) -> bool:
    """Whether a holding reply of the thread other than `message_id` is claimed by a sender
    or may be at Twilio. Reads messages and auto_replies."""
    return tx.one(_HOLDING_IN_FLIGHT, thread_id=thread_id, id=message_id) is not None


def wrote_after(tx: Tx, thread_id: str, since: str) -> str | None:
    """A customer's message on the thread after `since`, if any. Reads messages."""
    row = tx.one(_WROTE_AGAIN, thread_id=thread_id, since=since)
    return None if row is None else str(row["id"])
