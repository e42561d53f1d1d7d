"""The reviewers page (admins only): add, disable or enable, phone, notifications (and
whether they texted STOP), quiet hours, password."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import accounts
from ..accounts import Reviewer
from ..models import Role
from ..phones import InvalidPhone, parse_e164
from ..store.views import reviewers as reviewer_rows
from . import auth
from .common import path_id, render, text_field


def _phone(form: FormData) -> str | None:
    value = text_field(form, "phone", required=False, limit=20)
    if not value:
        return None
    try:
        return parse_e164(value)
    except InvalidPhone as error:
        raise HTTPException(400, f"phone {error}") from None


def _reviewer_id(request: Request) -> int:
    return path_id(request, "reviewer_id", "no such reviewer")


def _back(request: Request, message: str) -> Response:
    auth.flash(request, message)
    return RedirectResponse("/reviewers", status_code=303)


def _refused(error: accounts.AccountError) -> HTTPException:
    text = str(error)
    return HTTPException(404 if text.startswith("no reviewer") else 400, text)


async def _page(request: Request, revealed: str | None = None) -> Response:
    # beyond the account: whether they texted STOP, and their quiet hours
    people = await reviewer_rows.reviewers_page(request.state.db)
    return render(
        request, "reviewers.html", {"reviewers": people, "view": "reviewers", "revealed": revealed}
    )


def _reveal_password(request: Request, text: str) -> Awaitable[Response]:
    # shown in this response only: a flash would carry the password in the session cookie
    return _page(request, text)


@auth.page(admin=True)
async def reviewers_page(request: Request, reviewer: Reviewer) -> Response:
    return await _page(request)


@auth.action(admin=True)
async def add_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    name = text_field(form, "name", limit=100)
    phone = _phone(form)
    role_text = form.get("role", "reviewer")
    if role_text not in ("admin", "reviewer"):
        raise HTTPException(400, "role must be admin or reviewer")
    password = accounts.generate_password()
    try:
        added = await accounts.add_reviewer(
            request.state.db,
            name,
            phone=phone,
            password=password,
            role=Role(role_text),
            by=reviewer.id,
        )
    except accounts.AccountError as error:
        raise _refused(error) from None
    return await _reveal_password(
        request, f"Added {added.name}. Their password, shown once: {password}"
    )


@auth.action(admin=True)
async def active_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    active = form.get("active")
    if active not in ("0", "1"):
        raise HTTPException(400, "active must be 0 or 1")
    try:
        changed = await accounts.set_active(
            request.state.db, _reviewer_id(request), active == "1", by=reviewer.id
        )
    except accounts.AccountError as error:
        raise _refused(error) from None
    return _back(request, f"{changed.name} is {'active' if changed.active else 'disabled'}.")


@auth.action(admin=True)
async def phone_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    phone = _phone(form)
    try:
        changed = await accounts.set_phone(
            request.state.db, _reviewer_id(request), phone, by=reviewer.id
        )
    except accounts.AccountError as error:
        raise _refused(error) from None
    return _back(request, f"{changed.name}'s phone is {changed.phone or 'cleared'}.")


@auth.action(admin=True)
async def notify_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    notify = form.get("notify_sms")
    if notify not in ("0", "1"):
        raise HTTPException(400, "notify_sms must be 0 or 1")
    try:
        changed = await accounts.set_notify_sms(
            request.state.db, _reviewer_id(request), notify == "1", by=reviewer.id
        )
    except accounts.AccountError as error:
        raise _refused(error) from None
    state = "on" if changed.notify_sms else "off"
    return _back(request, f"SMS notifications for {changed.name} are {state}.")


@auth.action(admin=True)
async def backup_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    """Mark a reviewer as a backup for overdue replies, or not."""
    backup = form.get("backup")
    if backup not in ("0", "1"):
        raise HTTPException(400, "backup must be 0 or 1")
    try:
        changed = await accounts.set_backup(
            request.state.db, _reviewer_id(request), backup == "1", by=reviewer.id
        )
    except accounts.AccountError as error:
        raise _refused(error) from None
    state = "a backup" if changed.backup else "not a backup"
    return _back(request, f"{changed.name} is {state} for overdue replies.")


@auth.action(admin=True)
async def quiet_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    """Set a reviewer's quiet hours (start, end, time zone), or clear them."""
    target = _reviewer_id(request)
    name = await reviewer_rows.reviewer_name(request.state.db, target)
    if name is None:
        raise HTTPException(404, "no such reviewer")
    hours: tuple[str, str, str] | None = None
    if form.get("clear") != "1":
        hours = (
            text_field(form, "quiet_start", limit=5),
            text_field(form, "quiet_end", limit=5),
            text_field(form, "time_zone", required=False, limit=64) or "UTC",
        )
    try:
        changed = await accounts.set_quiet_hours(request.state.db, name, hours, by=reviewer.id)
    except accounts.AccountError as error:
        raise _refused(error) from None
    if hours is None:
        return _back(request, f"{changed.name} has no quiet hours.")
    start, end, zone = hours
    return _back(request, f"{changed.name}'s quiet hours are {start}–{end} ({zone}).")


@auth.action(admin=True)
async def password_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    target = _reviewer_id(request)
    try:
        password = await accounts.reset_password(request.state.db, target, by=reviewer.id)
    except accounts.AccountError as error:
        raise _refused(error) from None
    if target == reviewer.id:
        # their own session ended with the old password; keep them signed in
        await auth.start_session(request, reviewer)
    return await _reveal_password(request, f"New password, shown once: {password}")


def routes() -> list[BaseRoute]:
    return [
        Route("/reviewers", reviewers_page, name="reviewers"),
        Route("/reviewers/add", add_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/active", active_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/phone", phone_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/notify", notify_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/quiet", quiet_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/backup", backup_action, methods=["POST"]),
        Route("/reviewers/{reviewer_id}/password", password_action, methods=["POST"]),
    ]
