"""The reads and the one write behind the work lists (`approval_bot/worklists.py` holds
their rules): a thread's unanswered texts, its newest pending and held replies, and the
dismissals.

Each read is one Query used both inside a write transaction (`tx`) and in a snapshot
(`r`), so the funnel and the pages see the lists alike.
"""

from __future__ import annotations

from ..base import Reads, Row, Tx
from ..sql import sql

# a thread's unanswered texts, oldest first (each one is read through a thread index)
_UNANSWERED = sql(
    """
    SELECT messages.id, messages.status, messages.timestamp FROM messages
    WHERE messages.thread_id = :thread AND messages.type = 'INBOUND'
      AND messages.timestamp > coalesce((
          SELECT max(reply.timestamp) FROM messages AS reply
          WHERE reply.thread_id = :thread AND reply.type IN ('DRAFT', 'OUTBOUND')
            AND reply.status IN ('APPROVED_TO_SEND', 'SENT')), '')
      AND NOT EXISTS (SELECT 1 FROM dismissals WHERE dismissals.message_id = messages.id)
    ORDER BY messages.timestamp, messages.id
    """
)
_PENDING = sql(
    """
    SELECT max(timestamp) AS newest FROM messages
    WHERE thread_id = :thread AND type IN ('DRAFT', 'OUTBOUND')
      AND status = 'DRAFT_PENDING_APPROVAL'
    """
)
# a reply a pause holds: the texts before it have a live reply, which the resume gives back
_HELD = sql(
    """
    SELECT max(timestamp) AS newest FROM messages
    WHERE thread_id = :thread AND type IN ('DRAFT', 'OUTBOUND') AND status = 'PAUSED_THREAD'
    """
)
_STATE = sql("SELECT state FROM conversations WHERE thread_id = :thread")
_DISMISS = sql(
    """
    INSERT INTO dismissals (message_id, reviewer_id, reason, created_at)
    VALUES (:message_id, :reviewer_id, :reason, :at)
    ON CONFLICT (message_id) DO NOTHING
    """
)
# a dismissed text needs no reply ever again: the open "Needs reply" index lets it go
_SETTLE = sql("UPDATE messages SET settled_at = :at WHERE id = :message_id AND settled_at IS NULL")


def _newest(row: Row | None) -> str | None:
    return None if row is None else row["newest"]


def unanswered(tx: Tx, thread_id: str) -> list[Row]:
    """The thread's unanswered customer texts (id, status, timestamp), oldest first."""
    return tx.all(_UNANSWERED, thread=thread_id)


def newest_pending(tx: Tx, thread_id: str) -> str | None:
    """When the thread's newest reply pending approval was made; None without one."""
    return _newest(tx.one(_PENDING, thread=thread_id))


def newest_held(tx: Tx, thread_id: str) -> str | None:
    """When the thread's newest reply held by a pause was made; None without one."""
    return _newest(tx.one(_HELD, thread=thread_id))


def conversation_state(tx: Tx, thread_id: str) -> str | None:
    row = tx.one(_STATE, thread=thread_id)
    return None if row is None else str(row["state"])


async def read_unanswered(r: Reads, thread_id: str) -> list[Row]:
    """As `unanswered`, outside a write transaction."""
    return await r.all(_UNANSWERED, thread=thread_id)


async def read_newest_pending(r: Reads, thread_id: str) -> str | None:
    """As `newest_pending`, outside a write transaction."""
    return _newest(await r.one(_PENDING, thread=thread_id))


async def read_newest_held(r: Reads, thread_id: str) -> str | None:
    """As `newest_held`, outside a write transaction."""
    return _newest(await r.one(_HELD, thread=thread_id))


def dismiss(tx: Tx, message_ids: list[str], reason: str, reviewer_id: int | None, at: str) -> None:
    """Mark customer texts as needing no reply, and settle them."""
    tx.many(
        _DISMISS,
        [
            {"message_id": m, "reviewer_id": reviewer_id, "reason": reason, "at": at}
            for m in message_ids
        ],
    )
    tx.many(_SETTLE, [{"message_id": m, "at": at} for m in message_ids])
