"""The sandbox phone simulator (`/simulator`): text the bot as any phone, see what it sends back.

Only in sandbox mode (404 otherwise). A text typed here is not written anywhere by this
module: it is signed with the sandbox auth token exactly as Twilio signs a webhook and
handed to the app's own `/webhooks/twilio/sms` route, through every middleware, the
signature check and the inbound code a real text meets. What the bot "sends" is what the
sandbox gateway recorded in `sandbox_messages`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message
from twilio.request_validator import RequestValidator

from ..accounts import Reviewer
from ..config import Settings
from ..gateways import SANDBOX_FROM
from ..phones import WHATSAPP_PREFIX, parse_address
from ..store import Store
from ..store.views import simulator as phone_rows
from ..store.views.reviewers import reviewer_phones
from . import auth
from .common import render, text_field
from .twilio_edge import SANDBOX_ACCOUNT_SID

WEBHOOK_PATH = "/webhooks/twilio/sms"
PHONE_VIEW_LIMIT = 50


class WebhookRefused(Exception):
    """The app's own webhook answered something other than 200."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the webhook answered {status}: {detail}")
        self.status = status
        self.detail = detail


def twilio_form(sender: str, body: str, message_sid: str | None = None) -> dict[str, str]:
    """The form Twilio posts for an incoming text from `sender` to the sandbox number."""
    whatsapp = sender.startswith(WHATSAPP_PREFIX)
    return {
        "MessageSid": message_sid or "SM" + uuid.uuid4().hex,
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": sender,
        "To": (WHATSAPP_PREFIX if whatsapp else "") + SANDBOX_FROM,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def sign(settings: Settings, path: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature for `form` posted to PUBLIC_BASE_URL + `path`, as Twilio computes it."""
    validator = RequestValidator(str(settings.twilio_auth_token))
    return str(validator.compute_signature(settings.public_base_url + path, form))


async def post_to_webhook(request: Request, form: dict[str, str]) -> None:
    """Hand a signed form to the app's own SMS webhook, as one more ASGI request.

    The request runs the whole app (middleware, routing, the signature check, the
    inbound code and the work it does after answering) with the lifespan's state.
    Raises WebhookRefused for any answer but 200.
    """
    settings: Settings = request.state.settings
    body = urlencode(form).encode("ascii")
    headers = [
        (b"host", request.headers.get("host", "127.0.0.1").encode("latin-1")),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"x-twilio-signature", sign(settings, WEBHOOK_PATH, form).encode("ascii")),
        (b"user-agent", b"approval-bot simulator"),
    ]
    lifespan_state = {
        key: value for key, value in request.scope.get("state", {}).items() if key != "reviewer"
    }
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": request.url.scheme,
        "path": WEBHOOK_PATH,
        "raw_path": WEBHOOK_PATH.encode("ascii"),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": request.scope.get("server"),
        "state": lifespan_state,
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    answer = bytearray()

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await request.app(scope, receive, send)
    if status != 200:
        raise WebhookRefused(status, answer.decode("utf-8", "replace")[:300])


def _sandbox_only(request: Request) -> None:
    settings: Settings = request.state.settings
    if not settings.sandbox:
        raise HTTPException(404, "the phone simulator exists only in sandbox mode")


def _number(value: str) -> str:
    """A phone as Twilio addresses it (`+E164` or `whatsapp:+E164`); 400 otherwise."""
    try:
        parse_address(value)
    except ValueError as error:
        raise HTTPException(400, f"phone number {error}") from None
    return value


@dataclass(frozen=True)
class PhoneText:
    """One text in the phone view: `out` when the phone sent it, `in` when it received it."""

    direction: str
    body: str
    timestamp: str


async def phone_view(db: Store, number: str) -> list[PhoneText]:
    """The latest 50 texts `number` sent to the bot or received from it, oldest first."""
    received = await phone_rows.received_by(db, number, PHONE_VIEW_LIMIT)
    as_customer = await phone_rows.sent_as_customer(db, number, PHONE_VIEW_LIMIT)
    as_reviewer = await phone_rows.sent_as_reviewer(db, number, PHONE_VIEW_LIMIT)
    texts = [PhoneText("in", r["body"], r["timestamp"]) for r in received]
    texts += [PhoneText("out", r["body"] or "", r["timestamp"]) for r in as_customer]
    texts += [PhoneText("out", r["body"] or "", r["timestamp"]) for r in as_reviewer]
    # the latest 50 of the union are among the latest 50 of each source
    return sorted(texts, key=lambda t: t.timestamp)[-PHONE_VIEW_LIMIT:]


async def _reviewer_phones(db: Store) -> list[dict[str, Any]]:
    return await reviewer_phones(db)


@auth.page()
async def simulator_page(request: Request, reviewer: Reviewer) -> Response:
    _sandbox_only(request)
    raw = request.query_params.get("number", "").strip()
    number = _number(raw) if raw else None
    db: Store = request.state.db
    return render(
        request,
        "simulator.html",
        {
            "view": "simulator",
            "number": number,
            "texts": await phone_view(db, number) if number else [],
            "reviewer_phones": await _reviewer_phones(db),
            "business_number": SANDBOX_FROM,
        },
    )


@auth.fragment
async def phone_texts(request: Request, reviewer: Reviewer) -> Response:
    """The phone view as JSON, for the page to poll."""
    _sandbox_only(request)
    number = _number(request.query_params.get("number", "").strip())
    texts = await phone_view(request.state.db, number)
    return JSONResponse(
        {
            "number": number,
            "texts": [
                {"direction": t.direction, "body": t.body, "timestamp": t.timestamp} for t in texts
            ],
        }
    )


@auth.action()
async def send_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    _sandbox_only(request)
    sender = _number(text_field(form, "from", limit=40))
    body = text_field(form, "body")
    try:
        await post_to_webhook(request, twilio_form(sender, body))
    except WebhookRefused as error:
        raise HTTPException(
            error.status if 400 <= error.status < 500 else 502, str(error)
        ) from None
    if auth.CSRF_HEADER in request.headers:
        return JSONResponse({"ok": True, "number": sender})
    auth.flash(request, f"Texted the bot as {sender}.")
    return RedirectResponse(f"/simulator?number={quote(sender, safe='')}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/simulator", simulator_page, name="simulator"),
        Route("/simulator/texts", phone_texts, name="simulator_texts"),
        Route("/simulator/send", send_action, methods=["POST"]),
    ]
