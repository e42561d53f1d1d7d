"""Templates (`/templates`): the texts the bot sends, their pre-approval, and sending a
WhatsApp Content template on a thread whose 24-hour window has closed.

Every change goes through `approval_bot.message_templates` (one funnel, audited) and
`review.send_template`, the same functions the API and the command line use.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import message_templates, review
from ..accounts import Reviewer
from ..models import Role
from ..scheduler import wake_sender
from . import auth
from .common import render, text_field
from .pages import done, review_errors

MAX_SID = 40


@auth.page()
async def templates_page(request: Request, reviewer: Reviewer) -> Response:
    return render(
        request,
        "templates.html",
        {
            "view": "templates",
            "templates": await message_templates.list_all(request.state.db),
            "is_admin": reviewer.role is Role.ADMIN,
            "variables": message_templates.VARIABLES,
            "triggers": tuple(message_templates.TRIGGER_KEYS.values()),
        },
    )


@auth.action()
async def save_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    return await _save(request, reviewer, form, request.path_params["key"])


@auth.action()
async def add_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    return await _save(request, reviewer, form, text_field(form, "key", limit=40))


async def _save(request: Request, reviewer: Reviewer, form: FormData, key: str) -> Response:
    # the template rules check the length, so the message names the 1,600 limit
    body = text_field(form, "body", limit=64 * 1024)
    channel = text_field(form, "channel", required=False, limit=10) or "any"
    content_sid = text_field(form, "content_sid", required=False, limit=MAX_SID) or None
    # admins see the pre-approval box: an unticked box withdraws it
    pre_approved = ("pre_approved" in form) if reviewer.role is Role.ADMIN else None
    change = message_templates.Change(body, channel, content_sid, pre_approved=pre_approved)
    try:
        saved = await message_templates.save(
            request.state.db, key, change, reviewer.id, reviewer.role
        )
    except message_templates.InvalidTemplate as error:
        raise HTTPException(422, str(error)) from None
    state = "pre-approved" if saved.pre_approved else "not pre-approved"
    return done(request, form, f"Template {key} saved ({state}).", "/templates")


@auth.action()
async def send_template_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    key = text_field(form, "key", limit=40)
    values = {
        name.removeprefix("var_"): text_field(form, name, required=False)
        for name in form
        if name.startswith("var_")
    }
    with review_errors():
        try:
            await review.send_template(request.state.db, thread_id, key, values, reviewer.id)
        except message_templates.UnknownTemplate as error:
            raise HTTPException(404, str(error)) from None
        except (message_templates.InvalidTemplate, review.NotAContentTemplate) as error:
            raise HTTPException(422, str(error)) from None
    wake_sender(request.state.scheduler)
    return done(request, form, f"WhatsApp template {key} sent to {thread_id}.")


def routes() -> list[BaseRoute]:
    return [
        Route("/templates", templates_page, name="templates"),
        Route("/templates", add_action, methods=["POST"]),
        Route("/templates/{key}", save_action, methods=["POST"]),
        Route("/threads/{thread_id}/template", send_template_action, methods=["POST"]),
    ]
