"""The work lists' pages beside the queue: texts needing a written reply, threads needing
attention (each with the texts no other list holds), paused threads."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ... import worklists
from ..base import Reads, Store
from ..sql import Query, sql
from . import worklists as work_rows
from .common import Page, as_dict, bind, decode_cursor, encode_cursor, hinted, json_list, names

PAGE_SIZE = 50

# the texts waiting for a written reply and not yet settled (migration 0017): the open ones
_NEEDS_REVIEW = hinted(
    """
    SELECT messages.id, messages.thread_id, messages.body, messages.media,
           messages.timestamp, messages.channel,
           conversations.state AS conversation_state,
           conversations.sentiment AS conversation_sentiment, conversations.opted_out,
           thread_controls.paused, thread_controls.pause_kind, holder.name AS held_by
    FROM messages INDEXED BY messages_open_needs_review
    JOIN conversations ON conversations.thread_id = messages.thread_id
    JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
    LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
    WHERE messages.status = 'NEEDS_REVIEW' AND messages.type = 'INBOUND'
      AND messages.settled_at IS NULL
      AND (messages.timestamp, messages.id) > (:after_timestamp, :after_id)
      -- the work lists' rules (worklists.py): a reply of the thread made after the
      -- text answers it or is in the queue for it; a dismissed text needs none
      AND NOT EXISTS (
          SELECT 1 FROM messages AS reply
          WHERE reply.thread_id = messages.thread_id
            AND reply.type IN ('DRAFT', 'OUTBOUND')
            AND reply.status IN ('DRAFT_PENDING_APPROVAL', 'APPROVED_TO_SEND', 'SENT')
            AND reply.timestamp > messages.timestamp
      )
      AND NOT EXISTS (
          SELECT 1 FROM dismissals WHERE dismissals.message_id = messages.id
      )
    ORDER BY messages.timestamp, messages.id
    LIMIT :limit
    """
)
_ATTENTION = sql(
    """
    SELECT conversations.thread_id, conversations.channel, conversations.sentiment,
           conversations.attention_reason, conversations.last_activity_at,
           thread_controls.paused, thread_controls.paused_reason, thread_controls.pause_kind
    FROM conversations JOIN thread_controls USING (thread_id)
    WHERE conversations.state = 'NEEDS_ATTENTION'
      AND (conversations.last_activity_at, conversations.thread_id) > (:after_activity, :after_id)
    ORDER BY conversations.last_activity_at, conversations.thread_id
    LIMIT :limit
    """
)
_PAUSED = sql(
    """
    SELECT thread_controls.thread_id, thread_controls.paused_reason,
           thread_controls.pause_kind, thread_controls.last_updated, conversations.state,
           conversations.opted_out, conversations.channel
    FROM thread_controls JOIN conversations USING (thread_id)
    WHERE thread_controls.paused = 1
      AND (thread_controls.last_updated, thread_controls.thread_id) > (:after_updated, :after_id)
    ORDER BY thread_controls.last_updated, thread_controls.thread_id
    LIMIT :limit
    """
)


@lru_cache(maxsize=64)
def _bodies_query(texts: int) -> Query:
    return sql(f"SELECT id, body, timestamp FROM messages WHERE id IN ({names('id', texts)})")


async def needs_review(db: Store, after: str | None = None, limit: int | None = None) -> Page:
    """Customer messages waiting for a human-written reply (no open or sent reply since, not
    dismissed), each with who holds its thread."""
    limit = limit or PAGE_SIZE
    timestamp, row_id = decode_cursor(after) or ("", "")
    async with db.snapshot() as r:
        rows = await r.all(
            _NEEDS_REVIEW, after_timestamp=timestamp, after_id=row_id, limit=limit + 1
        )
    items = [{**as_dict(row), "media": json_list(row["media"])} for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["timestamp"], items[-1]["id"])
    return Page(items, next_cursor)


async def threads_needing_attention(
    db: Store, after: str | None = None, limit: int | None = None
) -> Page:
    """Conversations flagged NEEDS_ATTENTION, longest idle first."""
    limit = limit or PAGE_SIZE
    activity, thread_id = decode_cursor(after) or ("", "")
    rows = await db.all(_ATTENTION, after_activity=activity, after_id=thread_id, limit=limit + 1)
    items = [as_dict(row) for row in rows[:limit]]
    async with db.snapshot() as r:
        for item in items:
            # the thread's unanswered texts no other list holds (worklists.py)
            item["waiting"] = await _attention_texts(r, item["thread_id"])
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["last_activity_at"], items[-1]["thread_id"])
    return Page(items, next_cursor)


async def _attention_texts(r: Reads, thread_id: str) -> list[dict[str, Any]]:
    since = await work_rows.read_newest_held(r, thread_id) or ""
    rows = [
        row for row in await work_rows.read_unanswered(r, thread_id) if row["timestamp"] >= since
    ]
    if not rows:
        return []
    pending = await work_rows.read_newest_pending(r, thread_id)
    places = worklists.place_rows(rows, pending, "NEEDS_ATTENTION")
    ids = [row["id"] for row in rows]
    bodies = {
        row["id"]: as_dict(row) for row in await r.all(_bodies_query(len(ids)), **bind("id", ids))
    }
    return [bodies[i] for i, where in places.items() if where is worklists.WorkList.ATTENTION]


async def paused_threads(db: Reads, after: str | None = None, limit: int | None = None) -> Page:
    """Paused threads, paused longest ago first."""
    limit = limit or PAGE_SIZE
    updated, thread_id = decode_cursor(after) or ("", "")
    rows = await db.all(_PAUSED, after_updated=updated, after_id=thread_id, limit=limit + 1)
    items = [as_dict(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["last_updated"], items[-1]["thread_id"])
    return Page(items, next_cursor)
