"""The menu's counts, on every page: the queue, the texts needing a reply, the threads
needing a person."""

from __future__ import annotations

from ..base import Store
from ..sql import sql

MENU_COUNT_CAP = 999

# the queue's and the open "Needs reply" texts' counts read their partial indexes (named
# for SQLite, found by PostgreSQL's planner itself, which also wants its subqueries named)
_COUNTS = sql(
    """
    SELECT
      (SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY messages_pending_replies
         WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
         LIMIT :cap)) AS queue,
      (SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY messages_open_needs_review
         WHERE type = 'INBOUND' AND status = 'NEEDS_REVIEW' AND settled_at IS NULL
           -- as needs_review counts them (the work lists' rules)
           AND NOT EXISTS (
             SELECT 1 FROM messages AS reply
             WHERE reply.thread_id = messages.thread_id
               AND reply.type IN ('DRAFT', 'OUTBOUND')
               AND reply.status IN ('DRAFT_PENDING_APPROVAL', 'APPROVED_TO_SEND', 'SENT')
               AND reply.timestamp > messages.timestamp)
           AND NOT EXISTS (
             SELECT 1 FROM dismissals WHERE dismissals.message_id = messages.id)
         LIMIT :cap)) AS needs_review,
      (SELECT count(*) FROM (SELECT 1 FROM conversations
         WHERE state = 'NEEDS_ATTENTION' LIMIT :cap)) AS attention
    """,
    postgres="""
    SELECT
      (SELECT count(*) FROM (SELECT 1 FROM messages
         WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
         LIMIT :cap) AS pending) AS queue,
      (SELECT count(*) FROM (SELECT 1 FROM messages
         WHERE type = 'INBOUND' AND status = 'NEEDS_REVIEW' AND settled_at IS NULL
           AND NOT EXISTS (
             SELECT 1 FROM messages AS reply
             WHERE reply.thread_id = messages.thread_id
               AND reply.type IN ('DRAFT', 'OUTBOUND')
               AND reply.status IN ('DRAFT_PENDING_APPROVAL', 'APPROVED_TO_SEND', 'SENT')
               AND reply.timestamp > messages.timestamp)
           AND NOT EXISTS (
             SELECT 1 FROM dismissals WHERE dismissals.message_id = messages.id)
         LIMIT :cap) AS open_texts) AS needs_review,
      (SELECT count(*) FROM (SELECT 1 FROM conversations
         WHERE state = 'NEEDS_ATTENTION' LIMIT :cap) AS flagged) AS attention
    """,
)


async def menu_counts(db: Store) -> dict[str, int]:
    """How many replies wait in the queue, messages need a reply, threads need a person.

    Each count stops at MENU_COUNT_CAP + 1 rows, so a deep backlog costs what a shallow one does.
    """
    async with db.snapshot() as r:
        row = await r.one(_COUNTS, cap=MENU_COUNT_CAP + 1)
    assert row is not None
    return {name: int(row[name]) for name in ("queue", "needs_review", "attention")}
