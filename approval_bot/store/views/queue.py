"""The queue: replies pending approval as cards, their live claims and updates, the texts
being drafted, and the API's lists of replies.

SQLite's planner prefers the (status, …) indexes, which also hold every answered customer
message (they keep DRAFT_PENDING_APPROVAL); the partial index `messages_pending_replies`
holds only pending replies, so the queries name it (`INDEXED BY`, SQLite's own: the
PostgreSQL texts drop it, as its planner picks partial indexes by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ... import claims, review_clocks
from ...models import Event, MessageStatus
from .. import audit as audit_rows
from ..base import Reads, Row, Store
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

PAGE_SIZE = 50
# the queue's cards are large (five forms each); a reviewer works from the top anyway
QUEUE_PAGE_SIZE = 25
RECENT_CUSTOMER_MESSAGES = 3

S = MessageStatus

CARD_COLUMNS = """
    messages.id, messages.thread_id, messages.body, messages.type, messages.status,
    messages.timestamp, messages.draft_version, messages.channel, messages.draft_meta,
    messages.in_reply_to_id, messages.sentiment,
    conversations.state AS conversation_state, conversations.sentiment AS conversation_sentiment,
    conversations.attention_reason, conversations.opted_out,
    conversations.soft_no_count, conversations.confusion_count,
    conversations.channel AS thread_channel,
    thread_controls.paused, thread_controls.paused_reason, thread_controls.pause_kind,
    thread_controls.taken_over_by AS holder_id, thread_controls.taken_over_at AS held_since,
    holder.name AS holder_name,
    review_clocks.started_at AS clock_started_at, review_clocks.step AS clock_step,
    review_clocks.next_step AS clock_next_step, review_clocks.due_at AS clock_due_at
"""
# who has taken the reply's thread over, if anyone (by primary key)
_HOLDER_JOIN = "LEFT JOIN reviewers AS holder ON holder.id = thread_controls.taken_over_by"
# a pending reply's running clock (none for a reply that is not pending)
_CLOCK_JOIN = """
    LEFT JOIN review_clocks ON review_clocks.draft_id = messages.id
                           AND review_clocks.closed_at IS NULL
"""

_QUEUE = hinted(
    f"""
    SELECT {CARD_COLUMNS}, review_clocks.urgency
    FROM review_clocks INDEXED BY review_clocks_urgency
    JOIN messages ON messages.id = review_clocks.draft_id
    JOIN conversations ON conversations.thread_id = messages.thread_id
    JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
    {_HOLDER_JOIN}
    WHERE review_clocks.closed_at IS NULL
      AND messages.status = 'DRAFT_PENDING_APPROVAL'
      AND messages.type IN ('DRAFT', 'OUTBOUND')
      AND (review_clocks.urgency, review_clocks.draft_id) > (:after_urgency, :after_id)
    ORDER BY review_clocks.urgency, review_clocks.draft_id
    LIMIT :limit
    """
)
_PENDING_COUNT = hinted(
    """
    SELECT count(*) AS n FROM messages INDEXED BY messages_pending_replies
    WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
    """
)
# the live updates' watermark is when a reply became pending (`updated_at`: its creation,
# or its return from a pause or the sending gate), not when it was written: a reply that
# comes back to the queue arrives on the reviewers' screens like a new one
_PENDING_NEWEST = hinted(
    """
    SELECT updated_at, id FROM messages INDEXED BY messages_pending_by_change
    WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
    ORDER BY updated_at DESC, id DESC LIMIT 1
    """
)
_PENDING_AFTER = hinted(
    """
    SELECT id, updated_at FROM messages INDEXED BY messages_pending_by_change
    WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND')
      AND (updated_at, id) > (:after_changed, :after_id)
    ORDER BY updated_at, id LIMIT :limit
    """
)
_CARD = sql(
    f"""
    SELECT {CARD_COLUMNS}
    FROM messages
    JOIN conversations ON conversations.thread_id = messages.thread_id
    JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
    {_HOLDER_JOIN}
    {_CLOCK_JOIN}
    WHERE messages.id = :id AND messages.type IN ('DRAFT', 'OUTBOUND')
    """
)
_AWAITING_DRAFT = sql(
    """
    SELECT id, thread_id, body, timestamp FROM messages
    WHERE status = 'RECEIVED' AND type = 'INBOUND'
    ORDER BY timestamp, id LIMIT :limit
    """
)
_LAST_DECISION = sql(
    """
    SELECT audit_log.event, audit_log.actor, audit_log.timestamp,
           audit_log.metadata, reviewers.name
    FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE audit_log.message_id = :message_id
    -- the human decision names who decided, though the sender acted after it
    ORDER BY audit_log.actor = 'Human' DESC, audit_log.id DESC LIMIT 1
    """
)


def _drafts_query(source: str, where: str) -> Query:
    return hinted(
        f"""
        SELECT {CARD_COLUMNS}
        FROM {source}
        JOIN conversations ON conversations.thread_id = messages.thread_id
        JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
        {_HOLDER_JOIN}
        {_CLOCK_JOIN}
        WHERE {where} AND messages.type IN ('DRAFT', 'OUTBOUND')
          AND (messages.timestamp, messages.id) > (:after_timestamp, :after_id)
        ORDER BY messages.timestamp, messages.id
        LIMIT :limit
        """
    )


# a thread's own timeline index: left to itself, with the status a parameter, the planner
# takes (status, timestamp, id), which holds every answered customer message
_THREAD_DRAFTS = _drafts_query(
    "messages INDEXED BY messages_thread_timestamp_id",
    "messages.status = :status AND messages.thread_id = :thread_id",
)
# the queue's partial index; its condition is spelled out so SQLite can use it
_PENDING_DRAFTS = _drafts_query(
    "messages INDEXED BY messages_pending_replies", "messages.status = 'DRAFT_PENDING_APPROVAL'"
)
_DRAFTS_IN = _drafts_query("messages", "messages.status = :status")


@lru_cache(maxsize=64)
def _recent_query(threads: int) -> Query:
    # one LIMITed index search per thread, glued together: a window function over the
    # threads would read every message of a long thread
    part = """
        SELECT * FROM (
            SELECT thread_id, id, body, media, timestamp, understanding FROM messages
            WHERE thread_id = :thread_{n} AND type = 'INBOUND' ORDER BY timestamp DESC
            LIMIT :limit
        ) AS recent
    """
    return sql(" UNION ALL ".join(part.format(n=n) for n in range(threads)))


@lru_cache(maxsize=64)
def _claims_query(drafts: int) -> Query:
    return sql(
        f"""
        SELECT draft_claims.draft_id, draft_claims.reviewer_id, draft_claims.claimed_at,
               draft_claims.expires_at, reviewers.name
        FROM draft_claims JOIN reviewers ON reviewers.id = draft_claims.reviewer_id
        WHERE draft_claims.draft_id IN ({names("draft", drafts)}) AND draft_claims.expires_at > :now
        """
    )


@lru_cache(maxsize=64)
def _left_queue_query(drafts: int) -> Query:
    return sql(
        f"""
        SELECT id, status, superseded_by FROM messages
        WHERE id IN ({names("draft", drafts)}) AND status != 'DRAFT_PENDING_APPROVAL'
        """
    )


@lru_cache(maxsize=64)
def _codes_query(messages: int) -> Query:
    return sql(
        f"SELECT message_id, code FROM draft_codes WHERE message_id IN ({names('id', messages)})"
    )


async def _recent_customer_messages(
    r: Reads, thread_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The last few customer messages of each thread, oldest first, in one round trip."""
    threads = list(dict.fromkeys(thread_ids))
    if not threads:
        return {}
    recent: dict[str, list[dict[str, Any]]] = {t: [] for t in threads}
    rows = await r.all(
        _recent_query(len(threads)), **bind("thread", threads), limit=RECENT_CUSTOMER_MESSAGES
    )
    for row in rows:
        recent[row["thread_id"]].append(
            {
                **as_dict(row),
                "media": json_list(row["media"]),
                "understanding": understanding(row["understanding"]),
            }
        )
    for messages in recent.values():
        messages.reverse()
    return recent


async def _claims(r: Reads, draft_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The live claims on these drafts: who works on each, until when."""
    if not draft_ids:
        return {}
    rows = await r.all(
        _claims_query(len(draft_ids)),
        **bind("draft", draft_ids),
        now=claims.stamp(claims.clock()),
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
    async with db.snapshot() as r:
        return await _claims(r, draft_ids)


def _holder(row: Row) -> dict[str, Any] | None:
    """Who has the reply's thread, since when: 'Ana has this thread since 14:02 UTC'."""
    if row["holder_id"] is None:
        return None
    since = f"{row['held_since'][11:16]} UTC"
    return {"reviewer_id": row["holder_id"], "name": row["holder_name"], "since": since}


async def _cards(r: Reads, rows: list[Row]) -> list[dict[str, Any]]:
    recent = await _recent_customer_messages(r, [row["thread_id"] for row in rows])
    pending = [row["id"] for row in rows if row["status"] == S.DRAFT_PENDING_APPROVAL]
    held = await _claims(r, pending)
    cards = []
    for row in rows:
        card = as_dict(row)
        meta = json_dict(row["draft_meta"])
        card["meta"] = meta
        card["findings"] = finding_texts(meta)
        card["recent"] = recent[row["thread_id"]]
        card["sla"] = review_clocks.deadline(
            row["clock_started_at"], row["clock_step"], row["clock_next_step"], row["clock_due_at"]
        )
        card["claim"] = held.get(row["id"])
        card["holder"] = _holder(row)
        cards.append(with_segments(card))
    return cards


async def queue(db: Store, after: str | None = None, limit: int | None = None) -> Page:
    """Replies pending approval by urgency (overdue first, then by when their next step
    is due), each with its thread's state and last texts."""
    limit = limit or QUEUE_PAGE_SIZE
    urgency, draft_id = decode_cursor(after) or ("", "")
    async with db.snapshot() as r:
        rows = await r.all(_QUEUE, after_urgency=urgency, after_id=draft_id, limit=limit + 1)
        cards = await _cards(r, rows[:limit])
        total = await r.one(_PENDING_COUNT)
        newest = await r.one(_PENDING_NEWEST)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(rows[limit - 1]["urgency"], rows[limit - 1]["id"])
    # replies that arrive later sort after this one; the page's live updates ask for those
    watermark = encode_cursor(newest["updated_at"], newest["id"]) if newest else "0|0"
    return Page(cards, next_cursor, {"total": total["n"] if total else 0, "newest": watermark})


async def card(db: Store, draft_id: str) -> dict[str, Any] | None:
    """One queue card, whatever the reply's status now; None when there is no such reply."""
    async with db.snapshot() as r:
        row = await r.one(_CARD, id=draft_id)
        return (await _cards(r, [row]))[0] if row is not None else None


@dataclass(frozen=True)
class Outcome:
    """What became of a reply that left the queue, and who did it."""

    draft_id: str
    status: str
    event: str
    actor: str
    timestamp: str
    channel: str | None
    withdrawn: audit_rows.Withdrawal | None = None  # a close withdrew it: who, and why

    def describe(self) -> str:
        where = f" by {self.channel}" if self.channel else ""
        return f"{self.event} by {self.actor}{where} at {self.timestamp[:19].replace('T', ' ')}"


async def outcomes(db: Store, draft_ids: list[str]) -> list[Outcome]:
    """For each of `draft_ids` no longer pending: its status, and the last human decision on
    it (or, with none, the last change) and its author."""
    if not draft_ids:
        return []
    async with db.snapshot() as r:
        rows = await r.all(_left_queue_query(len(draft_ids)), **bind("draft", draft_ids))
        result = []
        for row in rows:
            if row["status"] == S.SUPERSEDED and row["superseded_by"] is None:
                withdrawn = await audit_rows.read_withdrawal(r, row["id"])
                if withdrawn is not None:  # a close withdrew it: who closed, and why
                    result.append(
                        Outcome(
                            draft_id=row["id"],
                            status=row["status"],
                            event=Event.SUPERSEDED,
                            actor=withdrawn.name or "the system",
                            timestamp=withdrawn.timestamp,
                            channel=None,
                            withdrawn=withdrawn,
                        )
                    )
                    continue
            last = await r.one(_LAST_DECISION, message_id=row["id"])
            if last is None:
                continue
            meta = json_dict(last["metadata"])
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


async def pending_after(db: Reads, after: str, limit: int = 20) -> list[tuple[str, str]]:
    """Replies that became pending after the cursor (new, or back from a pause or the sending
    gate), oldest first: (id, cursor)."""
    changed, row_id = decode_cursor(after) or ("", "")
    rows = await db.all(_PENDING_AFTER, after_changed=changed, after_id=row_id, limit=limit)
    return [(row["id"], encode_cursor(row["updated_at"], row["id"])) for row in rows]


async def awaiting_draft(db: Reads, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Customer texts stored and waiting for their draft (the Queue's own to-do), oldest first.

    Normally drafted within a second; after a crash the recovery job drafts them.
    """
    return [as_dict(row) for row in await db.all(_AWAITING_DRAFT, limit=limit)]


async def _codes(r: Reads, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await r.all(_codes_query(len(ids)), **bind("id", ids))
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
    timestamp, row_id = decode_cursor(after) or ("", "")
    page = {"after_timestamp": timestamp, "after_id": row_id, "limit": limit + 1}
    async with db.snapshot() as r:
        if thread_id is not None:
            rows = await r.all(_THREAD_DRAFTS, status=status, thread_id=thread_id, **page)
        elif status == S.DRAFT_PENDING_APPROVAL:
            rows = await r.all(_PENDING_DRAFTS, **page)
        else:
            rows = await r.all(_DRAFTS_IN, status=status, **page)
        cards = await _cards(r, rows[:limit])
        codes = await _codes(r, [card["id"] for card in cards])
    for card in cards:
        card["code"] = codes.get(card["id"])
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(cards[-1]["timestamp"], cards[-1]["id"])
    return Page(cards, next_cursor)
