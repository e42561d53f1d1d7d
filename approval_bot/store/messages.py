"""Messages: their rows, the workflow funnel's reads and writes of them, what the review
actions and the drafting service read of a thread's messages, and the table that hangs off
one message (automatic replies).

Every status change goes through `workflow.change_status`, which calls `set_status` here;
no other function of this module writes a status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from ..models import Channel
from . import conversations
from .base import Reads, Row, Tx
from .sql import Query, sql

# the customer's latest message on a thread: one index lookup on (thread_id, type, timestamp)
_LAST_INBOUND = sql(
    """
    SELECT id, timestamp, receiver, channel, correlation_id, understanding FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND'
    ORDER BY timestamp DESC LIMIT 1
    """
)


@dataclass(frozen=True)
class LastInbound:
    """The customer's latest message on a thread, as its readers need it: its id, when, our
    number it went to, its channel, its correlation id and what was understood of it."""

    id: str
    timestamp: str
    receiver: str
    channel: Channel
    correlation_id: str | None
    understanding: str | None  # Understanding's JSON, when it was understood

    @classmethod
    def from_row(cls, row: Row) -> LastInbound:
        return cls(
            id=row["id"],
            timestamp=str(row["timestamp"]),
            receiver=row["receiver"],
            channel=Channel(row["channel"]),
            correlation_id=row["correlation_id"],
            understanding=row["understanding"],
        )


def last_inbound(tx: Tx, thread_id: str) -> LastInbound | None:
    row = tx.one(_LAST_INBOUND, thread_id=thread_id)
    return None if row is None else LastInbound.from_row(row)


async def read_last_inbound(db: Reads, thread_id: str) -> LastInbound | None:
    row = await db.one(_LAST_INBOUND, thread_id=thread_id)
    return None if row is None else LastInbound.from_row(row)


_ROW = sql("SELECT * FROM messages WHERE id = :id")


def row(tx: Tx, message_id: str) -> dict[str, Any] | None:
    """A messages row, as a dict; None when there is no such message."""
    found = tx.one(_ROW, id=message_id)
    return None if found is None else dict(found)


async def read_row(db: Reads, message_id: str) -> dict[str, Any] | None:
    """As `row`, outside a write transaction."""
    found = await db.one(_ROW, id=message_id)
    return None if found is None else dict(found)


_LAST_VERSION = sql(
    "SELECT coalesce(max(draft_version), 0) AS version FROM messages"
    " WHERE in_reply_to_id = :message_id"
)


async def last_version(db: Reads, message_id: str) -> int:
    """The highest draft_version of the replies to a customer message (0 without one)."""
    found = await db.one(_LAST_VERSION, message_id=message_id)
    return int(found["version"]) if found is not None else 0


# a thread's open replies (the review actions)


@dataclass(frozen=True)
class OpenReply:
    """A reply of a thread in one of the statuses asked for."""

    id: str
    status: str
    type: str


@lru_cache(maxsize=8)
def _replies_query(count: int) -> Query:
    statuses = ", ".join(f":s{i}" for i in range(count))
    # a reply the sender holds, or may already have handed to Twilio, is left to the
    # sender: it re-checks the thread before any further attempt
    return sql(
        f"""
        SELECT id, status, type FROM messages
        WHERE thread_id = :thread_id AND type IN ('DRAFT', 'OUTBOUND') AND status IN ({statuses})
          AND NOT (status = 'APPROVED_TO_SEND'
                   AND (claimed_at IS NOT NULL OR unconfirmed_since IS NOT NULL))
        ORDER BY timestamp
        """
    )


def replies_in(tx: Tx, thread_id: str, statuses: Sequence[str]) -> list[OpenReply]:
    """The thread's replies in `statuses`, oldest first, but those the sender may be sending."""
    params: dict[str, Any] = {f"s{i}": status for i, status in enumerate(statuses)}
    rows = tx.all(_replies_query(len(statuses)), thread_id=thread_id, **params)
    return [OpenReply(row["id"], row["status"], row["type"]) for row in rows]


@cache
def _insert(columns: tuple[str, ...]) -> Query:
    # the column names come from the funnel's fixed sets (workflow._CREATE_FIELDS), never
    # from a value
    return sql(
        f"INSERT INTO messages ({', '.join(columns)}) "
        f"VALUES ({', '.join(f':{name}' for name in columns)})"
    )


def insert_message(tx: Tx, row: Mapping[str, Any]) -> None:
    """Insert one message row (a column name → value for each column it sets)."""
    tx.run(_insert(tuple(row)), **row)


@dataclass(frozen=True)
class MessageState:
    type: str
    status: str
    thread_id: str
    superseded_by: str | None  # the newer version; None on a reply a close withdrew


# the funnel's check before a move: on PostgreSQL the row is locked until the transaction
# ends, so a concurrent move of the same message waits and then reads the status it left
# (SQLite runs one write transaction at a time: the check and the move are one already)
_STATE = sql(
    "SELECT type, status, thread_id, superseded_by FROM messages WHERE id = :id",
    postgres="""
    SELECT type, status, thread_id, superseded_by FROM messages WHERE id = :id FOR UPDATE
    """,
)


def state(tx: Tx, message_id: str) -> MessageState | None:
    """A message's type, status and thread (the row locked until the transaction ends, on
    PostgreSQL); None when there is no such message."""
    row = tx.one(_STATE, id=message_id)
    if row is None:
        return None
    return MessageState(row["type"], row["status"], row["thread_id"], row["superseded_by"])


# a message's thread never changes: read without a lock, to take the thread's lock first
_THREAD_OF = sql("SELECT thread_id FROM messages WHERE id = :id")


def lock(tx: Tx, message_id: str) -> MessageState | None:
    """Take the message's thread's lock, then the message's own, and read it as `state`
    does: the order every write takes them in. Taken first by a write transaction that
    reads what hangs off a message (a draft's claim, the thread's pause or opt-out, a
    delivery status) before it writes: a second one waits for this one to end, then reads
    what it left (PostgreSQL; SQLite runs one write transaction at a time)."""
    row = tx.one(_THREAD_OF, id=message_id)
    if row is None:
        return None
    conversations.lock(tx, row["thread_id"])
    return state(tx, message_id)


@cache
def _set_status(fields: tuple[str, ...]) -> Query:
    # the field names come from workflow._TRANSITION_FIELDS, never from a value
    assignments = "".join(f", {name} = :{name}" for name in fields)
    return sql(
        f"""
        UPDATE messages SET status = :target, updated_at = :now{assignments}
        WHERE id = :id AND status = :expected
        """
    )


def set_status(
    tx: Tx,
    message_id: str,
    *,
    expected: str,
    target: str,
    now: str,
    fields: Mapping[str, Any],
) -> int:
    """Move a message from `expected` to `target`, setting `fields` with it; rows changed."""
    return tx.run(
        _set_status(tuple(fields)),
        target=target,
        now=now,
        id=message_id,
        expected=expected,
        **fields,
    )


_SETTLE_ANSWERED = sql(
    """
    UPDATE messages SET settled_at = :now
    WHERE thread_id = :thread AND type = 'INBOUND' AND status = 'NEEDS_REVIEW'
      AND settled_at IS NULL
      AND timestamp < (SELECT timestamp FROM messages WHERE id = :reply)
    """
)


def settle_answered(tx: Tx, thread_id: str, reply_id: str, now: str) -> None:
    """Settle the thread's texts waiting for a written reply, older than `reply_id`."""
    tx.run(_SETTLE_ANSWERED, now=now, thread=thread_id, reply=reply_id)


_CORRELATION = sql("SELECT correlation_id FROM messages WHERE id = :id")


def correlation_id(tx: Tx, message_id: str) -> str | None:
    """The correlation id of a message (None for no such message, or one without)."""
    row = tx.one(_CORRELATION, id=message_id)
    return None if row is None else row["correlation_id"]


@dataclass(frozen=True)
class SendOutcome:
    """What message.sent and message.failed tell about a reply."""

    id: str
    thread_id: str
    receiver: str
    body: str
    provider_sid: str | None
    delivery_status: str | None
    error_code: int | None
    error_message: str | None
    correlation_id: str | None


_SEND_OUTCOME = sql(
    """
    SELECT id, thread_id, receiver, body, provider_sid, delivery_status, error_code,
           error_message, correlation_id
    FROM messages WHERE id = :id
    """
)


def send_outcome(tx: Tx, message_id: str) -> SendOutcome:
    row = tx.one(_SEND_OUTCOME, id=message_id)
    assert row is not None, message_id
    return SendOutcome(**{name: row[name] for name in SendOutcome.__dataclass_fields__})


@dataclass(frozen=True)
class Delivered:
    """A sent message as a delivery callback finds it by its Twilio SID."""

    id: str
    thread_id: str
    delivery_status: str | None
    correlation_id: str | None


_BY_PROVIDER_SID = sql(
    """
    SELECT id, thread_id, delivery_status, correlation_id FROM messages
    WHERE provider_sid = :sid
    """
)


def by_provider_sid(tx: Tx, sid: str) -> Delivered | None:
    row = tx.one(_BY_PROVIDER_SID, sid=sid)
    if row is None:
        return None
    return Delivered(row["id"], row["thread_id"], row["delivery_status"], row["correlation_id"])


_SET_DELIVERY_STATUS = sql(
    """
    UPDATE messages SET delivery_status = :status,
        error_code = coalesce(:error_code, error_code),
        error_message = coalesce(:error_message, error_message), updated_at = :now
    WHERE id = :id
    """
)


def set_delivery_status(
    tx: Tx,
    message_id: str,
    status: str,
    *,
    error_code: int | None,
    error_message: str | None,
    now: str,
) -> None:
    """Record a delivery status; an error code or message given replaces the one kept."""
    tx.run(
        _SET_DELIVERY_STATUS,
        status=status,
        error_code=error_code,
        error_message=error_message,
        now=now,
        id=message_id,
    )


_OPEN_REPLY = sql(
    """
    SELECT 1 FROM messages WHERE thread_id = :thread_id AND type IN ('DRAFT', 'OUTBOUND')
      AND status IN ('DRAFT_PENDING_APPROVAL', 'APPROVED_TO_SEND') LIMIT 1
    """
)


def has_open_reply(tx: Tx, thread_id: str) -> bool:
    """Whether a reply to the thread waits for review or for the sender."""
    return tx.one(_OPEN_REPLY, thread_id=thread_id) is not None


# automatic replies (auto_replies): at most one per thread and trigger in a window

_RECENT_AUTO_REPLY = sql(
    """
    SELECT 1 FROM auto_replies
    WHERE thread_id = :thread_id AND trigger = :trigger AND created_at > :since LIMIT 1
    """
)
_INSERT_AUTO_REPLY = sql(
    """
    INSERT INTO auto_replies (thread_id, trigger, message_id, created_at)
    VALUES (:thread_id, :trigger, :message_id, :created_at)
    """
)


def auto_reply_since(tx: Tx, thread_id: str, trigger: str, since: str) -> bool:
    """Whether the thread got this trigger's automatic reply after `since` (one lookup)."""
    return tx.one(_RECENT_AUTO_REPLY, thread_id=thread_id, trigger=trigger, since=since) is not None


def insert_auto_reply(
    tx: Tx, thread_id: str, trigger: str, message_id: str, created_at: str
) -> None:
    tx.run(
        _INSERT_AUTO_REPLY,
        thread_id=thread_id,
        trigger=trigger,
        message_id=message_id,
        created_at=created_at,
    )


# -- a thread's waiting texts and history, as the drafting service reads them


@dataclass(frozen=True)
class HistoryTurn:
    """One message of a thread's history as the drafter reads it."""

    type: str
    body: str


# read on the reader before drafting, and again in the write that stores the draft
_LATEST_WAITING = sql(
    """
    SELECT * FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND' AND status = 'RECEIVED'
    ORDER BY timestamp DESC LIMIT 1
    """
)
_WAITING = sql(
    """
    SELECT id FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND' AND status = 'RECEIVED'
    ORDER BY timestamp
    """
)
# those a draft answering the text at :until answers: a text stored after the drafter read
# the thread (on PostgreSQL, committed by another writer during this transaction) waits
# for its own draft
_WAITING_UNTIL = sql(
    """
    SELECT id FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND' AND status = 'RECEIVED'
      AND timestamp <= :until
    ORDER BY timestamp
    """
)
# a customer text of the thread after :after that the thread's next or live draft answers
# (being drafted, or its draft pending): a draft for the older text would leave it unanswered
_NEWER_AWAITING_DRAFT = sql(
    """
    SELECT id FROM messages
    WHERE thread_id = :thread_id AND type = 'INBOUND' AND timestamp > :after
      AND status IN ('RECEIVED', 'DRAFT_PENDING_APPROVAL')
    ORDER BY timestamp DESC LIMIT 1
    """
)
_HISTORY = sql(
    """
    SELECT type, body FROM (
        SELECT type, body, timestamp FROM messages
        WHERE thread_id = :thread_id AND timestamp <= :until
          AND (type = 'INBOUND' OR status IN ('SENT', 'APPROVED_TO_SEND'))
        ORDER BY timestamp DESC LIMIT :turns
    ) AS recent ORDER BY timestamp
    """
)


def _row_or_none(row: Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


async def latest_waiting(db: Reads, thread_id: str) -> dict[str, Any] | None:
    """The thread's latest customer message waiting for a draft (a messages row)."""
    return _row_or_none(await db.one(_LATEST_WAITING, thread_id=thread_id))


def latest_waiting_now(tx: Tx, thread_id: str) -> dict[str, Any] | None:
    return _row_or_none(tx.one(_LATEST_WAITING, thread_id=thread_id))


def waiting_ids(tx: Tx, thread_id: str, until: str | None = None) -> list[str]:
    """The thread's customer messages still waiting for a draft, oldest first; with `until`,
    only those written at or before it."""
    if until is None:
        return [row["id"] for row in tx.all(_WAITING, thread_id=thread_id)]
    return [row["id"] for row in tx.all(_WAITING_UNTIL, thread_id=thread_id, until=until)]


def newer_awaiting_draft(tx: Tx, thread_id: str, after: str) -> str | None:
    """The latest customer text of the thread after `after` being drafted or with its draft
    pending, if any."""
    row = tx.one(_NEWER_AWAITING_DRAFT, thread_id=thread_id, after=after)
    return None if row is None else str(row["id"])


async def read_newer_awaiting_draft(db: Reads, thread_id: str, after: str) -> str | None:
    row = await db.one(_NEWER_AWAITING_DRAFT, thread_id=thread_id, after=after)
    return None if row is None else str(row["id"])


async def history(db: Reads, thread_id: str, until: str, turns: int) -> list[HistoryTurn]:
    """The thread's last `turns` customer texts and sent (or approved) replies up to
    `until`, oldest first."""
    rows = await db.all(_HISTORY, thread_id=thread_id, until=until, turns=turns)
    return [HistoryTurn(row["type"], row["body"]) for row in rows]
