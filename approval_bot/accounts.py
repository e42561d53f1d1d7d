"""Reviewer accounts and their API tokens: created, listed, disabled, revoked, audited."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import audit, sessions
from .models import Actor, Role, now_iso
from .quiet_hours import InvalidQuietHours, QuietHours
from .store import Priority, Row, Store, Tx

TOKEN_PREFIX = "abt_"
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters


class AccountError(Exception):
    """A reviewer or token operation that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Reviewer:
    id: int
    name: str
    phone: str | None
    role: Role
    notify_sms: bool
    active: bool
    backup: bool = False  # texted with the admins when a reply is escalated

    @classmethod
    def from_row(cls, row: Row) -> Reviewer:
        return cls(
            id=row["id"],
            name=row["name"],
            phone=row["phone"],
            role=Role(row["role"]),
            notify_sms=bool(row["notify_sms"]),
            active=bool(row["active"]),
            backup=bool(row["backup"]),
        )


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
        clash = conn.execute(
            "SELECT name, phone FROM reviewers WHERE name = ? OR phone = ?", (name, phone)
        ).fetchone()
        if clash is not None:
            if clash["name"].lower() == name.lower():
                raise AccountError(f"a reviewer named {clash['name']!r} already exists")
            raise AccountError(f"{phone} already belongs to reviewer {clash['name']!r}")
        cursor = conn.execute(
            """
            INSERT INTO reviewers (name, phone, password_hash, role, created_at)
            VALUES (?, ?, ?, ?, ?)
            """,
            (name, phone, password_hash, role, now_iso()),
        )
        reviewer_id = cursor.lastrowid
        assert reviewer_id is not None
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
    rows = await db.fetchall("SELECT * FROM reviewers ORDER BY name")
    return [Reviewer.from_row(row) for row in rows]


async def find_reviewer(db: Store, name: str) -> Reviewer:
    row = await db.fetchone("SELECT * FROM reviewers WHERE name = ?", (name.strip(),))
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
    row = await db.fetchone("SELECT 1 FROM reviewers WHERE role = 'admin' AND active = 1")
    if row is not None:
        return False, None
    existing = await db.fetchone("SELECT name, active FROM reviewers WHERE name = ?", (name,))
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
        if conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"a token named {name!r} already exists")
        conn.execute(
            """
            INSERT INTO api_tokens (name, token_hash, reviewer_id, created_at)
            VALUES (?, ?, ?, ?)
            """,
            (name, hash_token(token), reviewer.id, now_iso()),
        )
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
    row = await db.fetchone("SELECT id, revoked_at FROM api_tokens WHERE name = ?", (name,))
    if row is None:
        raise AccountError(f"no token named {name!r}")
    if row["revoked_at"] is not None:
        raise AccountError(f"token {name!r} was already revoked at {row['revoked_at']}")

    def body(conn: Tx) -> None:
        conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (now_iso(), row["id"]))
        audit.record(
            conn, audit.AuditEvent("Token Revoked", actor=Actor.HUMAN, metadata={"token": name})
        )

    await db.write(body, priority=Priority.BULK)


async def reviewer_for_token(db: Store, token: str) -> Reviewer | None:
    """The active reviewer a live token acts as, or None."""
    row = await db.fetchone(
        """
        SELECT reviewers.* FROM api_tokens JOIN reviewers ON reviewers.id = api_tokens.reviewer_id
        WHERE api_tokens.token_hash = ? AND api_tokens.revoked_at IS NULL
          AND reviewers.active = 1
        """,
        (hash_token(token),),
    )
    return Reviewer.from_row(row) if row else None


async def _reviewer_by_id(db: Store, reviewer_id: int) -> Reviewer:
    row = await db.fetchone("SELECT * FROM reviewers WHERE id = ?", (reviewer_id,))
    if row is None:
        raise AccountError(f"no reviewer with id {reviewer_id}")
    return Reviewer.from_row(row)


async def _update_reviewer(
    db: Store,
    reviewer: Reviewer,
    sql: str,
    params: tuple[object, ...],
    event: str,
    by: int | None,
    details: dict[str, object],
    ends_sessions: sessions.Revoked | None = None,
) -> Reviewer:

    def body(conn: Tx) -> None:
        conn.execute(sql, params)
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
        row = await db.fetchone(
            "SELECT count(*) AS n FROM reviewers WHERE role = 'admin' AND active = 1"
        )
        if row is not None and row["n"] <= 1:
            raise AccountError(f"{reviewer.name!r} is the last active admin")
    return await _update_reviewer(
        db,
        reviewer,
        "UPDATE reviewers SET active = ? WHERE id = ?",
        (int(active), reviewer_id),
        "Reviewer Enabled" if active else "Reviewer Disabled",
        by,
        {},
        ends_sessions=None if active else sessions.Revoked.DISABLED,
    )


async def set_phone(db: Store, reviewer_id: int, phone: str | None, *, by: int | None) -> Reviewer:
    """Set or clear a reviewer's phone (already checked as E.164); phones are unique."""
    reviewer = await _reviewer_by_id(db, reviewer_id)
    if phone is not None:
        clash = await db.fetchone(
            "SELECT name FROM reviewers WHERE phone = ? AND id != ?", (phone, reviewer_id)
        )
        if clash is not None:
            raise AccountError(f"{phone} already belongs to reviewer {clash['name']!r}")
    return await _update_reviewer(
        db,
        reviewer,
        "UPDATE reviewers SET phone = ? WHERE id = ?",
        (phone, reviewer_id),
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
        "UPDATE reviewers SET notify_sms = ? WHERE id = ?",
        (int(notify), reviewer_id),
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
        "UPDATE reviewers SET backup = ? WHERE id = ?",
        (int(backup), reviewer_id),
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
        "UPDATE reviewers SET password_hash = ? WHERE id = ?",
        (hash_password(password), reviewer_id),
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
        "UPDATE reviewers SET quiet_start = ?, quiet_end = ?, time_zone = ? WHERE id = ?",
        (start, end, zone, reviewer.id),
        "Reviewer Quiet Hours Set",
        by,
        {"start": start, "end": end, "zone": zone},
    )
