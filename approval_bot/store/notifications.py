"""Texts to reviewers (the `notifications` outbox): queued (draft notices, digests, answers,
the ladder's texts), held through quiet hours, their status changes and the sender's claims,
attempts and outcomes of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .base import Row, Tx
from .send_attempts import SendAttempts
from .sql import Query, sql

# the columns a status change may set besides the status, each with its own statement part
FIELDS = (
    "provider_sid",
    "error_code",
    "error_message",
    "next_attempt_at",
    "claimed_at",
    "unconfirmed_since",
    "sent_at",
)
_CHANGES: dict[frozenset[str], Query] = {}


def _change(fields: Iterable[str]) -> Query:
    names = frozenset(fields)
    query = _CHANGES.get(names)
    if query is None:
        if not names <= set(FIELDS):
            raise ValueError(f"a notification transition cannot set {sorted(names - set(FIELDS))}")
        assignments = "".join(f", {name} = :{name}" for name in FIELDS if name in names)
        query = _CHANGES[names] = sql(
            f"""
            UPDATE notifications SET status = :target{assignments}
            WHERE id = :id AND status = :expected
            """
        )
    return query


def set_status(tx: Tx, notification_id: int, *, expected: str, target: str, **fields: Any) -> int:
    """Move a notification from `expected` to `target`, setting `fields` (of FIELDS) too."""
    return tx.run(_change(fields), id=notification_id, expected=expected, target=target, **fields)


# the sender: due reviewer texts (PENDING) with what decides whether the reviewer takes one,
# and the message a text is about (a draft decided meanwhile makes its text untrue)
_DUE_TEXT = """
    SELECT notifications.*, reviewers.phone, reviewers.active, reviewers.notify_sms,
           reviewers.sms_opted_out, messages.type AS draft_type, messages.status AS draft_status
    FROM notifications JOIN reviewers ON reviewers.id = notifications.reviewer_id
    LEFT JOIN messages ON messages.id = notifications.draft_id
    WHERE notifications.status = 'PENDING'
      AND ((notifications.claimed_at IS NULL
            AND (notifications.next_attempt_at IS NULL
                 OR notifications.next_attempt_at <= :now))
           OR notifications.claimed_at <= :stale_before)
    ORDER BY notifications.created_at LIMIT :room
    """
_DUE = sql(
    _DUE_TEXT,
    # several instances: a row another one is claiming is skipped, not waited for
    postgres=_DUE_TEXT + "FOR UPDATE OF notifications SKIP LOCKED",
)
_ONE = sql("SELECT * FROM notifications WHERE id = :id")

# claims, attempts, retries and deferrals, as for customer messages
ATTEMPTS = SendAttempts.of("notifications", "PENDING")


def due(tx: Tx, *, now: str, stale_before: str, room: int) -> list[Row]:
    """Up to `room` texts to send now, oldest first: never tried, due again, or whose claim
    is older than `stale_before` (its sender died mid-send)."""
    return tx.all(_DUE, now=now, stale_before=stale_before, room=room)


def get(tx: Tx, notification_id: int) -> Row | None:
    """A notification's row (its status, reviewer, draft, …), or None when there is none."""
    return tx.one(_ONE, id=notification_id)


# -- queued texts, held texts, who was told about a draft

_INSERT_NOTIFICATION_TEXT = """
    INSERT INTO notifications (reviewer_id, draft_id, body, status, created_at)
    VALUES (:reviewer_id, :draft_id, :body, :status, :created_at)
"""
_INSERT_NOTIFICATION = sql(_INSERT_NOTIFICATION_TEXT + " RETURNING id")
# executemany takes no RETURNING (sqlite3 refuses the rows it would answer)
_INSERT_NOTIFICATIONS = sql(_INSERT_NOTIFICATION_TEXT)
_HELD_OF = sql(
    """
    SELECT notifications.id, draft_codes.code, messages.type, messages.sender,
           messages.receiver, messages.body, messages.status, thread_controls.pause_kind
    FROM notifications
    LEFT JOIN messages ON messages.id = notifications.draft_id
    LEFT JOIN draft_codes ON draft_codes.message_id = notifications.draft_id
    LEFT JOIN thread_controls ON thread_controls.thread_id = messages.thread_id
    WHERE notifications.reviewer_id = :reviewer_id AND notifications.status = 'HELD'
    ORDER BY notifications.created_at
    """
)


TOLD_CHUNK = 100  # draft ids per lookup of the reviewers told


@lru_cache(maxsize=TOLD_CHUNK)
def _told_query(count: int) -> Query:
    marks = ", ".join(f":d{i}" for i in range(count))
    return sql(
        f"SELECT DISTINCT draft_id, reviewer_id FROM notifications WHERE draft_id IN ({marks})"
    )


@dataclass(frozen=True)
class HeldText:
    """A text held through a reviewer's quiet hours, and the message it is about if any: a
    draft, or a customer's text held as an opt-out in plain words (with its thread's pause)."""

    id: int
    code: str | None
    type: str | None
    sender: str | None
    receiver: str | None
    body: str | None
    status: str | None
    pause_kind: str | None


def insert_notification(
    tx: Tx,
    reviewer_id: int,
    body: str,
    status: str,
    created_at: str,
    draft_id: str | None = None,
) -> int:
    """Queue a text to a reviewer (PENDING or HELD); its id."""
    return tx.insert(
        _INSERT_NOTIFICATION,
        reviewer_id=reviewer_id,
        draft_id=draft_id,
        body=body,
        status=status,
        created_at=created_at,
    )


def insert_notifications(tx: Tx, rows: Iterable[tuple[int, str, str, str, str]]) -> None:
    """Queue many texts: (reviewer_id, draft_id, body, status, created_at) each."""
    tx.many(
        _INSERT_NOTIFICATIONS,
        (
            {
                "reviewer_id": reviewer_id,
                "draft_id": draft_id,
                "body": body,
                "status": status,
                "created_at": created_at,
            }
            for reviewer_id, draft_id, body, status, created_at in rows
        ),
    )


def held_of(tx: Tx, reviewer_id: int) -> list[HeldText]:
    """A reviewer's held texts, oldest first, with the drafts they are about."""
    return [
        HeldText(
            row["id"],
            row["code"],
            row["type"],
            row["sender"],
            row["receiver"],
            row["body"],
            row["status"],
            row["pause_kind"],
        )
        for row in tx.all(_HELD_OF, reviewer_id=reviewer_id)
    ]


def told(tx: Tx, draft_ids: list[str]) -> list[tuple[str, int]]:
    """(draft_id, reviewer_id) of each notice sent about the drafts (one lookup per draft,
    TOLD_CHUNK drafts per statement)."""
    pairs: list[tuple[str, int]] = []
    for first in range(0, len(draft_ids), TOLD_CHUNK):
        chunk = draft_ids[first : first + TOLD_CHUNK]
        params: dict[str, Any] = {f"d{i}": draft_id for i, draft_id in enumerate(chunk)}
        rows = tx.all(_told_query(len(chunk)), **params)
        pairs.extend((row["draft_id"], row["reviewer_id"]) for row in rows)
    return pairs
