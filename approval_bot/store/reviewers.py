"""Reviewers, their API tokens, their web sessions and the sign-in attempts against them."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Role
from .base import Reads, Row, Tx
from .sql import Query, sql


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


@dataclass(frozen=True)
class TextedReviewer:
    """A reviewer as draft texts reach them: whether they take texts, and their quiet hours."""

    id: int
    role: str
    backup: bool
    active: bool
    phone: str | None
    notify_sms: bool
    sms_opted_out: bool
    quiet_start: str | None
    quiet_end: str | None
    time_zone: str

    @classmethod
    def from_row(cls, row: Row) -> TextedReviewer:
        return cls(
            id=row["id"],
            role=row["role"],
            backup=bool(row["backup"]),
            active=bool(row["active"]),
            phone=row["phone"],
            notify_sms=bool(row["notify_sms"]),
            sms_opted_out=bool(row["sms_opted_out"]),
            quiet_start=row["quiet_start"],
            quiet_end=row["quiet_end"],
            time_zone=row["time_zone"],
        )


# -- reviewers ---------------------------------------------------------------------------------

_CLASH = sql("SELECT name, phone FROM reviewers WHERE name = :name OR phone = :phone")
_ADD = sql(
    """
    INSERT INTO reviewers (name, phone, password_hash, role, created_at)
    VALUES (:name, :phone, :password_hash, :role, :created_at)
    RETURNING id
    """
)
_ALL = sql("SELECT * FROM reviewers ORDER BY name")
_BY_NAME = sql("SELECT * FROM reviewers WHERE name = :name")
_BY_ID = sql("SELECT * FROM reviewers WHERE id = :id")
_ANY_ACTIVE_ADMIN = sql("SELECT 1 FROM reviewers WHERE role = 'admin' AND active = 1")
_ACTIVE_ADMINS = sql("SELECT count(*) AS n FROM reviewers WHERE role = 'admin' AND active = 1")
_PHONE_OWNER = sql("SELECT name FROM reviewers WHERE phone = :phone AND id != :id")
_BY_PHONE = sql("SELECT id, sms_opted_out FROM reviewers WHERE phone = :phone")
_TEXTED_COLUMNS = (
    "id, role, backup, active, phone, notify_sms, sms_opted_out, quiet_start, quiet_end, time_zone"
)
_TEXTED = sql(
    f"""
    SELECT {_TEXTED_COLUMNS} FROM reviewers
    WHERE active = 1 AND phone IS NOT NULL AND notify_sms = 1 AND sms_opted_out = 0
    """
)
_HELD_TEXTS = sql(
    f"""
    SELECT {_TEXTED_COLUMNS} FROM reviewers
    WHERE id IN (SELECT reviewer_id FROM notifications WHERE status = 'HELD')
    """
)
_SMS_OPT_OUT = sql(
    "UPDATE reviewers SET sms_opted_out = :opted_out, notify_sms = :notify_sms WHERE id = :id"
)


def name_or_phone_clash(tx: Tx, name: str, phone: str | None) -> Row | None:
    """A reviewer (name, phone) with this very name or phone, if any."""
    return tx.one(_CLASH, name=name, phone=phone)


def add(
    tx: Tx, name: str, phone: str | None, password_hash: str, role: str, created_at: str
) -> int:
    """Insert a reviewer; returns their id."""
    return tx.insert(
        _ADD,
        name=name,
        phone=phone,
        password_hash=password_hash,
        role=role,
        created_at=created_at,
    )


async def all_reviewers(db: Reads) -> list[Reviewer]:
    """Every reviewer, by name."""
    return [Reviewer.from_row(row) for row in await db.all(_ALL)]


async def by_name(db: Reads, name: str) -> Row | None:
    """A reviewer's whole row by their exact name, or None."""
    return await db.one(_BY_NAME, name=name)


async def by_id(db: Reads, reviewer_id: int) -> Reviewer | None:
    row = await db.one(_BY_ID, id=reviewer_id)
    return Reviewer.from_row(row) if row is not None else None


def get(tx: Tx, reviewer_id: int) -> Reviewer | None:
    """As `by_id`, inside a write transaction."""
    row = tx.one(_BY_ID, id=reviewer_id)
    return Reviewer.from_row(row) if row is not None else None


@dataclass(frozen=True)
class PhoneOwner:
    """The reviewer a phone is: who, and whether they texted STOP."""

    id: int
    sms_opted_out: bool


def by_phone(tx: Tx, phone: str) -> PhoneOwner | None:
    """The reviewer, active or disabled, whose phone (E.164) this is."""
    row = tx.one(_BY_PHONE, phone=phone)
    return None if row is None else PhoneOwner(int(row["id"]), bool(row["sms_opted_out"]))


async def read_id_by_phone(db: Reads, phone: str) -> int | None:
    """The id of the reviewer, active or disabled, whose phone (E.164) this is, outside a
    write transaction."""
    row = await db.one(_BY_PHONE, phone=phone)
    return None if row is None else int(row["id"])


# -- reviewers as draft texts reach them


def texted_reviewers(tx: Tx) -> list[TextedReviewer]:
    """The reviewers who take texts about drafts (quiet hours aside)."""
    return [TextedReviewer.from_row(row) for row in tx.all(_TEXTED)]


def all_texted(tx: Tx) -> list[TextedReviewer]:
    """Every reviewer, as texts reach them (by name)."""
    return [TextedReviewer.from_row(row) for row in tx.all(_ALL)]


def texted(tx: Tx, reviewer_id: int) -> TextedReviewer | None:
    """One reviewer, as texts reach them."""
    row = tx.one(_BY_ID, id=reviewer_id)
    return None if row is None else TextedReviewer.from_row(row)


async def with_held_texts(db: Reads) -> list[TextedReviewer]:
    """The reviewers who have texts held through their quiet hours."""
    return [TextedReviewer.from_row(row) for row in await db.all(_HELD_TEXTS)]


def set_sms_opt_out(tx: Tx, reviewer_id: int, opted_out: bool) -> None:
    """A reviewer's STOP (or START): their draft texts off (or back on)."""
    tx.run(_SMS_OPT_OUT, opted_out=int(opted_out), notify_sms=int(not opted_out), id=reviewer_id)


async def any_active_admin(db: Reads) -> bool:
    return await db.one(_ANY_ACTIVE_ADMIN) is not None


async def active_admins(db: Reads) -> int:
    row = await db.one(_ACTIVE_ADMINS)
    return int(row["n"]) if row is not None else 0


async def phone_owner(db: Reads, phone: str, other_than: int) -> str | None:
    """The name of the reviewer other than `other_than` who has this phone, if any."""
    row = await db.one(_PHONE_OWNER, phone=phone, id=other_than)
    return None if row is None else str(row["name"])


# one statement per column a reviewer's settings change, so no text is built from input
_SET: dict[str, Query] = {
    "active": sql("UPDATE reviewers SET active = :value WHERE id = :id"),
    "phone": sql("UPDATE reviewers SET phone = :value WHERE id = :id"),
    "notify_sms": sql("UPDATE reviewers SET notify_sms = :value WHERE id = :id"),
    "backup": sql("UPDATE reviewers SET backup = :value WHERE id = :id"),
    "password_hash": sql("UPDATE reviewers SET password_hash = :value WHERE id = :id"),
}
_SET_QUIET_HOURS = sql(
    """
    UPDATE reviewers SET quiet_start = :start, quiet_end = :end, time_zone = :zone
    WHERE id = :id
    """
)


def set_column(tx: Tx, reviewer_id: int, column: str, value: object) -> None:
    """Set one of a reviewer's settings (a key of `_SET`)."""
    tx.run(_SET[column], id=reviewer_id, value=value)


def set_quiet_hours(
    tx: Tx, reviewer_id: int, start: str | None, end: str | None, zone: str
) -> None:
    tx.run(_SET_QUIET_HOURS, id=reviewer_id, start=start, end=end, zone=zone)


# -- API tokens --------------------------------------------------------------------------------

_TOKEN_NAMED = sql("SELECT 1 FROM api_tokens WHERE name = :name")
_ADD_TOKEN = sql(
    """
    INSERT INTO api_tokens (name, token_hash, reviewer_id, created_at)
    VALUES (:name, :token_hash, :reviewer_id, :created_at)
    """
)
_TOKEN = sql("SELECT id, revoked_at FROM api_tokens WHERE name = :name")
_REVOKE_TOKEN = sql("UPDATE api_tokens SET revoked_at = :revoked_at WHERE id = :id")
_TOKEN_REVIEWER = sql(
    """
    SELECT reviewers.* FROM api_tokens JOIN reviewers ON reviewers.id = api_tokens.reviewer_id
    WHERE api_tokens.token_hash = :token_hash AND api_tokens.revoked_at IS NULL
      AND reviewers.active = 1
    """
)


def token_exists(tx: Tx, name: str) -> bool:
    return tx.one(_TOKEN_NAMED, name=name) is not None


def add_token(tx: Tx, name: str, token_hash: str, reviewer_id: int, created_at: str) -> None:
    tx.run(
        _ADD_TOKEN, name=name, token_hash=token_hash, reviewer_id=reviewer_id, created_at=created_at
    )


async def token_named(db: Reads, name: str) -> Row | None:
    """A token's id and revoked_at by its name, or None."""
    return await db.one(_TOKEN, name=name)


def revoke_token(tx: Tx, token_id: int, revoked_at: str) -> None:
    tx.run(_REVOKE_TOKEN, id=token_id, revoked_at=revoked_at)


async def token_reviewer(db: Reads, token_hash: str) -> Reviewer | None:
    """The active reviewer a live token (by its hash) acts as, or None."""
    row = await db.one(_TOKEN_REVIEWER, token_hash=token_hash)
    return Reviewer.from_row(row) if row is not None else None


# -- web sessions ------------------------------------------------------------------------------

_PRUNE_SESSIONS = sql(
    """
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE last_seen_at < :before ORDER BY last_seen_at LIMIT :batch
    )
    """
)
_ADD_SESSION = sql(
    """
    INSERT INTO sessions (id, reviewer_id, created_at, last_seen_at)
    VALUES (:id, :reviewer_id, :now, :now)
    """
)
_REVOKE_SESSION = sql(
    """
    UPDATE sessions SET revoked_at = :now, revoked_reason = :reason
    WHERE id = :id AND revoked_at IS NULL
    """
)
_REVOKE_SESSIONS = sql(
    """
    UPDATE sessions SET revoked_at = :now, revoked_reason = :reason
    WHERE reviewer_id = :reviewer_id AND revoked_at IS NULL
    """
)
_TOUCH_SESSION = sql(
    "UPDATE sessions SET last_seen_at = :now WHERE id = :id AND last_seen_at < :now"
)
_SESSION_REVIEWER = sql(
    """
    SELECT reviewers.*, sessions.last_seen_at AS session_last_seen
    FROM sessions JOIN reviewers ON reviewers.id = sessions.reviewer_id
    WHERE sessions.id = :id AND sessions.revoked_at IS NULL AND reviewers.active = 1
    """
)


def prune_sessions(tx: Tx, before: str, batch: int) -> None:
    """Delete up to `batch` sessions last seen before `before`, oldest first."""
    tx.run(_PRUNE_SESSIONS, before=before, batch=batch)


def add_session(tx: Tx, key: str, reviewer_id: int, now: str) -> None:
    tx.run(_ADD_SESSION, id=key, reviewer_id=reviewer_id, now=now)


def revoke_session(tx: Tx, key: str, reason: str, now: str) -> None:
    """Revoke one session by its key; one already revoked keeps its first reason."""
    tx.run(_REVOKE_SESSION, id=key, reason=reason, now=now)


def revoke_sessions(tx: Tx, reviewer_id: int, reason: str, now: str) -> None:
    """Revoke every live session of a reviewer."""
    tx.run(_REVOKE_SESSIONS, reviewer_id=reviewer_id, reason=reason, now=now)


def touch_session(tx: Tx, key: str, now: str) -> None:
    tx.run(_TOUCH_SESSION, id=key, now=now)


async def session_reviewer(db: Reads, key: str) -> Row | None:
    """The active reviewer's row of a session not revoked (with `session_last_seen`)."""
    return await db.one(_SESSION_REVIEWER, id=key)


# -- sign-in attempts --------------------------------------------------------------------------

_RECENT_ATTEMPTS: dict[str, Query] = {
    column: sql(
        f"""
        SELECT attempted_at FROM signin_attempts
        WHERE {column} = :value AND attempted_at >= :since
        ORDER BY attempted_at DESC LIMIT :limit
        """
    )
    for column in ("account", "address")
}
_PRUNE_ATTEMPTS = sql(
    """
    DELETE FROM signin_attempts WHERE id IN (
        SELECT id FROM signin_attempts WHERE attempted_at < :before
        ORDER BY attempted_at LIMIT :batch
    )
    """
)
_ADD_ATTEMPT = sql(
    """
    INSERT INTO signin_attempts (account, address, attempted_at)
    VALUES (:account, :address, :attempted_at)
    RETURNING id
    """
)
_FORGIVE = sql("DELETE FROM signin_attempts WHERE account = :account AND id <= :id")
# PostgreSQL: the account's, then the address's, advisory lock until the transaction ends
# (two-int keys in namespaces of their own); SQLite runs one write transaction at a time
_LOCK_ATTEMPTS = sql(
    "SELECT :account, :address",
    postgres=(
        "SELECT pg_advisory_xact_lock(1634758771, hashtext(:account)),"
        " pg_advisory_xact_lock(1634758772, hashtext(:address))"
    ),
)


def lock_attempts(tx: Tx, account: str, address: str) -> None:
    """Hold the attempts of this account and of this address for the caller's transaction.

    On PostgreSQL another reservation for either waits until this transaction ends and
    then counts what it added; without the lock concurrent writers each count the same
    attempts and all pass the limit.
    """
    tx.one(_LOCK_ATTEMPTS, account=account, address=address)


def recent_attempts(tx: Tx, column: str, value: str, since: str, limit: int) -> list[str]:
    """The newest `limit` attempt times since `since` of an account or an address
    (`column` is "account" or "address"), newest first."""
    rows = tx.all(_RECENT_ATTEMPTS[column], value=value, since=since, limit=limit)
    return [row["attempted_at"] for row in rows]


def prune_attempts(tx: Tx, before: str, batch: int) -> None:
    """Delete up to `batch` attempts made before `before`, oldest first."""
    tx.run(_PRUNE_ATTEMPTS, before=before, batch=batch)


def add_attempt(tx: Tx, account: str, address: str, attempted_at: str) -> int:
    """Record an attempt; returns its id."""
    return tx.insert(_ADD_ATTEMPT, account=account, address=address, attempted_at=attempted_at)


def forgive_attempts(tx: Tx, account: str, up_to: int) -> None:
    """Delete an account's attempts up to and including attempt `up_to`."""
    tx.run(_FORGIVE, account=account, id=up_to)
