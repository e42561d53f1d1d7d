"""Reviewer accounts and their API tokens: created, listed, disabled, revoked, audited.

`Reviewer` lives in `store.reviewers` with its `from_row`; it is imported here for callers.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import audit, sessions
from .models import Actor, Role, now_iso
from .quiet_hours import InvalidQuietHours, QuietHours
from .store import Priority, Store, Tx
from .store import reviewers as reviewer_rows
from .store.reviewers import Reviewer as Reviewer

TOKEN_PREFIX = "abt_"
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters


class AccountError(Exception):
    """A reviewer or token operation that cannot be done as asked; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 is as strong as a slow hash here."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)


async def add_reviewer(
    db: Store,
    name: str,
    *,
    phone: str | None,
    password: str,
    role: Role = Role.REVIEWER,
    actor: Actor = Actor.HUMAN,
    by: int | None = None,
) -> Reviewer:
    """Create a reviewer; names are unique regardless of case, phones unique.

    `by` is the reviewer who added them, when it was done from the web.
    """
    name = name.strip()
    if not name:
        raise AccountError("a reviewer needs a name")
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    password_hash = hash_password(password)  # slow on purpose: not inside the transaction

    def body(conn: Tx) -> int:
        clash = reviewer_rows.name_or_phone_clash(conn, name, phone)
        if clash is not None:
            if clash["name"].lower() == name.lower():
                raise AccountError(f"a reviewer named {clash['name']!r} already exists")
            raise AccountError(f"{phone} already belongs to reviewer {clash['name']!r}")
        reviewer_id = reviewer_rows.add(conn, name, phone, password_hash, role, now_iso())
        audit.record(
            conn,
            audit.AuditEvent(
                "Reviewer Added",
                actor=actor,
                actor_id=by if actor is Actor.HUMAN else None,
                metadata={"reviewer_id": reviewer_id, "name": name, "role": role},
            ),
        )
        return reviewer_id

    reviewer_id = await db.write(body, priority=Priority.DECISION)
    return Reviewer(reviewer_id, name, phone, role, notify_sms=True, active=True)


async def list_reviewers(db: Store) -> list[Reviewer]:
    return await reviewer_rows.all_reviewers(db)


async def find_reviewer(db: Store, name: str) -> Reviewer:
    row = await reviewer_rows.by_name(db, name.strip())
    if row is None:
        raise AccountError(f"no reviewer named {name!r}")
    return Reviewer.from_row(row)


async def disable_reviewer(db: Store, name: str) -> Reviewer:
    """Disable a reviewer by name (the command line's door to `set_active`)."""
    return await set_active(db, (await find_reviewer(db, name)).id, False, by=None)


async def ensure_admin(db: Store, name: str, password: str | None) -> tuple[bool, str | None]:
    """Make sure an active admin exists; create `name` when none does.

    Returns whether one was created, and the password when it was generated (to be shown
    once); with `password` given, that one is used and None returned for it.
    """
    if await reviewer_rows.any_active_admin(db):
        return False, None
    existing = await reviewer_rows.by_name(db, name)
    if existing is not None:
        state = "is disabled" if not existing["active"] else "is not an admin"
        raise AccountError(
            f"there is no active admin, and reviewer {existing['name']!r} {state}; "
            "set ADMIN_NAME to a new name to create another admin"
        )
    generated = None if password else generate_password()
    await add_reviewer(
        db,
        name,
        phone=None,
        password=password or generated or "",
        role=Role.ADMIN,
        actor=Actor.SYSTEM,
    )
    return True, generated


async def create_token(db: Store, name: str, reviewer_name: str) -> str:
    """Create an API token acting as a reviewer; returns it once, stores only its hash."""
    name = name.strip()
    if not name:
        raise AccountError("a token needs a name")
    reviewer = await find_reviewer(db, reviewer_name)
    if not reviewer.active:
        raise AccountError(f"reviewer {reviewer.name!r} is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def body(conn: Tx) -> None:
        if reviewer_rows.token_exists(conn, name):
            raise AccountError(f"a token named {name!r} already exists")
        reviewer_rows.add_token(conn, name, hash_token(token), reviewer.id, now_iso())
        audit.record(
            conn,
            audit.AuditEvent(
                "Token Created",
                actor=Actor.HUMAN,
                metadata={"token": name, "reviewer_id": reviewer.id},
            ),
        )

    await db.write(body, priority=Priority.BULK)
    return token


async def revoke_token(db: Store, name: str) -> None:
    """Revoke a token: it stops working at once."""
    name = name.strip()
    row = await reviewer_rows.token_named(db, name)
    if row is None:
        raise AccountError(f"no token named {name!r}")
    if row["revoked_at"] is not None:
        raise AccountError(f"token {name!r} was already revoked at {row['revoked_at']}")

    def body(conn: Tx) -> None:
        reviewer_rows.revoke_token(conn, row["id"], now_iso())
        audit.record(
            conn, audit.AuditEvent("Token Revoked", actor=Actor.HUMAN, metadata={"token": name})
        )

    await db.write(body, priority=Priority.BULK)


async def reviewer_for_token(db: Store, token: str) -> Reviewer | None:
    """The active reviewer a live token acts as, or None."""
    return await reviewer_rows.token_reviewer(db, hash_token(token))


async def _reviewer_by_id(db: Store, reviewer_id: int) -> Reviewer:
    reviewer = await reviewer_rows.by_id(db, reviewer_id)
    if reviewer is None:
        raise AccountError(f"no reviewer with id {reviewer_id}")
    return reviewer


async def _update_reviewer(
    db: Store,
    reviewer: Reviewer,
    change: Callable[[Tx], None],
    event: str,
    by: int | None,
    details: dict[str, object],
    ends_sessions: sessions.Revoked | None = None,
) -> Reviewer:

    def body(conn: Tx) -> None:
        change(conn)
        if ends_sessions is not None:
            sessions.revoke_all(conn, reviewer.id, ends_sessions, datetime.now(UTC))
        audit.record(
            conn,
            audit.AuditEvent(
                event,
                actor=Actor.HUMAN,
                actor_id=by,
                metadata={"reviewer_id": reviewer.id, "name": reviewer.name, **details},
            ),
        )

    await db.write(body, priority=Priority.DECISION)
    return await _reviewer_by_id(db, reviewer.id)


async def set_active(db: Store, reviewer_id: int, active: bool, *, by: int | None) -> Reviewer:
    """Disable a reviewer (no sign-in, SMS decisions or tokens; sessions end) or enable them."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    if reviewer.active == active:
        state = "active" if active else "disabled"
        raise AccountError(f"reviewer {reviewer.name!r} is already {state}")
    if not active and reviewer.role is Role.ADMIN:
        if await reviewer_rows.active_admins(db) <= 1:
            raise AccountError(f"{reviewer.name!r} is the last active admin")
    return await _update_reviewer(
        db,
        reviewer,
        partial(
            reviewer_rows.set_column, reviewer_id=reviewer_id, column="active", value=int(active)
        ),
        "Reviewer Enabled" if active else "Reviewer Disabled",
        by,
        {},
        ends_sessions=None if active else sessions.Revoked.DISABLED,
    )


async def set_phone(db: Store, reviewer_id: int, phone: str | None, *, by: int | None) -> Reviewer:
    """Set or clear a reviewer's phone (already checked as E.164); phones are unique."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    if phone is not None:
        owner = await reviewer_rows.phone_owner(db, phone, reviewer_id)
        if owner is not None:
            raise AccountError(f"{phone} already belongs to reviewer {owner!r}")
    return await _update_reviewer(
        db,
        reviewer,
        partial(reviewer_rows.set_column, reviewer_id=reviewer_id, column="phone", value=phone),
        "Reviewer Phone Set",
        by,
        {"phone": phone},
    )


async def set_notify_sms(db: Store, reviewer_id: int, notify: bool, *, by: int | None) -> Reviewer:
    """Turn a reviewer's SMS notifications of new drafts on or off."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    return await _update_reviewer(
        db,
        reviewer,
        partial(
            reviewer_rows.set_column,
            reviewer_id=reviewer_id,
            column="notify_sms",
            value=int(notify),
        ),
        "Reviewer Notifications On" if notify else "Reviewer Notifications Off",
        by,
        {},
    )


async def set_backup(db: Store, reviewer_id: int, backup: bool, *, by: int | None) -> Reviewer:
    """Mark a reviewer as a backup (texted, with the admins, about escalated replies) or not."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    return await _update_reviewer(
        db,
        reviewer,
        partial(
            reviewer_rows.set_column, reviewer_id=reviewer_id, column="backup", value=int(backup)
        ),
        "Reviewer Backup On" if backup else "Reviewer Backup Off",
        by,
        {},
    )


async def reset_password(db: Store, reviewer_id: int, *, by: int | None) -> str:
    """Give a reviewer a new generated password (returned once); their sessions end."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    password = generate_password()
    await _update_reviewer(
        db,
        reviewer,
        partial(
            reviewer_rows.set_column,
            reviewer_id=reviewer_id,
            column="password_hash",
            value=hash_password(password),
        ),
        "Reviewer Password Reset",
        by,
        {},
        ends_sessions=sessions.Revoked.PASSWORD,
    )
    return password


async def set_quiet_hours(
    db: Store, name: str, hours: tuple[str, str, str] | None, *, by: int | None = None
) -> Reviewer:
    """Set a reviewer's quiet hours (start, end, time zone), or clear them with None."""
    reviewer = await find_reviewer(db, name)
    if hours is not None:
        try:
            QuietHours.parse(*hours)
        except InvalidQuietHours as error:
            raise AccountError(str(error)) from None
    start, end, zone = hours if hours is not None else (None, None, "UTC")
    return await _update_reviewer(
        db,
        reviewer,
        partial(
            reviewer_rows.set_quiet_hours, reviewer_id=reviewer.id, start=start, end=end, zone=zone
        ),
        "Reviewer Quiet Hours Set",
        by,
        {"start": start, "end": end, "zone": zone},
    )
