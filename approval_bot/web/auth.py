"""Sign-in for reviewers: the session cookie, CSRF tokens, roles and failed sign-in limits.

Pages need a signed-in reviewer (else a redirect to /login?next=…), fragments and
scripted calls answer 401, every POST carries the session's CSRF token (else 403), and
admin-only pages answer 403 to other reviewers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial, wraps
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import accounts, audit, sessions, signin_limits
from ..config import Settings
from ..models import Actor, Role
from ..sms_text import nul_pair
from ..store import Priority, Store, Tx
from ..store.views.menu import menu_counts
from ..store.views.reviewers import reviewer_by_name

SESSION_COOKIE = "approval_bot_session"
SESSION_MAX_AGE = int(sessions.IDLE_LIMIT.total_seconds())
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

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


async def current_reviewer(request: Request) -> accounts.Reviewer | None:
    """The active reviewer whose live session this is, or None (and the session is cleared)."""
    session_id = request.session.get("sid")
    if not isinstance(session_id, str):
        return None
    db: Store = request.state.db
    now = datetime.now(UTC)
    row = await sessions.live_reviewer(db, session_id, now)
    if row is None:
        request.session.clear()
        return None
    if sessions.needs_touch(row, now):
        await db.write(
            partial(sessions.touch, session_id=session_id, now=now), priority=Priority.DECISION
        )
    return accounts.Reviewer.from_row(row)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and CSRF_HEADER not in request.headers


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def nul_in_address(request: Request) -> tuple[int, str] | None:
    """(status, message) when the request's path or query holds a NUL character, else None.

    A path's %00 names nothing stored (no text of ours holds one, and PostgreSQL's text
    columns refuse it, so asking for it fails there): 404, as for any unknown name. A query
    parameter with one is a malformed request: 400. The same on both backends.
    """
    name = nul_pair(request.path_params.items())
    if name is not None:
        return 404, f"nothing is named with a NUL character ({name})"
    name = nul_pair(request.query_params.multi_items())
    if name is not None:
        return 400, f"the query parameter {name} cannot contain a NUL character"
    return None


def _refuse_nul_in_address(request: Request) -> None:
    refused = nul_in_address(request)
    if refused is not None:
        raise HTTPException(*refused)


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
    field = nul_pair(form.multi_items())
    if field is not None:
        raise HTTPException(400, f"{field} cannot contain a NUL character")
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
            _refuse_nul_in_address(request)
            request.state.reviewer = reviewer
            request.state.menu_counts = await menu_counts(request.state.db)
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
        _refuse_nul_in_address(request)
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
            _refuse_nul_in_address(request)
            form = await check_csrf(request)
            request.state.reviewer = reviewer
            return await handler(request, reviewer, form)

        return endpoint

    return wrap


async def authenticate(
    db: Store, name: str, password: str, address: str
) -> accounts.Reviewer | None:
    """The active reviewer whose name and password these are, or None.

    The attempt is reserved before the password is checked and counts as failed unless
    it matched; raises SignInRefused when the account or the address has failed too
    often lately.
    """
    account = name.strip().lower()
    attempt_id = await db.write(
        partial(signin_limits.reserve, account=account, address=address, now=datetime.now(UTC)),
        # BULK: an unauthenticated request must not jump ahead of anyone's decisions
        priority=Priority.BULK,
    )
    row = await reviewer_by_name(db, name.strip())
    # argon2 is slow on purpose: on a worker thread, never on the event loop or in a transaction
    matches = await asyncio.to_thread(
        accounts.password_matches, row["password_hash"] if row else _DUMMY_HASH, password
    )
    if row is None or not matches or not row["active"]:
        return None

    def settle(conn: Tx) -> None:
        signin_limits.forgive(conn, account, attempt_id)
        audit.record(
            conn,
            audit.AuditEvent(
                "Signed In",
                actor=Actor.HUMAN,
                actor_id=row["id"],
                metadata={"channel": "web", "address": address},
            ),
        )

    await db.write(settle, priority=Priority.BULK)
    return accounts.Reviewer.from_row(row)


async def start_session(request: Request, reviewer: accounts.Reviewer) -> None:
    """Bind the browser to a new server-side session of `reviewer`, with a fresh CSRF token.

    The browser's previous session, if any, is revoked.
    """
    db: Store = request.state.db
    previous = request.session.get("sid")
    session_id = await db.write(
        partial(
            sessions.create,
            reviewer_id=reviewer.id,
            now=datetime.now(UTC),
            replacing=previous if isinstance(previous, str) else None,
        ),
        priority=Priority.DECISION,
    )
    request.session.clear()
    request.session["sid"] = session_id
    csrf_token(request)


async def end_session(request: Request) -> None:
    """Revoke this browser's session, so a copy of its cookie opens nothing, and clear it."""
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        await request.state.db.write(
            partial(
                sessions.revoke,
                session_id=session_id,
                reason=sessions.Revoked.LOGOUT,
                now=datetime.now(UTC),
            ),
            priority=Priority.DECISION,
        )
    request.session.clear()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def context(request: Request) -> dict[str, Any]:
    """What every template sees: the CSRF token, the reviewer, and pending flash messages."""
    return {
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "me": getattr(request.state, "reviewer", None),
        "menu_counts": getattr(request.state, "menu_counts", None),
        "flashes": take_flashes(request) if "session" in request.scope else [],
    }
