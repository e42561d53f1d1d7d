"""The Settings page (admins only): the sending gate's compliance status and emergency stop."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import sending_gate
from ..accounts import Reviewer
from ..config import Settings
from ..scheduler import wake_sender
from ..store import Priority
from . import auth
from .common import render, text_field


@auth.page(admin=True)
async def settings_page(request: Request, reviewer: Reviewer) -> Response:
    gate = await sending_gate.fetch(request.state.db)
    return render(request, "settings.html", {"view": "settings", "gate": gate, "sending": gate})


@auth.action(admin=True)
async def sending_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    step = sending_gate.STEPS.get(str(form.get("step", "")))
    if step is None:
        raise HTTPException(400, f"step must be one of {', '.join(sending_gate.STEPS)}")
    reason = text_field(form, "reason", required=False, limit=sending_gate.MAX_REASON) or None
    settings: Settings = request.state.settings
    try:
        result = await request.state.db.write(
            lambda conn: sending_gate.change(
                conn,
                actor_id=reviewer.id,
                via=sending_gate.ChangedVia.WEB,
                stale_after=settings.gate_stale_after,
                reason=reason,
                **step,
            ),
            priority=Priority.DECISION,
        )
    except sending_gate.InvalidGateChange as error:
        raise HTTPException(400, str(error)) from None
    if result.released:
        wake_sender(request.state.scheduler)
    words = "Nothing changed." if not result.changed else "Saved."
    because = result.gate.closed_because
    words += f" Customer messages are held: {because}." if because else " Customer messages go out."
    if result.returned:
        words += f" {len(result.returned)} went back to review ({sending_gate.STALE_REASON})."
    if result.released:
        words += f" {result.released} approved now go out."
    auth.flash(request, words)
    return RedirectResponse("/settings", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/settings", settings_page, name="settings"),
        Route("/settings/sending", sending_action, methods=["POST"]),
    ]
