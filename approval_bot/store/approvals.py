"""Drafts and their decisions: the `approvals` rows, and what the review actions read and
write on the way (a thread's controls, idempotency keys)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import ApprovalAction
from .base import Reads, Tx
from .sql import sql

_LATEST_DECISION = sql(
    """
    SELECT approvals.action, approvals.timestamp, reviewers.name FROM approvals
    LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
    WHERE approvals.draft_id = :draft_id ORDER BY approvals.id DESC LIMIT 1
    """
)


@dataclass(frozen=True)
class DecisionRecord:
    """A draft's latest decision: approve, edit or reject, when, and by whom."""

    action: ApprovalAction
    timestamp: str
    name: str | None


async def latest_decision(db: Reads, draft_id: str) -> DecisionRecord | None:
    row = await db.one(_LATEST_DECISION, draft_id=draft_id)
    return (
        None
        if row is None
        else DecisionRecord(ApprovalAction(row["action"]), row["timestamp"], row["name"])
    )


# -- the draft and its decision

_INSERT_APPROVAL = sql(
    """
    INSERT INTO approvals
        (draft_id, reviewer_phone, action, notes, timestamp, reviewer_id, channel)
    VALUES (:draft_id, :reviewer_phone, :action, :notes, :at, :reviewer_id, :channel)
    """
)


def insert_approval(
    tx: Tx,
    *,
    draft_id: str,
    action: str,
    at: str,
    reviewer_id: int,
    channel: str,
    reviewer_phone: str | None,
    notes: str | None,
) -> None:
    """The `approvals` row of a decision on a draft."""
    tx.run(
        _INSERT_APPROVAL,
        draft_id=draft_id,
        reviewer_phone=reviewer_phone,
        action=action,
        notes=notes,
        at=at,
        reviewer_id=reviewer_id,
        channel=channel,
    )


# -- the thread's controls (read with `conversations.thread`)

# a takeover and a release each expect the holder they read: a writer that read the
# thread before another changed its holder matches no row; a takeover, a release and a
# close each replace a release deferred to the resume
_TAKE_OVER = """
    UPDATE thread_controls SET taken_over_by = :reviewer_id, taken_over_at = :now,
                               last_takeover_at = :now, last_updated = :now,
                               release_deferred_at = NULL
    WHERE thread_id = :thread_id AND {holder}
"""
_TAKE_OVER_FREE = sql(_TAKE_OVER.format(holder="taken_over_by IS NULL"))
_TAKE_OVER_FROM = sql(_TAKE_OVER.format(holder="taken_over_by = :holder"))
_GIVE_BACK = sql(
    """
    UPDATE thread_controls SET taken_over_by = NULL, taken_over_at = NULL,
                               last_human_reply_at = NULL, last_updated = :now,
                               release_deferred_at = :deferred_at
    WHERE thread_id = :thread_id AND taken_over_by = :holder
    """
)
_LET_GO = sql(
    """
    UPDATE thread_controls SET taken_over_by = NULL, taken_over_at = NULL,
                               last_human_reply_at = NULL, release_deferred_at = NULL
    WHERE thread_id = :thread_id
    """
)
_TAKE_DEFERRED = sql(
    """
    UPDATE thread_controls SET release_deferred_at = NULL
    WHERE thread_id = :thread_id AND release_deferred_at IS NOT NULL
    """
)
_HUMAN_REPLIED = sql(
    """
    UPDATE thread_controls SET last_human_reply_at = :now, last_human_reply_by = :reviewer_id
    WHERE thread_id = :thread_id
    """
)


def take_over(tx: Tx, thread_id: str, reviewer_id: int, now: str, *, holder: int | None) -> int:
    """The thread is now held by `reviewer_id`, if `holder` (None: nobody) still holds it;
    rows changed."""
    if holder is None:
        return tx.run(_TAKE_OVER_FREE, thread_id=thread_id, reviewer_id=reviewer_id, now=now)
    return tx.run(
        _TAKE_OVER_FROM, thread_id=thread_id, reviewer_id=reviewer_id, now=now, holder=holder
    )


def give_back(tx: Tx, thread_id: str, now: str, *, holder: int, deferred: bool) -> int:
    """A release: nobody holds the thread, and no human reply holds the bot back; only if
    `holder` still holds it. `deferred`: the thread is paused, so what the release gives
    back waits for the resume (`take_deferred_release`). Rows changed."""
    return tx.run(
        _GIVE_BACK,
        thread_id=thread_id,
        now=now,
        holder=holder,
        deferred_at=now if deferred else None,
    )


def take_deferred_release(tx: Tx, thread_id: str) -> bool:
    """At a resume: whether a release made during the pause waits for it (then no more)."""
    return tx.run(_TAKE_DEFERRED, thread_id=thread_id) > 0


def let_go(tx: Tx, thread_id: str) -> None:
    """A close: nobody holds the thread (last_updated is left as it was)."""
    tx.run(_LET_GO, thread_id=thread_id)


def human_replied(tx: Tx, thread_id: str, reviewer_id: int, now: str) -> None:
    tx.run(_HUMAN_REPLIED, thread_id=thread_id, reviewer_id=reviewer_id, now=now)


# -- idempotency keys of replies written through the API


@dataclass(frozen=True)
class KeyUse:
    """The reply an idempotency key sent: the hash of its text, its id, when."""

    body_hash: str
    message_id: str
    created_at: str


_KEY = sql(
    """
    SELECT body_hash, message_id, created_at FROM idempotency_keys
    WHERE reviewer_id = :reviewer_id AND key = :key
    """
)
_FORGET_KEY = sql("DELETE FROM idempotency_keys WHERE reviewer_id = :reviewer_id AND key = :key")
_PRUNE_KEYS = sql("DELETE FROM idempotency_keys WHERE created_at <= :cutoff")
# a second request with the key, stored by another writer meanwhile: on PostgreSQL the
# insert waits for that writer's commit, then inserts nothing
_INSERT_KEY = sql(
    """
    INSERT INTO idempotency_keys (reviewer_id, key, body_hash, message_id, created_at)
    VALUES (:reviewer_id, :key, :body_hash, :message_id, :created_at)
    ON CONFLICT (reviewer_id, key) DO NOTHING
    """
)


def key_use(tx: Tx, reviewer_id: int, key: str) -> KeyUse | None:
    row = tx.one(_KEY, reviewer_id=reviewer_id, key=key)
    return None if row is None else KeyUse(row["body_hash"], row["message_id"], row["created_at"])


def forget_key(tx: Tx, reviewer_id: int, key: str) -> None:
    tx.run(_FORGET_KEY, reviewer_id=reviewer_id, key=key)


def prune_keys(tx: Tx, cutoff: str) -> int:
    """Forget the keys made at or before `cutoff`; how many."""
    return tx.run(_PRUNE_KEYS, cutoff=cutoff)


def insert_key(
    tx: Tx, reviewer_id: int, key: str, body_hash: str, message_id: str, created_at: str
) -> bool:
    """Keep the key's reply; False when the reviewer's key was stored meanwhile."""
    return 1 == tx.run(
        _INSERT_KEY,
        reviewer_id=reviewer_id,
        key=key,
        body_hash=body_hash,
        message_id=message_id,
        created_at=created_at,
    )
