"""The sign-in and sign-out pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import setup
from ..models import Role
from ..signin_limits import SignInRefused
from . import auth
from .common import render, text_field


async def login_page(request: Request) -> Response:
    if await auth.current_reviewer(request) is not None:
        return RedirectResponse(auth.safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next": auth.safe_next(request.query_params.get("next"))})


async def login(request: Request) -> Response:
    form = await auth.check_csrf(request)
    name = text_field(form, "name", limit=200)
    password = form.get("password")
    next_field = form.get("next")
    target = auth.safe_next(next_field if isinstance(next_field, str) else None)
    if not isinstance(password, str) or not password:
        return render(request, "login.html", {"next": target, "error": "Enter your password."}, 400)
    try:
        reviewer = await auth.authenticate(
            request.state.db, name, password, auth.client_address(request)
        )
    except SignInRefused as refused:
        minutes = (refused.wait_seconds + 59) // 60
        response = render(
            request,
            "login.html",
            {
                "next": target,
                "error": f"Too many failed sign-ins. Try again in {minutes} min.",
            },
            429,
        )
        response.headers["Retry-After"] = str(refused.wait_seconds)
        return response
    if reviewer is None:
        return render(
            request, "login.html", {"next": target, "error": "Wrong name or password."}, 401
        )
    await auth.start_session(request, reviewer)
    if target == "/" and reviewer.role is Role.ADMIN and not await setup.finished(request.state.db):
        target = "/setup"  # the first-run checklist, until each step is done or skipped
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    await auth.check_csrf(request)
    await auth.end_session(request)
    return RedirectResponse("/login", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"], name="login"),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"], name="logout"),
    ]
