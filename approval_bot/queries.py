"""Read queries for the web pages: the queue, its views, a thread's story, the audit log.

Every list is paged with a keyset — the (timestamp, id) or id of the last row shown —
never with OFFSET, so the thousandth page costs what the first does. All functions here
are read-only and run on the reader connection, most inside one snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from . import claims, review_clocks, worklists
from .models import MessageStatus
from .sms_text import count_segments
from .store import Reader, Row, Store

PAGE_SIZE = 50
# the queue's cards are large (five forms each); a reviewer works from the top anyway
QUEUE_PAGE_SIZE = 25
THREAD_PAGE_SIZE = 100
RECENT_CUSTOMER_MESSAGES = 3

S = MessageStatus


def _dict(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 - Row is not a dict


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else []


def _json_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def with_segments(message: dict[str, Any]) -> dict[str, Any]:
    """Add how the message's body travels as SMS: `encoding`, `segments`, `forced_by`."""
    count = count_segments(message["body"])
    message["encoding"], message["segments"] = count.encoding, count.segments
    message["forced_by"] = count.forced_by
    return message


def _understanding(text: str | None) -> dict[str, Any] | None:
    """A stored understanding as a JSON object; None on messages that have none."""
    return None if text is None else _json_dict(text)


async def _all(conn: Reader, sql: str, params: Any = ()) -> list[Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _one(conn: Reader, sql: str, params: Any = ()) -> sqlite3.Row | None:
    async with conn.execute(sql, params) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
        return row


@dataclass
class Page:
    """A page of rows and the cursor of the next one (None on the last page)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(timestamp: str, row_id: str) -> str:
    return f"{timestamp}|{row_id}"


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """A (timestamp, id) keyset cursor, or None; a malformed one raises ValueError."""
    if not cursor:
        return None
    timestamp, sep, row_id = cursor.partition("|")
    if not sep or not timestamp or not row_id:
        raise ValueError(f"not a page cursor: {cursor!r}")
    return timestamp, row_id


async def _recent_customer_messages(
    conn: Reader, thread_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The last few customer messages of each thread, oldest first, in one round trip."""
    threads = list(dict.fromkeys(thread_ids))
    if not threads:
        return {}
    # one LIMITed index search per thread, glued together: a window function over the
    # threads would read every message of a long thread
    part = """
        SELECT * FROM (
            SELECT thread_id, id, body, media, timestamp, understanding FROM messages
            WHERE thread_id = ? AND type = 'INBOUND' ORDER BY timestamp DESC LIMIT ?
        )
    """
    sql = " UNION ALL ".join(part for _ in threads)
    params: list[Any] = []
    for thread_id in threads:
        params += [thread_id, RECENT_CUSTOMER_MESSAGES]
    recent: dict[str, list[dict[str, Any]]] = {t: [] for t in threads}
    for row in await _all(conn, sql, params):
        recent[row["thread_id"]].append(
            {
                **_dict(row),
                "media": _json_list(row["media"]),
                "understanding": _understanding(row["understanding"]),
            }
        )
    for messages in recent.values():
        messages.reverse()
    return recent


# SQLite's planner prefers the (status, …) indexes, which also hold every answered customer
# message (they keep DRAFT_PENDING_APPROVAL); the partial index holds only pending replies.
# This clause is SQLite's own; a PostgreSQL store would drop it (its planner picks partial
# indexes by itself).
_PENDING_INDEX = "INDEXED BY messages_pending_replies"
# the texts waiting for a written reply and not yet settled (migration 0017): the open ones
_OPEN_NEEDS_REVIEW_INDEX = "INDEXED BY messages_open_needs_review"

_CARD_COLUMNS = """
    messages.id, messages.thread_id, messages.body, messages.type, messages.status,
    messages.timestamp, messages.draft_version, messages.channel, messages.draft_meta,
    messages.in_reply_to_id, messages.sentiment,
    conversations.state AS conversation_state, conversations.sentiment AS conversation_sentiment,
    conversations.attention_reason, conversations.opted_out,
    conversations.soft_no_count, conversations.confusion_count,
    conversations.channel AS thread_channel,
    thread_controls.paused, thread_controls.paused_reason, thread_controls.pause_kind,
    review_clocks.started_at AS clock_started_at, review_clocks.step AS clock_step,
    review_clocks.next_step AS clock_next_step, review_clocks.due_at AS clock_due_at
"""
# a pending reply's running clock (none for a reply that is not pending)
_CLOCK_JOIN = """
    LEFT JOIN review_clocks ON review_clocks.draft_id = messages.id
                           AND review_clocks.closed_at IS NULL
"""


async def _claims(conn: Reader, draft_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The live claims on these drafts: who works on each, until when."""
    if not draft_ids:
        return {}
    marks = ", ".join("?" for _ in draft_ids)
    rows = await _all(
        conn,
        f"""
        SELECT draft_claims.draft_id, draft_claims.reviewer_id, draft_claims.claimed_at,
               draft_claims.expires_at, reviewers.name
        FROM draft_claims JOIN reviewers ON reviewers.id = draft_claims.reviewer_id
        WHERE draft_claims.draft_id IN ({marks}) AND draft_claims.expires_at > ?
        """,
        [*draft_ids, claims.stamp(claims.clock())],
    )
    return {
        row["draft_id"]: {
            "reviewer_id": row["reviewer_id"],
            "name": row["name"],
            "claimed_at": row["claimed_at"],
            "expires_at": row["expires_at"],
            "until": f"{row['expires_at'][11:16]} UTC",
        }
        for row in rows
    }


async def claims_on(db: Store, draft_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The live claims on these drafts, by draft id (none for a draft not claimed)."""
    async with db.snapshot() as conn:
        return await _claims(conn, draft_ids)


async def _cards(conn: Reader, rows: list[Row]) -> list[dict[str, Any]]:
    recent = await _recent_customer_messages(conn, [row["thread_id"] for row in rows])
    pending = [row["id"] for row in rows if row["status"] == S.DRAFT_PENDING_APPROVAL]
    held = await _claims(conn, pending)
    cards = []
    for row in rows:
        card = _dict(row)
        meta = _json_dict(row["draft_meta"])
        card["meta"] = meta
        findings = meta.get("findings") or []
        card["findings"] = [str(f) for f in findings] if isinstance(findings, list) else []
        card["recent"] = recent[row["thread_id"]]
        card["sla"] = review_clocks.deadline(
            row["clock_started_at"], row["clock_step"], row["clock_next_step"], row["clock_due_at"]
        )
        card["claim"] = held.get(row["id"])
        cards.append(with_segments(card))
    return cards


async def queue(db: Store, after: str | None = None, limit: int | None = None) -> Page:
    """Replies pending approval by urgency (overdue first, then by when their next step
    is due), each with its thread's state and last texts."""
    limit = limit or QUEUE_PAGE_SIZE
    cursor = decode_cursor(after) or ("", "")
    async with db.snapshot() as conn:
        rows = await _all(
            conn,
            f"""
            SELECT {_CARD_COLUMNS}, review_clocks.urgency
            FROM review_clocks INDEXED BY review_clocks_urgency
            JOIN messages ON messages.id = review_clocks.draft_id
            JOIN conversations ON conversations.thread_id = messages.thread_id
            JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
            WHERE review_clocks.closed_at IS NULL
              AND messages.status = 'DRAFT_PENDING_APPROVAL'
              AND messages.type IN ('DRAFT', 'OUTBOUND')
              AND (review_clocks.urgency, review_clocks.draft_id) > (?, ?)
            ORDER BY review_clocks.urgency, review_clocks.draft_id
            LIMIT ?
            """,
            (*cursor, limit + 1),
        )
        cards = await _cards(conn, rows[:limit])
        total = await _one(
            conn,
            f"""
            SELECT count(*) AS n FROM messages {_PENDING_INDEX}
            WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
            """,
        )
        newest = await _one(
            conn,
            f"""
            SELECT timestamp, id FROM messages {_PENDING_INDEX}
            WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
            ORDER BY timestamp DESC, id DESC LIMIT 1
            """,
        )
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(rows[limit - 1]["urgency"], rows[limit - 1]["id"])
    # replies that arrive later sort after this one; the page's live updates ask for those
    watermark = encode_cursor(newest["timestamp"], newest["id"]) if newest else "0|0"
    return Page(cards, next_cursor, {"total": total["n"] if total else 0, "newest": watermark})


async def card(db: Store, draft_id: str) -> dict[str, Any] | None:
    """One queue card, whatever the reply's status now; None when there is no such reply."""
    async with db.snapshot() as conn:
        row = await _one(
            conn,
            f"""
            SELECT {_CARD_COLUMNS}
            FROM messages
            JOIN conversations ON conversations.thread_id = messages.thread_id
            JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
            {_CLOCK_JOIN}
            WHERE messages.id = ? AND messages.type IN ('DRAFT', 'OUTBOUND')
            """,
            (draft_id,),
        )
        return (await _cards(conn, [row]))[0] if row is not None else None


@dataclass(frozen=True)
class Outcome:
    """What became of a reply that left the queue, and who did it."""

    draft_id: str
    status: str
    event: str
    actor: str
    timestamp: str
    channel: str | None

    def describe(self) -> str:
        where = f" by {self.channel}" if self.channel else ""
        return f"{self.event} by {self.actor}{where} at {self.timestamp[:19].replace('T', ' ')}"


async def outcomes(db: Store, draft_ids: list[str]) -> list[Outcome]:
    """For each of `draft_ids` no longer pending: its status, and the last human decision on
    it (or, with none, the last change) and its author."""
    if not draft_ids:
        return []
    marks = ", ".join("?" for _ in draft_ids)
    async with db.snapshot() as conn:
        rows = await _all(
            conn,
            f"""
            SELECT id, status FROM messages
            WHERE id IN ({marks}) AND status != 'DRAFT_PENDING_APPROVAL'
            """,
            draft_ids,
        )
        result = []
        for row in rows:
            last = await _one(
                conn,
                """
                SELECT audit_log.event, audit_log.actor, audit_log.timestamp,
                       audit_log.metadata, reviewers.name
                FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
                WHERE audit_log.message_id = ?
                -- the human decision names who decided, though the sender acted after it
                ORDER BY audit_log.actor = 'Human' DESC, audit_log.id DESC LIMIT 1
                """,
                (row["id"],),
            )
            if last is None:
                continue
            meta = _json_dict(last["metadata"])
            channel = meta.get("channel")
            result.append(
                Outcome(
                    draft_id=row["id"],
                    status=row["status"],
                    event=last["event"],
                    actor=last["name"] or "the system",
                    timestamp=last["timestamp"],
                    channel=str(channel) if channel else None,
                )
            )
    return result


async def pending_after(db: Store, after: str, limit: int = 20) -> list[tuple[str, str]]:
    """Replies pending approval that arrived after the cursor, oldest first: (id, cursor)."""
    cursor = decode_cursor(after) or ("", "")
    rows = await db.fetchall(
        f"""
        SELECT id, timestamp FROM messages {_PENDING_INDEX}
        WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
          AND (timestamp, id) > (?, ?)
        ORDER BY timestamp, id LIMIT ?
        """,
        (*cursor, limit),
    )
    return [(row["id"], encode_cursor(row["timestamp"], row["id"])) for row in rows]


async def awaiting_draft(db: Store, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Customer texts stored and waiting for their draft (the Queue's own to-do), oldest first.

    Normally drafted within a second; after a crash the recovery job drafts them.
    """
    rows = await db.fetchall(
        """
        SELECT id, thread_id, body, timestamp FROM messages
        WHERE status = 'RECEIVED' AND type = 'INBOUND'
        ORDER BY timestamp, id LIMIT ?
        """,
        (limit,),
    )
    return [_dict(row) for row in rows]


async def needs_review(db: Store, after: str | None = None, limit: int | None = None) -> Page:
    """Customer messages waiting for a human-written reply (no open or sent reply since, not
    dismissed), each with who holds its thread."""
    limit = limit or PAGE_SIZE
    cursor = decode_cursor(after) or ("", "")
    async with db.snapshot() as conn:
        rows = await _all(
            conn,
            f"""
            SELECT messages.id, messages.thread_id, messages.body, messages.media,
                   messages.timestamp, messages.channel,
                   conversations.state AS conversation_state,
                   conversations.sentiment AS conversation_sentiment,
                   thread_controls.paused, holder.name AS held_by
            FROM messages {_OPEN_NEEDS_REVIEW_INDEX}
            JOIN conversations ON conversations.thread_id = messages.thread_id
            JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
            LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
            WHERE messages.status = 'NEEDS_REVIEW' AND messages.type = 'INBOUND'
              AND messages.settled_at IS NULL
              AND (messages.timestamp, messages.id) > (?, ?)
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
            LIMIT ?
            """,
            (*cursor, limit + 1),
        )
    items = [{**_dict(row), "media": _json_list(row["media"])} for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["timestamp"], items[-1]["id"])
    return Page(items, next_cursor)


async def threads_needing_attention(
    db: Store, after: str | None = None, limit: int | None = None
) -> Page:
    """Conversations flagged NEEDS_ATTENTION, longest idle first."""
    limit = limit or PAGE_SIZE
    cursor = decode_cursor(after) or ("", "")
    rows = await db.fetchall(
        """
        SELECT conversations.thread_id, conversations.channel, conversations.sentiment,
               conversations.attention_reason, conversations.last_activity_at,
               thread_controls.paused, thread_controls.paused_reason, thread_controls.pause_kind
        FROM conversations JOIN thread_controls USING (thread_id)
        WHERE conversations.state = 'NEEDS_ATTENTION'
          AND (conversations.last_activity_at, conversations.thread_id) > (?, ?)
        ORDER BY conversations.last_activity_at, conversations.thread_id
        LIMIT ?
        """,
        (*cursor, limit + 1),
    )
    items = [_dict(row) for row in rows[:limit]]
    async with db.snapshot() as conn:
        for item in items:
            # the thread's unanswered texts no other list holds (worklists.py)
            item["waiting"] = await _attention_texts(conn, item["thread_id"])
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["last_activity_at"], items[-1]["thread_id"])
    return Page(items, next_cursor)


async def _attention_texts(conn: Reader, thread_id: str) -> list[dict[str, Any]]:
    held = await _one(conn, worklists.HELD, (thread_id,))
    since = (held[0] if held else None) or ""
    rows = [
        row
        for row in await _all(conn, worklists.UNANSWERED, {"thread": thread_id})
        if row["timestamp"] >= since
    ]
    if not rows:
        return []
    pending = await _one(conn, worklists.PENDING, (thread_id,))
    places = worklists.place_rows(rows, pending[0] if pending else None, "NEEDS_ATTENTION")
    marks = ", ".join("?" for _ in rows)
    bodies = {
        row["id"]: _dict(row)
        for row in await _all(
            conn,
            f"SELECT id, body, timestamp FROM messages WHERE id IN ({marks})",
            [row["id"] for row in rows],
        )
    }
    return [bodies[i] for i, where in places.items() if where is worklists.WorkList.ATTENTION]


async def paused_threads(db: Store, after: str | None = None, limit: int | None = None) -> Page:
    """Paused threads, paused longest ago first."""
    limit = limit or PAGE_SIZE
    cursor = decode_cursor(after) or ("", "")
    rows = await db.fetchall(
        """
        SELECT thread_controls.thread_id, thread_controls.paused_reason,
               thread_controls.pause_kind, thread_controls.last_updated, conversations.state,
               conversations.opted_out, conversations.channel
        FROM thread_controls JOIN conversations USING (thread_id)
        WHERE thread_controls.paused = 1
          AND (thread_controls.last_updated, thread_controls.thread_id) > (?, ?)
        ORDER BY thread_controls.last_updated, thread_controls.thread_id
        LIMIT ?
        """,
        (*cursor, limit + 1),
    )
    items = [_dict(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1]["last_updated"], items[-1]["thread_id"])
    return Page(items, next_cursor)


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


async def threads(
    db: Store,
    *,
    state: str | None,
    phone: str | None,
    taken_over_by: int | None,
    after: str | None,
    limit: int,
) -> Page:
    """Conversations, newest activity first, keyset-paged, narrowed by state, phone, holder.

    Each filter reads through its own index: (state, activity), the primary key, the
    partial index of taken-over threads.
    """
    cursor = decode_cursor(after) or ("\uffff", "\uffff")
    where = ["(conversations.last_activity_at, conversations.thread_id) < (?, ?)"]
    params: list[Any] = [*cursor]
    source = """
        FROM conversations JOIN thread_controls USING (thread_id)
        LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
    """
    if taken_over_by is not None:
        # the few threads one reviewer holds, then their conversations
        source = """
            FROM thread_controls INDEXED BY thread_controls_taken_over
            CROSS JOIN conversations USING (thread_id)
            LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
        """
        where.append("thread_controls.taken_over_by = ?")
        params.append(taken_over_by)
    if state is not None:
        where.append("conversations.state = ?")
        params.append(state)
    if phone is not None:
        where.append("conversations.thread_id IN (?, ?)")
        params += [phone, f"whatsapp:{phone}"]
    rows = await db.fetchall(
        f"""
        {_SUMMARY} {source}
        WHERE {" AND ".join(where)}
        ORDER BY conversations.last_activity_at DESC, conversations.thread_id DESC
        LIMIT ?
        """,
        (*params, limit + 1),
    )
    items = [{**_dict(row), "facts": _json_dict(row["facts"])} for row in rows[:limit]]
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
    async with db.snapshot() as conn:
        conversation = await _one(
            conn,
            f"""
            {_SUMMARY}
            FROM conversations JOIN thread_controls USING (thread_id)
            LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by
            WHERE thread_id = ?
            """,
            (thread_id,),
        )
        if conversation is None:
            return None
        if cursor is None:
            rows = await _all(
                conn,
                """
                SELECT * FROM messages WHERE thread_id = ?
                ORDER BY timestamp DESC, id DESC LIMIT ?
                """,
                (thread_id, limit + 1),
            )
        else:
            rows = await _all(
                conn,
                """
                SELECT * FROM messages WHERE thread_id = ? AND (timestamp, id) < (?, ?)
                ORDER BY timestamp DESC, id DESC LIMIT ?
                """,
                (thread_id, *cursor, limit + 1),
            )
        earlier = None
        if len(rows) > limit:
            rows = rows[:limit]
            earlier = encode_cursor(rows[-1]["timestamp"], rows[-1]["id"])
        rows.reverse()
        messages = []
        for row in rows:
            message = _dict(row)
            message["media"] = _json_list(row["media"])
            message["meta"] = _json_dict(row["draft_meta"])
            message["understanding"] = _understanding(row["understanding"])
            messages.append(with_segments(message))
        ids = [m["id"] for m in messages]
        approvals: dict[str, list[dict[str, Any]]] = {}
        if ids:
            marks = ", ".join("?" for _ in ids)
            for row in await _all(
                conn,
                f"""
                SELECT approvals.*, reviewers.name AS reviewer_name
                FROM approvals LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
                WHERE approvals.draft_id IN ({marks}) ORDER BY approvals.id
                """,
                ids,
            ):
                approvals.setdefault(row["draft_id"], []).append(_dict(row))
        answered_until = await _one(
            conn,
            """
            SELECT max(timestamp) FROM messages
            WHERE thread_id = ? AND type IN ('DRAFT', 'OUTBOUND')
              AND status IN ('APPROVED_TO_SEND', 'SENT')
            """,
            (thread_id,),
        )
        last_answer = (answered_until[0] if answered_until else None) or ""
        for message in messages:
            message["approvals"] = approvals.get(message["id"], [])
            if message["type"] == "INBOUND":
                # a reply approved or sent after a customer's text answers it
                message["answered"] = last_answer > message["timestamp"]
        counts: dict[str, dict[str, Any]] = {}
        inbound_ids = [m["id"] for m in messages if m["understanding"] is not None]
        if inbound_ids:
            marks = ", ".join("?" for _ in inbound_ids)
            # the contact's counts once each text was read, as its audit row recorded them
            for row in await _all(
                conn,
                f"""
                SELECT message_id, metadata FROM audit_log INDEXED BY audit_log_message
                WHERE message_id IN ({marks}) AND event = 'Text Understood'
                """,
                inbound_ids,
            ):
                counts[row["message_id"]] = _json_dict(row["metadata"])
        for message in messages:
            known = counts.get(message["id"], {})
            message["soft_no_count"] = known.get("soft_no_count")
            message["confusion_count"] = known.get("confusion_count")
        audit_rows = await _all(
            conn,
            """
            SELECT audit_log.id, audit_log.event, audit_log.actor, audit_log.metadata,
                   audit_log.timestamp, audit_log.message_id, reviewers.name AS actor_name
            FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
            WHERE audit_log.thread_id = ? ORDER BY audit_log.id DESC LIMIT ?
            """,
            (thread_id, THREAD_PAGE_SIZE + 1),
        )
        paused_by = None
        if conversation["paused"]:
            # the latest pause of this thread, read backwards through its own audit index
            by = await _one(
                conn,
                """
                SELECT reviewers.name FROM audit_log INDEXED BY audit_log_thread
                LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
                WHERE audit_log.thread_id = ? AND audit_log.event = 'Thread Paused'
                ORDER BY audit_log.id DESC LIMIT 1
                """,
                (thread_id,),
            )
            paused_by = by["name"] if by else None
    audit = [_dict(row) for row in audit_rows[:THREAD_PAGE_SIZE]]
    audit.reverse()
    found = {**_dict(conversation), "paused_by": paused_by}
    found["facts"] = _json_dict(conversation["facts"])
    return Thread(found, messages, audit, earlier, len(audit_rows) > THREAD_PAGE_SIZE)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page narrows to; None means any."""

    thread_id: str | None = None
    actor_id: int | None = None
    system_only: bool = False
    event: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.thread_id:
            clauses.append("audit_log.thread_id = ?")
            params.append(self.thread_id)
        if self.system_only:
            clauses.append("audit_log.actor = 'System'")
        elif self.actor_id is not None:
            clauses.append("audit_log.actor_id = ?")
            params.append(self.actor_id)
        if self.event:
            clauses.append("audit_log.event = ?")
            params.append(self.event)
        if self.since:
            clauses.append("audit_log.timestamp >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("audit_log.timestamp < ?")
            params.append(self.until)
        return " AND ".join(clauses) or "1", params


_AUDIT_SELECT = """
    SELECT audit_log.id, audit_log.event, audit_log.actor, audit_log.actor_id,
           reviewers.name AS actor_name, audit_log.thread_id, audit_log.message_id,
           audit_log.metadata, audit_log.timestamp, audit_log.hash
    FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
"""


async def audit_page(
    db: Store, where: AuditFilter, before: int | None = None, limit: int | None = None
) -> Page:
    """Audit rows matching the filter, newest first, older than the `before` id."""
    limit = limit or PAGE_SIZE
    sql, params = where.where()
    if before is not None:
        sql += " AND audit_log.id < ?"
        params.append(before)
    rows = await db.fetchall(
        f"{_AUDIT_SELECT} WHERE {sql} ORDER BY audit_log.id DESC LIMIT ?", (*params, limit + 1)
    )
    items = [_dict(row) for row in rows[:limit]]
    next_cursor = str(items[-1]["id"]) if len(rows) > limit else None
    return Page(items, next_cursor)


async def audit_batches(
    db: Store, where: AuditFilter, batch: int = 1000
) -> Any:  # an async iterator of row batches, oldest first
    """Every audit row matching the filter, oldest first, in batches (for exports)."""
    after = 0
    while True:
        sql, params = where.where()
        rows = await db.fetchall(
            f"{_AUDIT_SELECT} WHERE {sql} AND audit_log.id > ? ORDER BY audit_log.id LIMIT ?",
            (*params, after, batch),
        )
        if not rows:
            return
        yield [_dict(row) for row in rows]
        after = rows[-1]["id"]


async def audit_events(db: Store) -> list[str]:
    """The distinct event names in the audit log, for the filter's menu."""
    # a loose index scan: one seek per distinct event, not a pass over every row
    names: list[str] = []
    row = await db.fetchone("SELECT min(event) AS e FROM audit_log")
    while row is not None and row["e"] is not None:
        names.append(row["e"])
        row = await db.fetchone(
            "SELECT min(event) AS e FROM audit_log WHERE event > ?", (row["e"],)
        )
    return names


async def reviewer_names(db: Store) -> list[dict[str, Any]]:
    rows = await db.fetchall("SELECT id, name FROM reviewers ORDER BY name")
    return [_dict(row) for row in rows]


# --- the JSON API's reads ------------------------------------------------------------------


async def _codes(conn: Reader, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await _all(
        conn, f"SELECT message_id, code FROM draft_codes WHERE message_id IN ({marks})", ids
    )
    return {row["message_id"]: row["code"] for row in rows}


async def drafts(
    db: Store,
    status: MessageStatus = S.DRAFT_PENDING_APPROVAL,
    thread_id: str | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Replies (machine drafts and reviewers' own) in a status, oldest first, as queue cards
    with their SMS code; optionally of one thread."""
    cursor = decode_cursor(after) or ("", "")
    if thread_id is not None:
        # a thread's own timeline index: left to itself, with the status a parameter, the
        # planner takes (status, timestamp, id), which holds every answered customer message
        where = "messages.status = ? AND messages.thread_id = ?"
        source, params = "messages INDEXED BY messages_thread_timestamp_id", [status, thread_id]
    elif status == S.DRAFT_PENDING_APPROVAL:
        # the queue's partial index; its condition is spelled out so SQLite can use it
        source, where, params = (
            f"messages {_PENDING_INDEX}",
            "messages.status = 'DRAFT_PENDING_APPROVAL'",
            [],
        )
    else:
        source, where, params = "messages", "messages.status = ?", [status]
    async with db.snapshot() as conn:
        rows = await _all(
            conn,
            f"""
            SELECT {_CARD_COLUMNS}
            FROM {source}
            JOIN conversations ON conversations.thread_id = messages.thread_id
            JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
            {_CLOCK_JOIN}
            WHERE {where} AND messages.type IN ('DRAFT', 'OUTBOUND')
              AND (messages.timestamp, messages.id) > (?, ?)
            ORDER BY messages.timestamp, messages.id
            LIMIT ?
            """,
            (*params, *cursor, limit + 1),
        )
        cards = await _cards(conn, rows[:limit])
        codes = await _codes(conn, [card["id"] for card in cards])
    for card in cards:
        card["code"] = codes.get(card["id"])
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(cards[-1]["timestamp"], cards[-1]["id"])
    return Page(cards, next_cursor)


async def message(db: Store, message_id: str) -> dict[str, Any] | None:
    """One message with its draft metadata and the decisions on it; None when unknown."""
    async with db.snapshot() as conn:
        row = await _one(conn, "SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            return None
        approvals = await _all(
            conn,
            """
            SELECT approvals.*, reviewers.name AS reviewer_name
            FROM approvals LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
            WHERE approvals.draft_id = ? ORDER BY approvals.id
            """,
            (message_id,),
        )
    result = _dict(row)
    result["media"] = _json_list(row["media"])
    result["meta"] = _json_dict(row["draft_meta"])
    result["understanding"] = _understanding(row["understanding"])
    result["approvals"] = [_dict(a) for a in approvals]
    return with_segments(result)


async def guidance(db: Store, scope: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Directives and FAQ entries, of one scope or of all; global first."""
    where, params = ("WHERE scope = ?", (scope,)) if scope is not None else ("", ())
    async with db.snapshot() as conn:
        directives = await _all(
            conn,
            f"""
            SELECT scope, body, updated_at, updated_by FROM directives {where}
            ORDER BY scope != 'global', scope
            """,
            params,
        )
        faq = await _all(
            conn,
            f"""
            SELECT id, scope, keywords, answer FROM faq_entries {where}
            ORDER BY scope != 'global', scope, id
            """,
            params,
        )
    return {
        "directives": [_dict(row) for row in directives],
        "faq": [{**_dict(row), "keywords": _json_list(row["keywords"])} for row in faq],
    }


MENU_COUNT_CAP = 999


async def menu_counts(db: Store) -> dict[str, int]:
    """How many replies wait in the queue, messages need a reply, threads need a person.

    Each count stops at MENU_COUNT_CAP + 1 rows, so a deep backlog costs what a shallow one does.
    """
    capped = MENU_COUNT_CAP + 1
    async with db.snapshot() as conn:
        row = await _one(
            conn,
            f"""
            SELECT
              (SELECT count(*) FROM (SELECT 1 FROM messages {_PENDING_INDEX}
                 WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
                 LIMIT :cap)) AS queue,
              (SELECT count(*) FROM (SELECT 1 FROM messages {_OPEN_NEEDS_REVIEW_INDEX}
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
            {"cap": capped},
        )
    assert row is not None
    return {name: int(row[name]) for name in ("queue", "needs_review", "attention")}
