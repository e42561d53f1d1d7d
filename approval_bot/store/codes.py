"""Draft codes (`draft_codes`) and what a draft's code and notice read (the texts
themselves are queued with store/notifications.py).

A code is taken while its draft still waits on someone (pending, held by a pause, or
approved and not yet sent) or while it is in its quiet period; the rest are pruned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..models import MessageStatus
from .base import Reads, Tx
from .sql import sql

# drafts a reviewer or the sender may still act on by their code
LIVE = (
    MessageStatus.DRAFT_PENDING_APPROVAL,
    MessageStatus.PAUSED_THREAD,
    MessageStatus.APPROVED_TO_SEND,
)
_LIVE = ", ".join(f"'{status}'" for status in LIVE)


# -- codes

# one row per code (a unique index): a new code is written, a spent one (closed and issued
# before :since, which pruning would delete) is taken over, a taken one is left as it is
_CLAIM = sql(
    f"""
    INSERT INTO draft_codes (code, message_id, issued_at) VALUES (:code, :message_id, :at)
    ON CONFLICT (code) DO UPDATE SET
        message_id = excluded.message_id, issued_at = excluded.issued_at
    WHERE draft_codes.issued_at < :since AND NOT EXISTS (
        SELECT 1 FROM messages
        WHERE messages.id = draft_codes.message_id AND messages.status IN ({_LIVE}))
    """
)
# by message_id (unique), not rowid, which PostgreSQL has not
_PRUNE = sql(
    f"""
    DELETE FROM draft_codes WHERE message_id IN (
        SELECT draft_codes.message_id FROM draft_codes
        JOIN messages ON messages.id = draft_codes.message_id
        WHERE draft_codes.issued_at < :since
          AND messages.status NOT IN ({_LIVE})
        ORDER BY draft_codes.issued_at LIMIT :limit)
    """
)


def claim(tx: Tx, code: str, message_id: str, issued_at: str, since: str) -> bool:
    """Bind `code` to a draft unless it names a live draft or was issued at or after
    `since`; whether it did. On PostgreSQL a code another transaction is writing now waits
    for it to commit, so two issuers never both take one."""
    return tx.run(_CLAIM, code=code, message_id=message_id, at=issued_at, since=since) == 1


def prune_closed(tx: Tx, since: str, limit: int) -> int:
    """Delete up to `limit` codes of closed drafts issued before `since`; how many."""
    return tx.run(_PRUNE, since=since, limit=limit)


# -- what a code names (reviewers' texts)

_DRAFT_FOR = sql(
    """
    SELECT messages.* FROM draft_codes JOIN messages ON messages.id = draft_codes.message_id
    WHERE draft_codes.code = :code ORDER BY draft_codes.issued_at DESC LIMIT 1
    """
)
# written out for the queue's partial index: answered customer messages keep the status
_OPEN_CODES = sql(
    """
    SELECT draft_codes.code, messages.receiver, messages.body
    FROM messages INDEXED BY messages_pending_replies
    JOIN draft_codes ON draft_codes.message_id = messages.id
    WHERE messages.status = 'DRAFT_PENDING_APPROVAL' AND messages.type IN ('DRAFT', 'OUTBOUND')
    ORDER BY messages.timestamp LIMIT :limit
    """,
    postgres="""
    SELECT draft_codes.code, messages.receiver, messages.body
    FROM messages
    JOIN draft_codes ON draft_codes.message_id = messages.id
    WHERE messages.status = 'DRAFT_PENDING_APPROVAL' AND messages.type IN ('DRAFT', 'OUTBOUND')
    ORDER BY messages.timestamp LIMIT :limit
    """,
)
_REPLACEMENT = sql(
    """
    SELECT messages.type, draft_codes.code, reviewers.name FROM messages
    LEFT JOIN draft_codes ON draft_codes.message_id = messages.id
    LEFT JOIN audit_log ON audit_log.message_id = messages.id AND audit_log.id = (
        SELECT min(id) FROM audit_log WHERE message_id = messages.id)
    LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE messages.id = :message_id
    """
)

# the reply to a customer's text that waits for approval, with its code
_WAITING_REPLY = sql(
    """
    SELECT draft_codes.code FROM messages
    LEFT JOIN draft_codes ON draft_codes.message_id = messages.id
    WHERE messages.in_reply_to_id = :id AND messages.status = 'DRAFT_PENDING_APPROVAL'
      AND messages.type IN ('DRAFT', 'OUTBOUND')
    ORDER BY messages.timestamp DESC LIMIT 1
    """
)


@dataclass(frozen=True)
class WaitingReply:
    """The reply to a customer's text that waits for approval, and its code if it has one."""

    code: str | None


@dataclass(frozen=True)
class OpenCode:
    """A pending draft's code, with whom the reply goes to and its text."""

    code: str
    receiver: str
    body: str


@dataclass(frozen=True)
class Replacement:
    """The message that superseded a draft: its type, its code if any, who wrote it first."""

    type: str
    code: str | None
    name: str | None


async def draft_for_code(db: Reads, code: str) -> dict[str, Any] | None:
    """The message (a messages row) the code was last issued to, if any."""
    row = await db.one(_DRAFT_FOR, code=code)
    return None if row is None else dict(row)


async def open_codes(db: Reads, limit: int) -> list[OpenCode]:
    """Codes of drafts waiting for a decision, oldest first."""
    rows = await db.all(_OPEN_CODES, limit=limit)
    return [OpenCode(row["code"], row["receiver"], row["body"]) for row in rows]


async def waiting_reply(db: Reads, inbound_id: str) -> WaitingReply | None:
    """The reply to the customer's text `inbound_id` waiting for approval, if any."""
    row = await db.one(_WAITING_REPLY, id=inbound_id)
    return None if row is None else WaitingReply(row["code"])


async def replacement(db: Reads, message_id: str) -> Replacement | None:
    row = await db.one(_REPLACEMENT, message_id=message_id)
    return None if row is None else Replacement(row["type"], row["code"], row["name"])


# -- what a draft's notice says

_NOTICE_FACTS = sql(
    """
    SELECT messages.thread_id, messages.receiver, messages.body, messages.draft_meta,
           (SELECT body FROM messages AS inbound
            WHERE inbound.thread_id = messages.thread_id AND inbound.type = 'INBOUND'
            ORDER BY inbound.timestamp DESC LIMIT 1) AS last_inbound
    FROM messages WHERE id = :id
    """
)


@dataclass(frozen=True)
class Notice:
    """What a new draft's notice says: to whom the reply goes (on which thread), the
    customer's last text, the draft."""

    thread_id: str
    receiver: str
    body: str
    last_inbound: str | None
    findings: object = None  # the draft checks' findings, as stored in draft_meta


def notice_facts(tx: Tx, draft_id: str) -> Notice:
    row = tx.one(_NOTICE_FACTS, id=draft_id)
    assert row is not None, draft_id  # the draft was written in this transaction
    meta = json.loads(row["draft_meta"]) if row["draft_meta"] else {}
    findings = meta.get("findings") if isinstance(meta, dict) else None
    return Notice(row["thread_id"], row["receiver"], row["body"], row["last_inbound"], findings)
