"""The Business page (`/business`, admins): the business profile as a form, and in sandbox
mode a button that loads the sample business.

The form's fields become the API's JSON shape and go through the same validation and the
same audited save (`approval_bot.profile`); a bad value re-renders the form with what was
typed and the message naming the field.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import profile as business
from .. import samples
from ..accounts import Reviewer
from . import auth
from .common import render, text_field

FIELDS = ("name", "phone", "address", "timezone", "booking_link", "sign_off", "tone")
LINES_LIMIT = 10_000


def _lines(form: FormData, name: str) -> list[str]:
    text = text_field(form, name, required=False, limit=LINES_LIMIT)
    return [line.strip() for line in text.splitlines() if line.strip()]


def exceptions_from(lines: list[str]) -> list[dict[str, Any]]:
    """'2026-12-25 closed' and '2026-12-24 09:00-13:00' lines as exception objects."""
    found = []
    for line in lines:
        day, _, hours = line.partition(" ")
        hours = hours.strip()
        found.append({"date": day, "hours": None if hours.lower() in ("", "closed") else hours})
    return found


def services_from(lines: list[str]) -> list[dict[str, Any]]:
    """'Haircut | 30 | 30' lines (name | price | minutes; the last two optional)."""
    found = []
    for line in lines:
        name, price, minutes = ([*(part.strip() for part in line.split("|")), "", ""])[:3]
        found.append(
            {
                "name": name,
                "price": re.sub(r"^[$€£]\s*", "", price) or None,
                "minutes": minutes or None,
            }
        )
    return found


def data_from(form: FormData) -> dict[str, Any]:
    """The form as the API's JSON shape (validation comes after)."""
    data: dict[str, Any] = {
        name: text_field(form, name, required=False, limit=500) or None for name in FIELDS
    }
    data["timezone"] = data["timezone"] or "UTC"
    data["tone"] = data["tone"] or "friendly"
    data["hours"] = {
        day: text_field(form, f"hours_{day}", required=False, limit=20) or None
        for day in business.WEEKDAYS
    }
    data["exceptions"] = exceptions_from(_lines(form, "exceptions"))
    data["services"] = services_from(_lines(form, "services"))
    return data


def _values(document: dict[str, Any] | None) -> dict[str, Any]:
    """What the form's inputs show for a stored profile."""
    if document is None:
        return {"timezone": "UTC", "tone": "friendly", "hours": {}}
    shown = dict(document)
    shown["exceptions_text"] = "\n".join(
        f"{e['date']} {e['hours'] or 'closed'}" for e in document["exceptions"]
    )
    shown["services_text"] = "\n".join(
        " | ".join(
            "" if value is None else str(value) for value in (s["name"], s["price"], s["minutes"])
        )
        for s in document["services"]
    )
    return shown


def _typed(form: FormData) -> dict[str, Any]:
    """What was typed, to show again beside the error."""
    typed: dict[str, Any] = {name: form.get(name) or "" for name in FIELDS}
    typed["hours"] = {day: form.get(f"hours_{day}") or "" for day in business.WEEKDAYS}
    typed["exceptions_text"] = form.get("exceptions") or ""
    typed["services_text"] = form.get("services") or ""
    return typed


def _page(
    request: Request, values: dict[str, Any], error: business.InvalidProfile | None = None
) -> Response:
    return render(
        request,
        "business.html",
        {
            "view": "business",
            "p": values,
            "weekdays": list(zip(business.WEEKDAYS, business.DAY_NAMES, strict=True)),
            "error": str(error) if error else None,
            "error_field": error.field.split(".")[0] if error else None,
        },
        status_code=422 if error else 200,
    )


@auth.page(admin=True)
async def business_page(request: Request, reviewer: Reviewer) -> Response:
    found = await business.get(request.state.db)
    return _page(request, _values(business.document(found) if found else None))


@auth.action(admin=True)
async def save_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    try:
        new = business.validate(data_from(form))
    except business.InvalidProfile as error:
        return _page(request, _typed(form), error)
    await business.put(request.state.db, new, reviewer.id)
    auth.flash(request, "The business profile is saved; new drafts answer from it.")
    return RedirectResponse("/business", status_code=303)


@auth.action(admin=True)
async def sample_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    if not request.state.settings.sandbox:
        raise HTTPException(404, "the sample business can be loaded only in sandbox mode")
    await samples.load(request.state.db, reviewer.id)
    auth.flash(
        request,
        "The sample business is loaded: its profile and FAQ entries. "
        "Try it in the simulator: text “are you open saturday?”.",
    )
    return RedirectResponse(auth.safe_next(str(form.get("next") or ""), "/business"), 303)


def routes() -> list[BaseRoute]:
    return [
        Route("/business", business_page, name="business"),
        Route("/business", save_action, methods=["POST"]),
        Route("/business/sample", sample_action, methods=["POST"]),
    ]
