"""Sign-in for reviewers: the session cookie, CSRF tokens, roles and failed sign-in limits.

Pages need a signed-in reviewer (else a redirect to /login?next=…), fragments and
scripted calls answer 401, every POST carries the session's CSRF token (else 403), and
admin-only pages answer 403 to other reviewers.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import accounts, audit
from ..config import Settings
from ..db import Database, Priority
from ..models import Actor, Role, now_iso

SESSION_COOKIE = "approval_bot_session"
SESSION_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# failed sign-ins allowed within the window before further tries are refused
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
LIMIT_WINDOW = timedelta(minutes=15)

# verified when the name is unknown, so a wrong name costs what a wrong password does
_DUMMY_HASH = accounts.hash_password(secrets.token_urlsafe(16))


def session_middleware(settings: Settings) -> Middleware:
    """The signed cookie session: HttpOnly, SameSite=Lax, Secure behind https."""
    return Middleware(
        SessionMiddleware,
        secret_key=str(settings.secret_key),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
    )


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once, on the next page the reviewer sees."""
    request.session.setdefault("flash", []).append([kind, text])


def take_flashes(request: Request) -> list[list[str]]:
    return list(request.session.pop("flash", []))


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to after sign-in; anything else (another site) gives `default`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ch in value for ch in "\r\n\\"):
        return default
    return value


def _fingerprint(password_hash: str) -> str:
    # a password reset changes the hash, which signs out the reviewer's other sessions
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


async def current_reviewer(request: Request) -> accounts.Reviewer | None:
    """The active reviewer this session belongs to, or None (and the session is cleared)."""
    reviewer_id = request.session.get("reviewer_id")
    if not isinstance(reviewer_id, int):
        return None
    db: Database = request.state.db
    row = await db.fetchone("SELECT * FROM reviewers WHERE id = ?", (reviewer_id,))
    if (
        row is None
        or not row["active"]
        or request.session.get("pw") != _fingerprint(row["password_hash"])
    ):
        request.session.clear()
        return None
    return accounts.Reviewer.from_row(row)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and CSRF_HEADER not in request.headers


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def _check_role(reviewer: accounts.Reviewer, admin: bool) -> None:
    if admin and reviewer.role is not Role.ADMIN:
        raise HTTPException(403, "only an admin can do this")


async def check_csrf(request: Request) -> FormData:
    """The request's form, once its CSRF token (field or header) matches the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf")
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not secrets.compare_digest(sent, expected)
    ):
        raise HTTPException(403, "the form's security token is missing or stale; reload the page")
    return form


PageHandler = Callable[[Request, accounts.Reviewer], Awaitable[Response]]
ActionHandler = Callable[[Request, accounts.Reviewer, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def page(admin: bool = False) -> Callable[[PageHandler], Endpoint]:
    """A page: a signed-in reviewer or a redirect to the sign-in page."""

    def wrap(handler: PageHandler) -> Endpoint:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            reviewer = await current_reviewer(request)
            if reviewer is None:
                return _login_redirect(request)
            _check_role(reviewer, admin)
            request.state.reviewer = reviewer
            return await handler(request, reviewer)

        return endpoint

    return wrap


def fragment(handler: PageHandler) -> Endpoint:
    """A fragment or JSON answer fetched by script: 401 when nobody is signed in."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        reviewer = await current_reviewer(request)
        if reviewer is None:
            raise HTTPException(401, "sign in first")
        request.state.reviewer = reviewer
        return await handler(request, reviewer)

    return endpoint


def action(admin: bool = False) -> Callable[[ActionHandler], Endpoint]:
    """A POST that changes something: signed in, the right role, and a valid CSRF token."""

    def wrap(handler: ActionHandler) -> Endpoint:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            reviewer = await current_reviewer(request)
            if reviewer is None:
                if wants_html(request):
                    return RedirectResponse("/login", status_code=303)
                raise HTTPException(401, "sign in first")
            _check_role(reviewer, admin)
            form = await check_csrf(request)
            request.state.reviewer = reviewer
            return await handler(request, reviewer, form)

        return endpoint

    return wrap


def retry_after(
    newest_first: list[datetime], limit: int, window: timedelta, now: datetime
) -> int | None:
    """Seconds until another try is allowed, or None when one is allowed now.

    `newest_first` are the failure times within the window; tries are refused while
    `limit` of them are younger than `window`.
    """
    recent = [t for t in newest_first if now - t < window]
    if len(recent) < limit:
        return None
    frees_at = recent[limit - 1] + window
    return max(1, int((frees_at - now).total_seconds() + 0.999))


async def _failures(db: Database, column: str, value: str, since: str, limit: int) -> list[str]:
    assert column in ("account", "address")
    rows = await db.fetchall(
        f"""
        SELECT failed_at FROM signin_failures WHERE {column} = ? AND failed_at >= ?
        ORDER BY failed_at DESC LIMIT ?
        """,
        (value, since, limit),
    )
    return [row["failed_at"] for row in rows]


@dataclass(frozen=True)
class SignInRefused(Exception):
    wait_seconds: int


async def sign_in_wait(db: Database, account: str, address: str) -> int | None:
    """How long this account or address must wait before trying again, if at all."""
    now = datetime.now(UTC)
    since = (now - LIMIT_WINDOW).isoformat(timespec="microseconds")
    waits = []
    for column, value, limit in (
        ("account", account, ACCOUNT_LIMIT),
        ("address", address, ADDRESS_LIMIT),
    ):
        times = [
            datetime.fromisoformat(t) for t in await _failures(db, column, value, since, limit)
        ]
        wait = retry_after(times, limit, LIMIT_WINDOW, now)
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


async def authenticate(
    db: Database, name: str, password: str, address: str
) -> accounts.Reviewer | None:
    """The active reviewer whose name and password these are; a failure is counted.

    Raises SignInRefused when the account or the address has failed too often lately.
    """
    account = name.strip().lower()
    wait = await sign_in_wait(db, account, address)
    if wait is not None:
        raise SignInRefused(wait)
    row = await db.fetchone("SELECT * FROM reviewers WHERE name = ?", (name.strip(),))
    matches = accounts.password_matches(row["password_hash"] if row else _DUMMY_HASH, password)

    def settle(conn: sqlite3.Connection) -> bool:
        if row is None or not matches or not row["active"]:
            conn.execute(
                "INSERT INTO signin_failures (account, address, failed_at) VALUES (?, ?, ?)",
                (account, address, now_iso()),
            )
            cutoff = (datetime.now(UTC) - LIMIT_WINDOW).isoformat(timespec="microseconds")
            conn.execute("DELETE FROM signin_failures WHERE failed_at < ?", (cutoff,))
            return False
        conn.execute("DELETE FROM signin_failures WHERE account = ?", (account,))
        audit.record(
            conn,
            audit.AuditEvent(
                "Signed In",
                actor=Actor.HUMAN,
                actor_id=row["id"],
                metadata={"channel": "web", "address": address},
            ),
        )
        return True

    # BULK: an unauthenticated request must not jump ahead of anyone's writes
    if not await db.write(settle, priority=Priority.BULK) or row is None:
        return None
    return accounts.Reviewer.from_row(row)


async def start_session(request: Request, reviewer: accounts.Reviewer) -> None:
    """Bind the session to `reviewer`, with a fresh CSRF token."""
    db: Database = request.state.db
    row = await db.fetchone("SELECT password_hash FROM reviewers WHERE id = ?", (reviewer.id,))
    assert row is not None
    request.session.clear()
    request.session["reviewer_id"] = reviewer.id
    request.session["pw"] = _fingerprint(row["password_hash"])
    csrf_token(request)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def context(request: Request) -> dict[str, Any]:
    """What every template sees: the CSRF token, the reviewer, and pending flash messages."""
    return {
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "me": getattr(request.state, "reviewer", None),
        "flashes": take_flashes(request) if "session" in request.scope else [],
    }
