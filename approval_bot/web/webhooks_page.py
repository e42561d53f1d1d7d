"""The Webhooks page (admins only): subscriptions, each one's recent deliveries, resend."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import events, webhooks
from ..accounts import Reviewer
from ..store import webhook_events as outbox
from . import auth
from .common import path_id, render, text_field

RECENT = 20  # deliveries shown per subscription


def _id(request: Request, name: str) -> int:
    return path_id(request, name, f"no such {name.removesuffix('_id')}")


async def _page(request: Request, revealed: str | None = None) -> Response:
    db = request.state.db
    subscriptions = []
    for item in await webhooks.list_all(db):
        recent = await outbox.recent_deliveries(db, item.id, RECENT)
        failed = await outbox.failed_count(db, item.id)
        subscriptions.append({"sub": item, "recent": recent, "failed": failed})
    return render(
        request,
        "webhooks.html",
        {
            "subscriptions": subscriptions,
            "types": events.types(),
            "view": "webhooks",
            "revealed": revealed,
        },
    )


def _back(request: Request, message: str) -> Response:
    auth.flash(request, message)
    return RedirectResponse("/webhooks", status_code=303)


@auth.page(admin=True)
async def webhooks_page(request: Request, reviewer: Reviewer) -> Response:
    return await _page(request)


@auth.action(admin=True)
async def add_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    url = text_field(form, "url", limit=webhooks.MAX_URL)
    wanted = [str(value) for value in form.getlist("events")] or [events.WILDCARD]
    settings = request.state.settings
    try:
        added, secret = await webhooks.add(
            request.state.db,
            url,
            wanted,
            by=reviewer.id,
            check_address=settings.production and not settings.webhook_allow_private,
        )
    except webhooks.BadSubscription as error:
        raise HTTPException(400, str(error)) from None
    # shown in this response only: a flash would carry the secret in the session cookie
    return await _page(request, f"Added {added.url}. Its signing secret, shown once: {secret}")


@auth.action(admin=True)
async def disable_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    try:
        item = await webhooks.disable(request.state.db, _id(request, "webhook_id"), by=reviewer.id)
    except webhooks.UnknownSubscription as error:
        raise HTTPException(404, str(error)) from None
    return _back(request, f"{item.url} is disabled.")


@auth.action(admin=True)
async def rotate_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    subscription_id = _id(request, "webhook_id")
    try:
        secret = await webhooks.rotate_secret(request.state.db, subscription_id, by=reviewer.id)
    except webhooks.UnknownSubscription as error:
        raise HTTPException(404, str(error)) from None
    return await _page(
        request,
        f"New signing secret, shown once: {secret}. The old one also signs for 24 hours.",
    )


@auth.action(admin=True)
async def remove_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    try:
        await webhooks.remove(request.state.db, _id(request, "webhook_id"), by=reviewer.id)
    except webhooks.UnknownSubscription as error:
        raise HTTPException(404, str(error)) from None
    return _back(request, "The subscription and its deliveries are removed.")


@auth.action(admin=True)
async def resend_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    try:
        await webhooks.resend(request.state.db, _id(request, "delivery_id"), by=reviewer.id)
    except webhooks.UnknownSubscription as error:
        raise HTTPException(404, str(error)) from None
    except webhooks.BadSubscription as error:
        raise HTTPException(409, str(error)) from None
    return _back(request, "The event is being delivered again.")


def routes() -> list[BaseRoute]:
    return [
        Route("/webhooks", webhooks_page, name="webhooks"),
        Route("/webhooks/add", add_action, methods=["POST"]),
        Route("/webhooks/{webhook_id}/disable", disable_action, methods=["POST"]),
        Route("/webhooks/{webhook_id}/rotate", rotate_action, methods=["POST"]),
        Route("/webhooks/{webhook_id}/remove", remove_action, methods=["POST"]),
        Route("/webhooks/deliveries/{delivery_id}/resend", resend_action, methods=["POST"]),
    ]
