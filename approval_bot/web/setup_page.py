"""The first-run setup checklist (`/setup`, admins): each step done or skipped, the Twilio
settings to paste and webhook URLs to copy, and a check that the credentials work.

An admin signing in lands here until every step is done or skipped.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import samples, setup, twilio_check
from ..accounts import Reviewer
from ..config import Settings
from ..gateways import STATUS_CALLBACK_PATH
from . import auth
from .common import render

SMS_WEBHOOK_PATH = "/webhooks/twilio/sms"
VOICE_WEBHOOK_PATH = "/webhooks/twilio/voice"


def _back(request: Request, message: str, kind: str = "ok") -> Response:
    auth.flash(request, message, kind)
    return RedirectResponse("/setup", status_code=303)


@auth.page(admin=True)
async def setup_page(request: Request, reviewer: Reviewer) -> Response:
    settings: Settings = request.state.settings
    steps = await setup.checklist(request.state.db)
    base = settings.public_base_url
    return render(
        request,
        "setup.html",
        {
            "view": "setup",
            "steps": steps,
            "finished": all(step.state != "open" for step in steps),
            "faq_examples": samples.sample_faq(),
            "sms_url": base + SMS_WEBHOOK_PATH,
            "voice_url": base + VOICE_WEBHOOK_PATH,
            "status_url": base + STATUS_CALLBACK_PATH,
            "sandbox": settings.sandbox,
        },
    )


@auth.action(admin=True)
async def mark_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    step, state = request.path_params["step"], request.path_params["state"]
    if state not in ("done", "skipped"):
        raise HTTPException(404, "a step is marked done or skipped")
    try:
        await setup.mark(
            request.state.db, step, "done" if state == "done" else "skipped", reviewer.id
        )
    except setup.UnknownStep as error:
        raise HTTPException(404, str(error)) from None
    return _back(request, f"“{setup.TITLES[step]}” is marked {state}.")


@auth.action(admin=True)
async def faq_examples_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    added = await samples.add_faq_examples(request.state.db, reviewer.id)
    return _back(request, f"{added} example FAQ entries added; change them on the Directives page.")


@auth.action(admin=True)
async def twilio_check_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    try:
        problem = await twilio_check.check(request.state.settings)
    except twilio_check.NoCredentials as error:
        return _back(request, f"Nothing to check: {error}.", "error")
    if problem:
        return _back(request, problem, "error")
    await setup.mark(request.state.db, "twilio", "done", reviewer.id)
    return _back(request, "Twilio accepted the Account SID and auth token.")


def routes() -> list[BaseRoute]:
    return [
        Route("/setup", setup_page, name="setup"),
        Route("/setup/faq/examples", faq_examples_action, methods=["POST"]),
        Route("/setup/twilio/check", twilio_check_action, methods=["POST"]),
        Route("/setup/{step}/{state}", mark_action, methods=["POST"]),
    ]
