"""The audit log's rows, its chain's head, and the checkpoint of the last verified row.

The log is append-only (triggers refuse UPDATE and DELETE); `approval_bot.audit` hashes
and chains the rows, this module reads and writes them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .base import Reads, Row, Tx
from .sql import Query, sql

# The chain's head (migration 0020): the last id handed out and the last row's hash, one
# row that each append reads and moves in its own transaction. PostgreSQL locks it FOR
# UPDATE first, so concurrent writers (threads, instances) take turns and the ids stay
# dense; on SQLite the one writer already takes turns. The head remembers the last id, so
# a deleted tail is a gap that a verification finds, even after more rows are appended.
_HEAD = sql(
    "SELECT last_id, last_hash FROM audit_chain WHERE id = 1",
    postgres="SELECT last_id, last_hash FROM audit_chain WHERE id = 1 FOR UPDATE",
)
_READ_HEAD = sql("SELECT last_id, last_hash FROM audit_chain WHERE id = 1")
_MOVE_HEAD = sql("UPDATE audit_chain SET last_id = :last_id, last_hash = :last_hash WHERE id = 1")
_INSERT = sql(
    """
    INSERT INTO audit_log
        (id, event, actor, actor_id, thread_id, message_id, metadata, timestamp,
         prev_hash, hash)
    VALUES
        (:id, :event, :actor, :actor_id, :thread_id, :message_id, :metadata, :timestamp,
         :prev_hash, :hash)
    """
)


@dataclass(frozen=True)
class Head:
    """The last id handed out (0 for none) and the last row's hash (None for none)."""

    last_id: int
    last_hash: str | None


class HeadMissing(RuntimeError):
    """The audit chain's head row is gone: nothing can be appended safely."""

    def __init__(self) -> None:
        super().__init__("the audit chain's head row (audit_chain) is missing")


def _head(row: Row | None) -> Head | None:
    return None if row is None else Head(int(row["last_id"]), row["last_hash"])


def head(tx: Tx) -> Head:
    """The chain's head, locked until this transaction ends (PostgreSQL), for an append."""
    found = _head(tx.one(_HEAD))
    if found is None:
        raise HeadMissing()
    return found


def append(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows chained by the caller after `head(tx)`, and move the head to the last."""
    if not rows:
        return
    tx.many(_INSERT, rows)
    last = rows[-1]
    if tx.run(_MOVE_HEAD, last_id=last["id"], last_hash=last["hash"]) != 1:
        raise HeadMissing()


def chain_head(tx: Tx) -> Head | None:
    """The chain's head as it stands, without a lock (a walk on a connection of its own)."""
    return _head(tx.one(_READ_HEAD))


async def read_head(db: Reads) -> Head | None:
    """The chain's head as it stands, for a verification (None: the row is missing)."""
    return _head(await db.one(_READ_HEAD))


# who made the latest audited change to a message (a human's decision first) or a thread
_CHANNEL = "json_extract(audit_log.metadata, '$.channel')"
_PG_CHANNEL = (
    "CASE WHEN jsonb_typeof(audit_log.metadata::jsonb -> 'channel') = 'string'"
    " THEN audit_log.metadata::jsonb ->> 'channel' END"
)
_LAST_CHANGE = """
    SELECT audit_log.actor, audit_log.timestamp, reviewers.name, {channel} AS channel
    FROM audit_log LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE audit_log.{column} = :value ORDER BY {order}audit_log.id DESC LIMIT 1
"""
_LAST_CHANGES = {
    column: sql(
        _LAST_CHANGE.format(channel=_CHANNEL, column=column, order=order),
        postgres=_LAST_CHANGE.format(channel=_PG_CHANNEL, column=column, order=order),
    )
    for column, order in (
        ("message_id", "audit_log.actor = 'Human' DESC, "),
        ("thread_id", ""),
    )
}


@dataclass(frozen=True)
class LastChange:
    actor: str
    timestamp: str
    name: str | None  # the reviewer's, for a human's change
    channel: str | None  # the door a decision came through, when its row says


def last_change(tx: Tx, column: str, value: str) -> LastChange | None:
    """The latest audit row of a message (`column` "message_id") or a thread ("thread_id")."""
    row = tx.one(_LAST_CHANGES[column], value=value)
    if row is None:
        return None
    channel = row["channel"] if isinstance(row["channel"], str) else None
    return LastChange(row["actor"], row["timestamp"], row["name"], channel)


# the row that withdrew a reply: a close supersedes its open replies with no newer one
_WITHDRAWAL = """
    SELECT audit_log.timestamp, audit_log.metadata, reviewers.name
    FROM audit_log {hint}LEFT JOIN reviewers ON reviewers.id = audit_log.actor_id
    WHERE audit_log.message_id = :message_id AND audit_log.event = 'Superseded'
    ORDER BY audit_log.id DESC LIMIT 1
"""
# by the message's rows, never backwards through every Superseded event
_WITHDRAWAL_ROW = sql(
    _WITHDRAWAL.format(hint="INDEXED BY audit_log_message "),
    postgres=_WITHDRAWAL.format(hint=""),
)


@dataclass(frozen=True)
class Withdrawal:
    """Who withdrew a reply (None: the system, as a customer's STOP does), when, and why:
    "the conversation was closed (…)"."""

    name: str | None
    timestamp: str
    reason: str


def _withdrawal(row: Row | None) -> Withdrawal | None:
    if row is None:
        return None
    meta = json.loads(row["metadata"]) if row["metadata"] else {}
    reason = meta.get("reason") if isinstance(meta, dict) else None
    return Withdrawal(row["name"], row["timestamp"], str(reason or "the conversation was closed"))


def withdrawal(tx: Tx, message_id: str) -> Withdrawal | None:
    """How a reply a close withdrew was withdrawn (None: no such row)."""
    return _withdrawal(tx.one(_WITHDRAWAL_ROW, message_id=message_id))


async def read_withdrawal(db: Reads, message_id: str) -> Withdrawal | None:
    """`withdrawal`, read outside a write transaction."""
    return _withdrawal(await db.one(_WITHDRAWAL_ROW, message_id=message_id))


# when a message last had one of some events (its latest approval, for the sender)
@lru_cache(maxsize=4)
def _latest_of(count: int) -> Query:
    events = ", ".join(f":event_{i}" for i in range(count))
    return sql(
        f"""
        SELECT max(timestamp) AS at FROM audit_log
        WHERE message_id = :id AND event IN ({events})
        """
    )


def _events(events: Sequence[str]) -> dict[str, Any]:
    return {f"event_{i}": event for i, event in enumerate(events)}


def latest_of(tx: Tx, message_id: str, events: Sequence[str]) -> str | None:
    """When the message last had one of `events`; None when it never had."""
    row = tx.one(_latest_of(len(events)), id=message_id, **_events(events))
    return None if row is None or row["at"] is None else str(row["at"])


async def read_latest_of(db: Reads, message_id: str, events: Sequence[str]) -> str | None:
    """As `latest_of`, outside a write transaction."""
    row = await db.one(_latest_of(len(events)), id=message_id, **_events(events))
    return None if row is None or row["at"] is None else str(row["at"])


# a reviewer's refused commands that were answered, for the answer's rate limit
_ANSWERED_REFUSALS = sql(
    """
    SELECT count(*) AS n FROM audit_log
    WHERE event = :event AND actor_id = :actor_id AND timestamp >= :since
      AND json_extract(metadata, '$.answered') = 1
    """,
    postgres="""
    SELECT count(*) AS n FROM audit_log
    WHERE event = :event AND actor_id = :actor_id AND timestamp >= :since
      AND (metadata::jsonb ->> 'answered') = 'true'
    """,
)


async def answered_refusals(db: Reads, event: str, reviewer_id: int, since: str) -> int:
    """How many of a reviewer's refused commands since `since` were answered."""
    row = await db.one(_ANSWERED_REFUSALS, event=event, actor_id=reviewer_id, since=since)
    return 0 if row is None else int(row["n"])


# the chain in order, a batch at a time, for a walk inside one snapshot
WALK_BATCH = 1000
_ROWS_AFTER = sql(
    """
    SELECT id, event, actor, actor_id, thread_id, message_id, metadata, timestamp,
           prev_hash, hash
    FROM audit_log WHERE id > :after ORDER BY id LIMIT :limit
    """
)


async def rows(db: Reads, batch: int = WALK_BATCH) -> AsyncGenerator[Row, None]:
    """Every audit row by id, read `batch` rows at a time (by the primary key)."""
    after = 0
    while True:
        found = await db.all(_ROWS_AFTER, after=after, limit=batch)
        for row in found:
            yield row
        if len(found) < batch:
            return
        after = int(found[-1]["id"])


# the checkpoint: rows 1 to last_id were verified; one row, id 1

_CHECKPOINT = sql("SELECT last_id, last_hash FROM audit_checkpoint WHERE id = 1")
_ADVANCE = sql(
    """
    INSERT INTO audit_checkpoint (id, last_id, last_hash, verified_at)
    VALUES (1, :id, :hash, :at)
    ON CONFLICT (id) DO UPDATE
        SET last_id = excluded.last_id, last_hash = excluded.last_hash,
            verified_at = excluded.verified_at
        WHERE excluded.last_id > audit_checkpoint.last_id
    """
)
_PULL_BACK = sql(
    """
    UPDATE audit_checkpoint SET last_id = :id, last_hash = :hash, verified_at = :at
    WHERE last_id > :id
    """
)
_REMOVE = sql("DELETE FROM audit_checkpoint")


def checkpoint(tx: Tx) -> tuple[int, str] | None:
    """The checkpoint's last verified id and its hash; None when there is none."""
    row = tx.one(_CHECKPOINT)
    return None if row is None else (int(row["last_id"]), str(row["last_hash"]))


def advance_checkpoint(tx: Tx, last_id: int, last_hash: str, at: str) -> None:
    """Move the checkpoint forward to `last_id` (never back)."""
    tx.run(_ADVANCE, id=last_id, hash=last_hash, at=at)


def pull_back_checkpoint(tx: Tx, last_id: int, last_hash: str, at: str) -> None:
    """Move the checkpoint back to `last_id` if it stands beyond it."""
    tx.run(_PULL_BACK, id=last_id, hash=last_hash, at=at)


def remove_checkpoint(tx: Tx) -> None:
    tx.run(_REMOVE)
