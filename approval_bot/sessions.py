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
from .store import Reads, Row, Tx
from .store import reviewers as reviewer_rows

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
    reviewer_rows.prune_sessions(conn, iso(now - IDLE_LIMIT), PRUNE_BATCH)
    session_id = secrets.token_urlsafe(32)
    reviewer_rows.add_session(conn, _key(session_id), reviewer_id, iso(now))
    return session_id


def revoke(conn: Tx, session_id: str, reason: Revoked, now: datetime) -> None:
    """Revoke one session; one already revoked keeps its first reason."""
    reviewer_rows.revoke_session(conn, _key(session_id), reason, iso(now))


def revoke_all(conn: Tx, reviewer_id: int, reason: Revoked, now: datetime) -> None:
    """Revoke every live session of a reviewer, in the caller's write transaction."""
    reviewer_rows.revoke_sessions(conn, reviewer_id, str(reason), iso(now))


def touch(conn: Tx, session_id: str, now: datetime) -> None:
    reviewer_rows.touch_session(conn, _key(session_id), iso(now))


async def live_reviewer(db: Reads, session_id: str, now: datetime) -> Row | None:
    """The active reviewer row of a live session (with `session_last_seen`), or None.

    One primary-key lookup joined to the reviewer's row by its primary key.
    """
    row = await reviewer_rows.session_reviewer(db, _key(session_id))
    if row is None or datetime.fromisoformat(row["session_last_seen"]) <= now - IDLE_LIMIT:
        return None
    return row


def needs_touch(row: Row, now: datetime) -> bool:
    return datetime.fromisoformat(row["session_last_seen"]) <= now - TOUCH_EVERY
