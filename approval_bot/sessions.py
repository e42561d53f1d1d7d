"""Server-side web sessions: made at sign-in, looked up on each request, revoked for good.

The signed session cookie carries a random session id; the database keeps only its
SHA-256, with the reviewer, when it was made and last seen, and when and why it was
revoked. Logout revokes one session; a password change or disabling the reviewer
revokes all of theirs, in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from .models import iso
from .store import Row, Store, Tx

# a session unused this long no longer opens pages (the cookie's own max age is the same)
IDLE_LIMIT = timedelta(hours=12)
# how stale `last_seen_at` may get before a request refreshes it: one write per this, not per page
TOUCH_EVERY = timedelta(minutes=5)
# expired rows deleted per new session
PRUNE_BATCH = 100


class Revoked(StrEnum):
    LOGOUT = "logout"
    PASSWORD = "password"
    DISABLED = "disabled"
    REPLACED = "replaced"  # a new sign-in in the same browser


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def create(conn: Tx, reviewer_id: int, now: datetime, *, replacing: str | None) -> str:
    """Make a session for the reviewer and return its id (for the cookie only).

    `replacing` is the browser's previous session, revoked here. Prunes a bounded batch
    of expired rows.
    """
    if replacing is not None:
        revoke(conn, replacing, Revoked.REPLACED, now)
    conn.execute(
        """
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions WHERE last_seen_at < ? ORDER BY last_seen_at LIMIT ?
        )
        """,
        (iso(now - IDLE_LIMIT), PRUNE_BATCH),
    )
    session_id = secrets.token_urlsafe(32)
    conn.execute(
        """
        INSERT INTO sessions (id, reviewer_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)
        """,
        (_key(session_id), reviewer_id, iso(now), iso(now)),
    )
    return session_id


def revoke(conn: Tx, session_id: str, reason: Revoked, now: datetime) -> None:
    """Revoke one session; one already revoked keeps its first reason."""
    conn.execute(
        """
        UPDATE sessions SET revoked_at = ?, revoked_reason = ?
        WHERE id = ? AND revoked_at IS NULL
        """,
        (iso(now), reason, _key(session_id)),
    )


def revoke_all(conn: Tx, reviewer_id: int, reason: Revoked, now: datetime) -> None:
    """Revoke every live session of a reviewer, in the caller's write transaction."""
    conn.execute(
        """
        UPDATE sessions SET revoked_at = ?, revoked_reason = ?
        WHERE reviewer_id = ? AND revoked_at IS NULL
        """,
        (iso(now), str(reason), reviewer_id),
    )


def touch(conn: Tx, session_id: str, now: datetime) -> None:
    conn.execute(
        "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?",
        (iso(now), _key(session_id), iso(now)),
    )


async def live_reviewer(db: Store, session_id: str, now: datetime) -> Row | None:
    """The active reviewer row of a live session (with `session_last_seen`), or None.

    One primary-key lookup joined to the reviewer's row by its primary key.
    """
    row = await db.fetchone(
        """
        SELECT reviewers.*, sessions.last_seen_at AS session_last_seen
        FROM sessions JOIN reviewers ON reviewers.id = sessions.reviewer_id
        WHERE sessions.id = ? AND sessions.revoked_at IS NULL AND reviewers.active = 1
        """,
        (_key(session_id),),
    )
    if row is None or datetime.fromisoformat(row["session_last_seen"]) <= now - IDLE_LIMIT:
        return None
    return row


def needs_touch(row: Row, now: datetime) -> bool:
    return datetime.fromisoformat(row["session_last_seen"]) <= now - TOUCH_EVERY
