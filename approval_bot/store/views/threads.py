"""Threads: the API's listing, a thread's story (its messages, their decisions, its audit
events), one message, and the lookups the thread page's and the API's forms check."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..base import Reads, Store
from ..sql import Query, sql
from .common import (
    Page,
    as_dict,
    bind,
    decode_cursor,
    encode_cursor,
    finding_texts,
    hinted,
    json_dict,
    json_list,
    names,
    understanding,
    with_segments,
)

THREAD_PAGE_SIZE = 100


@dataclass
class Thread:
    conversation: dict[str, Any]
    messages: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    earlier_cursor: str | None
    more_audit: bool


_SUMMARY = """
    SELECT conversations.*, thread_controls.paused, thread_controls.paused_reason,
           thread_controls.pause_kind, thread_controls.last_updated AS control_updated,
           thread_controls.taken_over_at, holder.name AS taken_over_by
"""
_CONVERSATION = sql(
    f"""
    {_SUMMARY}
    FROM conversations JOIN thread_controls USING (thread_id)
    LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
    WHERE thread_id = :thread_id
    """
)
_LATEST = sql(
    """
    SELECT * FROM messages WHERE thread_id = :thread_id
    ORDER BY timestamp DESC, id DESC LIMIT :limit
    """
)
_BEFORE = sql(
    """
    SELECT * FROM messages
    WHERE thread_id = :thread_id AND (timestamp, id) < (:before_timestamp, :before_id)
    ORDER BY timestamp DESC, id DESC LIMIT :limit
    """
)
_ANSWERED_UNTIL = sql(
    """
    SELECT max(timestamp) AS answered_until FROM messages
    WHERE thread_id = :thread_id AND type IN ('DRAFT', 'OUTBOUND')
      AND status IN ('APPROVED_TO_SEND', 'SENT')
    """
)
_AUDIT = sql(
    """
    SELECT audit_log.id, audit_log.event, audit_log.actor, audit_log.metadata,
           audit_log.timestamp, audit_log.message_id, reviewers.name AS actor_name
    FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE audit_log.thread_id = :thread_id ORDER BY audit_log.id DESC LIMIT :limit
    """
)
# the latest pause of this thread, read backwards through its own audit index
_PAUSED_BY = hinted(
    """
    SELECT reviewers.name FROM audit_log INDEXED BY audit_log_thread
    LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE audit_log.thread_id = :thread_id AND audit_log.event = 'Thread Paused'
    ORDER BY audit_log.id DESC LIMIT 1
    """
)
_MESSAGE = sql("SELECT * FROM messages WHERE id = :id")
_APPROVALS = sql(
    """
    SELECT approvals.*, reviewers.name AS reviewer_name
    FROM approvals LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
    WHERE approvals.draft_id = :id ORDER BY approvals.id
    """
)
_MESSAGE_TYPE = sql("SELECT type FROM messages WHERE id = :id")
_INBOUND_THREAD = sql("SELECT thread_id FROM messages WHERE id = :id AND type = 'INBOUND'")
_LATEST_INBOUND = sql(
    """
    SELECT id FROM messages WHERE thread_id = :thread_id AND type = 'INBOUND'
    ORDER BY timestamp DESC, id DESC LIMIT 1
    """
)


@lru_cache(maxsize=64)
def _approvals_query(drafts: int) -> Query:
    return sql(
        f"""
        SELECT approvals.*, reviewers.name AS reviewer_name
        FROM approvals LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
        WHERE approvals.draft_id IN ({names("id", drafts)}) ORDER BY approvals.id
        """
    )


@lru_cache(maxsize=64)
def _understood_query(texts: int) -> Query:
    # the contact's counts once each text was read, as its audit row recorded them
    return hinted(
        f"""
        SELECT message_id, metadata FROM audit_log INDEXED BY audit_log_message
        WHERE message_id IN ({names("id", texts)}) AND event = 'Text Understood'
        """
    )


@lru_cache(maxsize=8)
def _threads_query(held: bool, state: bool, phone: bool) -> Query:
    """The listing narrowed by holder, state and phone: each reads through its own index,
    (state, activity), the primary key, the partial index of taken-over threads."""
    where = [
        "(conversations.last_activity_at, conversations.thread_id) < (:before_activity, :before_id)"
    ]
    source = """
        FROM conversations JOIN thread_controls USING (thread_id)
        LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
    """
    postgres_source = source
    if held:
        # the few threads one reviewer holds, then their conversations (SQLite's CROSS JOIN
        # keeps that order; PostgreSQL's planner finds it)
        source = """
            FROM thread_controls INDEXED BY thread_controls_taken_over
            CROSS JOIN conversations USING (thread_id)
            LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
        """
        postgres_source = """
            FROM thread_controls JOIN conversations USING (thread_id)
            LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
        """
        where.append("thread_controls.taken_over_by = :taken_over_by")
    if state:
        where.append("conversations.state = :state")
    if phone:
        where.append("conversations.thread_id IN (:phone, :whatsapp)")
    rest = f"""
        WHERE {" AND ".join(where)}
        ORDER BY conversations.last_activity_at DESC, conversations.thread_id DESC
        LIMIT :limit
    """
    return sql(f"{_SUMMARY} {source} {rest}", postgres=f"{_SUMMARY} {postgres_source} {rest}")


async def threads(
    db: Reads,
    *,
    state: str | None,
    phone: str | None,
    taken_over_by: int | None,
    after: str | None,
    limit: int,
) -> Page:
    """Conversations, newest activity first, keyset-paged, narrowed by state, phone, holder."""
    activity, thread_id = decode_cursor(after) or ("\uffff", "\uffff")
    params: dict[str, Any] = {"before_activity": activity, "before_id": thread_id}
    if taken_over_by is not None:
        params["taken_over_by"] = taken_over_by
    if state is not None:
        params["state"] = state
    if phone is not None:
        params |= {"phone": phone, "whatsapp": f"whatsapp:{phone}"}
    q = _threads_query(taken_over_by is not None, state is not None, phone is not None)
    rows = await db.all(q, **params, limit=limit + 1)
    items = [{**as_dict(row), "facts": json_dict(row["facts"])} for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["last_activity_at"], items[-1]["thread_id"])
    return Page(items, next_cursor)


async def thread(
    db: Store, thread_id: str, before: str | None = None, limit: int | None = None
) -> Thread | None:
    """A thread's latest messages (or those before the cursor) in time order.

    Each message carries its approvals; audit events are the thread's latest.
    """
    cursor = decode_cursor(before)
    limit = limit or THREAD_PAGE_SIZE
    async with db.snapshot() as r:
        conversation = await r.one(_CONVERSATION, thread_id=thread_id)
        if conversation is None:
            return None
        if cursor is None:
            rows = await r.all(_LATEST, thread_id=thread_id, limit=limit + 1)
        else:
            rows = await r.all(
                _BEFORE,
                thread_id=thread_id,
                before_timestamp=cursor[0],
                before_id=cursor[1],
                limit=limit + 1,
            )
        earlier = None
        if len(rows) > limit:
            rows = rows[:limit]
            earlier = encode_cursor(rows[-1]["timestamp"], rows[-1]["id"])
        rows.reverse()
        messages = []
        for row in rows:
            message = as_dict(row)
            message["media"] = json_list(row["media"])
            message["meta"] = json_dict(row["draft_meta"])
            message["findings"] = finding_texts(message["meta"])
            message["understanding"] = understanding(row["understanding"])
            messages.append(with_segments(message))
        ids = [m["id"] for m in messages]
        approvals: dict[str, list[dict[str, Any]]] = {}
        if ids:
            for row in await r.all(_approvals_query(len(ids)), **bind("id", ids)):
                approvals.setdefault(row["draft_id"], []).append(as_dict(row))
        answered_until = await r.one(_ANSWERED_UNTIL, thread_id=thread_id)
        last_answer = (answered_until["answered_until"] if answered_until else None) or ""
        for message in messages:
            message["approvals"] = approvals.get(message["id"], [])
            if message["type"] == "INBOUND":
                # a reply approved or sent after a customer's text answers it
                message["answered"] = last_answer > message["timestamp"]
        counts: dict[str, dict[str, Any]] = {}
        inbound_ids = [m["id"] for m in messages if m["understanding"] is not None]
        if inbound_ids:
            q = _understood_query(len(inbound_ids))
            for row in await r.all(q, **bind("id", inbound_ids)):
                counts[row["message_id"]] = json_dict(row["metadata"])
        for message in messages:
            known = counts.get(message["id"], {})
            message["soft_no_count"] = known.get("soft_no_count")
            message["confusion_count"] = known.get("confusion_count")
        audit_rows = await r.all(_AUDIT, thread_id=thread_id, limit=THREAD_PAGE_SIZE + 1)
        paused_by = None
        if conversation["paused"]:
            by = await r.one(_PAUSED_BY, thread_id=thread_id)
            paused_by = by["name"] if by else None
    audit = [as_dict(row) for row in audit_rows[:THREAD_PAGE_SIZE]]
    audit.reverse()
    found = {**as_dict(conversation), "paused_by": paused_by}
    found["facts"] = json_dict(conversation["facts"])
    return Thread(found, messages, audit, earlier, len(audit_rows) > THREAD_PAGE_SIZE)


async def message(db: Store, message_id: str) -> dict[str, Any] | None:
    """One message with its draft metadata and the decisions on it; None when unknown."""
    async with db.snapshot() as r:
        row = await r.one(_MESSAGE, id=message_id)
        if row is None:
            return None
        approvals = await r.all(_APPROVALS, id=message_id)
    result = as_dict(row)
    result["media"] = json_list(row["media"])
    result["meta"] = json_dict(row["draft_meta"])
    result["understanding"] = understanding(row["understanding"])
    result["approvals"] = [as_dict(a) for a in approvals]
    return with_segments(result)


async def message_type(db: Reads, message_id: str) -> str | None:
    """A message's type (INBOUND, DRAFT, OUTBOUND), or None when there is no such message."""
    row = await db.one(_MESSAGE_TYPE, id=message_id)
    return None if row is None else str(row["type"])


async def inbound_thread(db: Reads, message_id: str) -> str | None:
    """The thread of a customer's message, or None when it is no customer's message."""
    row = await db.one(_INBOUND_THREAD, id=message_id)
    return None if row is None else str(row["thread_id"])


async def latest_inbound(db: Reads, thread_id: str) -> str | None:
    """The id of the thread's latest customer message, or None before any."""
    row = await db.one(_LATEST_INBOUND, thread_id=thread_id)
    return None if row is None else str(row["id"])
