"""Directives (`/directives`): the global directive and the FAQ entries the drafters use,
and a thread's own directive (set from its thread page).

Every change goes through `approval_bot.directives`, one "Updated Directive" audit row each.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import directives
from ..accounts import Reviewer
from ..store import Store
from ..store import guidance as guidance_rows
from . import auth
from .common import path_id, render, text_field
from .pages import done

KEYWORDS_LIMIT = 500


async def directive_of(db: Store, scope: str) -> dict[str, Any] | None:
    """The directive of `scope` with who set it and when, or None. This is a read-only operation."""
    row = await guidance_rows.directive_shown(db, scope)
    return dict(row) if row is not None else None


def _may_change(reviewer: Reviewer, scope: str) -> None:
    if not directives.may_change(reviewer.role, scope):
        raise HTTPException(403, directives.ADMINS_ONLY)


def _refused(error: directives.InvalidGuidance) -> HTTPException:
    return HTTPException(404 if str(error).startswith("there is no") else 400, str(error))


@auth.page()
async def directives_page(request: Request, reviewer: Reviewer) -> Response:
    db: Store = request.state.db
    faq = [
        {"id": id_, "scope": scope, "keywords": ", ".join(keywords), "answer": answer}
        for id_, scope, keywords, answer in await directives.list_faq(db)
    ]
    return render(
        request,
        "directives.html",
        {
            "view": "directives",
            "is_admin": directives.may_change(reviewer.role, directives.GLOBAL),
            "directive": await directive_of(db, directives.GLOBAL),
            "faq": faq,
        },
    )


@auth.action()
async def global_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    _may_change(reviewer, directives.GLOBAL)
    body = text_field(form, "body", required=False, limit=directives.DIRECTIVE_LIMIT)
    await directives.set_directive(request.state.db, directives.GLOBAL, body, reviewer.id)
    return done(
        request,
        form,
        "Global directive saved." if body else "Global directive cleared.",
        "/directives",
    )


@auth.action()
async def thread_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    body = text_field(form, "body", required=False, limit=directives.DIRECTIVE_LIMIT)
    try:
        directives.check_scope(thread_id)
    except directives.InvalidGuidance as error:
        raise HTTPException(400, str(error)) from None
    if thread_id == directives.GLOBAL:
        raise HTTPException(400, "use the global directive form for the global directive")
    db: Store = request.state.db
    if not await guidance_rows.conversation_exists(db, thread_id):
        raise HTTPException(404, f"no conversation with {thread_id}")
    await directives.set_directive(db, thread_id, body, reviewer.id)
    return done(
        request,
        form,
        "This thread's directive is saved." if body else "This thread's directive is cleared.",
        "/threads/" + quote(thread_id, safe=""),
    )


@auth.action()
async def add_faq_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    keywords = directives.split_keywords(text_field(form, "keywords", limit=KEYWORDS_LIMIT))
    answer = text_field(form, "answer", limit=directives.ANSWER_LIMIT)
    scope = text_field(form, "scope", required=False, limit=40) or directives.GLOBAL
    _may_change(reviewer, scope)
    try:
        entry_id = await directives.add_faq(
            request.state.db, keywords, answer, reviewer.id, scope=scope
        )
    except directives.InvalidGuidance as error:
        raise _refused(error) from None
    return done(request, form, f"FAQ entry {entry_id} added.", "/directives")


@auth.action()
async def remove_faq_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    entry_id = path_id(request, "faq_id", "no such FAQ entry")
    scope = await guidance_rows.faq_scope(request.state.db, entry_id)
    if scope is None:
        raise HTTPException(404, f"there is no FAQ entry {entry_id}")
    _may_change(reviewer, scope)
    try:
        await directives.remove_faq(request.state.db, entry_id, reviewer.id)
    except directives.InvalidGuidance as error:
        raise _refused(error) from None
    return done(request, form, f"FAQ entry {entry_id} removed.", "/directives")


def routes() -> list[BaseRoute]:
    return [
        Route("/directives", directives_page, name="directives"),
        Route("/directives/global", global_action, methods=["POST"]),
        Route("/directives/thread/{thread_id}", thread_action, methods=["POST"]),
        Route("/directives/faq", add_faq_action, methods=["POST"]),
        Route("/directives/faq/{faq_id}/remove", remove_faq_action, methods=["POST"]),
    ]
