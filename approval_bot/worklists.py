"""The work lists: where each unanswered customer text waits for someone, in one place.

A customer text is *unanswered* while no reply of its thread was approved or sent after it
and nobody dismissed it. Every unanswered text is on exactly one list:

- **Queue**: a reply drafted after it waits for approval, or it or a later text of its
  thread waits for its draft (the bot drafts the latest, which answers the ones before);
- **Needs reply**: it, or a later unanswered text of its thread, waits for a human-written
  reply (`NEEDS_REVIEW`): replying to the latest answers the ones before it;
- **Attention**: otherwise, when its conversation NEEDS_ATTENTION (a text held by a pause,
  a failed send).

A text whose reply a pause holds has a live reply and needs no list: the resume sends that
reply back to the queue.

A text that fits none of these is lost; `place` answers None for it, and the tests walk
every path that could leave one there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .models import ConversationState, MessageStatus
from .store import Row, Tx
from .store.views import worklists as work_rows

S = MessageStatus


class WorkList(StrEnum):
    QUEUE = "Queue"
    NEEDS_REPLY = "Needs reply"
    ATTENTION = "Attention"


def unanswered(conn: Tx, thread_id: str) -> list[Row]:
    """The thread's unanswered customer texts (id, status, timestamp), oldest first."""
    return work_rows.unanswered(conn, thread_id)


def place_rows(
    rows: list[Any], newest_pending: str | None, state: str | None
) -> dict[str, WorkList | None]:
    """The list each of a thread's unanswered texts is on (pure: the rules above)."""
    places: dict[str, WorkList | None] = {}
    needs_reply_from: str | None = None  # the latest NEEDS_REVIEW text covers those before it
    drafting_from: str | None = None  # and the latest waiting for its draft, likewise
    for row in rows:
        if row["status"] == S.NEEDS_REVIEW:
            needs_reply_from = row["timestamp"]
        elif row["status"] == S.RECEIVED:
            drafting_from = row["timestamp"]
    for row in rows:
        if (drafting_from is not None and drafting_from >= row["timestamp"]) or (
            newest_pending is not None and newest_pending > row["timestamp"]
        ):
            places[row["id"]] = WorkList.QUEUE
        elif needs_reply_from is not None and needs_reply_from >= row["timestamp"]:
            places[row["id"]] = WorkList.NEEDS_REPLY
        elif state == ConversationState.NEEDS_ATTENTION:
            places[row["id"]] = WorkList.ATTENTION
        else:
            places[row["id"]] = None
    return places


def place(conn: Tx, thread_id: str) -> dict[str, WorkList | None]:
    """Each unanswered text of a thread with no live reply, and the one list it is on (None:
    on none). A text whose reply a pause holds has one, and is left out."""
    held = work_rows.newest_held(conn, thread_id) or ""
    rows = [row for row in unanswered(conn, thread_id) if row["timestamp"] >= held]
    if not rows:
        return {}
    pending = work_rows.newest_pending(conn, thread_id)
    return place_rows(rows, pending, work_rows.conversation_state(conn, thread_id))


def dismiss(
    conn: Tx,
    message_ids: list[str],
    reason: str,
    reviewer_id: int | None,
    at: str,
) -> None:
    """Mark customer texts as needing no reply (the caller audits why)."""
    work_rows.dismiss(conn, message_ids, reason, reviewer_id, at)
