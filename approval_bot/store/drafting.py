"""What the drafting service reads and writes: a thread's waiting texts, its
history, the drafter's templates (the thread itself, with whether the bot may draft on
it and its facts, is `conversations.thread`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .base import Reads, Row, Tx
from .sql import Query, sql


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


@lru_cache(maxsize=4)
def _templates_query(count: int) -> Query:
    keys = ", ".join(f":k{i}" for i in range(count))
    return sql(f"SELECT key, body, channel FROM templates WHERE key IN ({keys})")


def _message(row: Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


# -- a thread's work, read on the reader (before drafting) or in the write (after)


async def latest_waiting(db: Reads, thread_id: str) -> dict[str, Any] | None:
    """The thread's latest customer message waiting for a draft (a messages row)."""
    return _message(await db.one(_LATEST_WAITING, thread_id=thread_id))


def latest_waiting_now(tx: Tx, thread_id: str) -> dict[str, Any] | None:
    return _message(tx.one(_LATEST_WAITING, thread_id=thread_id))


def waiting_ids(tx: Tx, thread_id: str) -> list[str]:
    """The thread's customer messages still waiting for a draft, oldest first."""
    return [row["id"] for row in tx.all(_WAITING, thread_id=thread_id)]


# -- what the drafter reads


async def history(db: Reads, thread_id: str, until: str, turns: int) -> list[HistoryTurn]:
    """The thread's last `turns` customer texts and sent (or approved) replies up to
    `until`, oldest first."""
    rows = await db.all(_HISTORY, thread_id=thread_id, until=until, turns=turns)
    return [HistoryTurn(row["type"], row["body"]) for row in rows]


async def templates(db: Reads, keys: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(key, body, channel) of the templates among `keys` that exist."""
    params = {f"k{i}": key for i, key in enumerate(keys)}
    rows = await db.all(_templates_query(len(keys)), **params)
    return [(row["key"], row["body"], row["channel"]) for row in rows]
