"""The append-only, hash-chained audit log: one way in (`record`, or `record_many` for a
batch), one check (`verify`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from .models import Actor, now_iso
from .store import Reads, Row, Tx, at_transaction_end, log_after_commit
from .store import audit as audit_rows

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened, by whom, to which thread or message."""

    event: str
    actor: Actor = Actor.SYSTEM
    actor_id: int | None = None
    thread_id: str | None = None
    message_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def canonical_metadata(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(row: Mapping[str, Any] | Row) -> str:
    """SHA-256 over the canonical JSON of an audit row's fields, its prev_hash included."""
    fields = {
        "id": row["id"],
        "event": row["event"],
        "actor": row["actor"],
        "actor_id": row["actor_id"],
        "thread_id": row["thread_id"],
        "message_id": row["message_id"],
        "metadata": row["metadata"],
        "timestamp": row["timestamp"],
        "prev_hash": row["prev_hash"],
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record(conn: Tx, event: AuditEvent) -> None:
    """Append `event` to the audit log inside the caller's write transaction."""
    record_many(conn, [event])


def record_many(conn: Tx, events: Sequence[AuditEvent]) -> None:
    """Append `events` in order, chained as one `record` each would.

    Inside a transaction run by `Store.write` the rows are appended when the transaction
    function returns, all in one statement after one read of the chain's head: a job that
    audits hundreds of steps pays for one. On PostgreSQL that read locks the head until the
    transaction ends (a concurrent append waits, then chains after these rows), and taking
    it last, after every row lock the transaction takes, means two transactions never wait
    for each other's rows while one holds the head. Each row is stamped when it is appended.
    """
    for event in events:
        if event.actor is Actor.SYSTEM and event.actor_id is not None:
            raise ValueError("a System event has no actor_id")
    # the metadata as it is now, whatever the caller does with its dict afterwards
    pending = [(event, canonical_metadata(event.metadata)) for event in events]
    appends = at_transaction_end("audit_chain", _Appends)
    if appends is None:
        _append(conn, pending)
    else:
        appends.pending.extend(pending)


class _Appends:
    """The audit rows of one transaction, appended when its function returns."""

    def __init__(self) -> None:
        self.pending: list[tuple[AuditEvent, str]] = []

    def __call__(self, conn: Tx) -> None:
        _append(conn, self.pending)


def _append(conn: Tx, pending: Sequence[tuple[AuditEvent, str]]) -> None:
    if not pending:
        return
    chain = audit_rows.head(conn)
    next_id, prev_hash = chain.last_id + 1, chain.last_hash or GENESIS_HASH
    rows: list[dict[str, Any]] = []
    for event, metadata in pending:
        row: dict[str, Any] = {
            "id": next_id,
            "event": str(event.event),
            "actor": str(event.actor),
            "actor_id": event.actor_id,
            "thread_id": event.thread_id,
            "message_id": event.message_id,
            "metadata": metadata,
            "timestamp": now_iso(),
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = row_hash(row)
        rows.append(row)
        next_id += 1
    audit_rows.append(conn, rows)
    for (event, _), row in zip(pending, rows, strict=True):
        log_after_commit(
            row["event"],
            {
                "actor": row["actor"],
                "actor_id": row["actor_id"],
                "thread_id": row["thread_id"],
                "message_id": row["message_id"],
                **{key: event.metadata[key] for key in ("from", "to") if key in event.metadata},
            },
        )


@dataclass(frozen=True)
class Verification:
    """The intact rows from row 1 (`rows`, the last one's hash) and the first broken one."""

    rows: int
    broken_at: int | None = None
    reason: str | None = None
    last_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    def describe(self) -> str:
        if self.ok:
            return f"audit log verified: {self.rows} rows, hash chain intact"
        return f"audit log broken at row {self.broken_at}: {self.reason}"


async def verify(conn: Reads) -> Verification:
    """Walk the chain from the first row; report the first row that does not fit.

    This is a read-only operation, meant for one snapshot (`Store.snapshot()`): the chain's
    head and the rows are read at one moment. It finds an edited row (its hash no longer
    matches), a deleted or inserted row (the next row's prev_hash or id does not follow), a
    deleted tail (the head remembers a last id beyond the last row), a row appended without
    moving the head, and a last row rewritten with a hash of its own (the head holds the
    one it was appended with).
    """
    chain = await audit_rows.read_head(conn)
    expected_prev, expected_id, count = GENESIS_HASH, 1, 0
    async with aclosing(audit_rows.rows(conn)) as walk:
        async for row in walk:
            row_id = row["id"]
            if row_id != expected_id:
                reason = f"row {expected_id} is missing"
                return Verification(count, expected_id, reason, expected_prev)
            if chain is None or row_id > chain.last_id:
                reason = "the chain's head is missing" if chain is None else "it is past the head"
                return Verification(count, row_id, reason, expected_prev)
            if row["prev_hash"] != expected_prev:
                return Verification(
                    count, row_id, "its prev_hash does not match the row before it", expected_prev
                )
            if row_hash(row) != row["hash"]:
                return Verification(
                    count, row_id, "its hash does not match its contents", expected_prev
                )
            if row_id == chain.last_id and row["hash"] != chain.last_hash:
                reason = "its hash is not the one the chain's head holds"
                return Verification(count, row_id, reason, expected_prev)
            expected_prev, expected_id, count = row["hash"], row_id + 1, count + 1
    if chain is not None and chain.last_id >= expected_id:
        return Verification(
            count,
            expected_id,
            f"rows {expected_id} to {chain.last_id} are missing",
            expected_prev,
        )
    return Verification(count, last_hash=expected_prev)
