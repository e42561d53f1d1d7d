"""What the web pages share: rendering, security headers, form fields, time for humans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import phrases, understanding_words
from ..numbers import whole_number
from ..paths import TEMPLATES_DIR
from ..sms_text import GSM_BASIC, GSM_EXTENDED
from . import auth, form_errors

# Scripts only from our own origin: customer text can never become a running script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# no page's form comes near it (a template's body, the largest field, is 64 Ki characters);
# the API and Twilio's webhooks refuse bodies over 64 KiB on their own
MAX_FORM_BYTES = 1024 * 1024


class BodyLimit:
    """A request body over MAX_FORM_BYTES is a 413, as soon as that is known.

    Starlette's form parser takes 1,000 fields of 1 MiB each (and files spooled to disk),
    so without this one unauthenticated POST /login could make the server read and decode
    a gigabyte. A declared Content-Length over the limit is refused at the first read; a
    body without one once its bytes pass it. GET and HEAD are let through: no page reads
    their body, and a streamed answer (the audit export) reads the request while it
    streams, to notice a disconnect, where a 413 could only break the answer going out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = next(
            (value for name, value in scope["headers"] if name == b"content-length"), b""
        )
        too_long = HTTPException(413, f"the request body is over {MAX_FORM_BYTES // 1024} KiB")
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
                raise too_long
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_FORM_BYTES:
                    raise too_long
            return message

        await self.app(scope, bounded_receive, send)


def waited(timestamp: str, now: datetime | None = None) -> str:
    """How long ago `timestamp` was, the way a person says it: "42 s", "5 min", "3 h", "2 d"."""
    then = datetime.fromisoformat(timestamp)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def short_time(timestamp: str | None) -> str:
    """An ISO timestamp shown to the second, in UTC."""
    return (timestamp or "")[:19].replace("T", " ")


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[auth.context])
    templates.env.filters["waited"] = waited
    templates.env.filters["short_time"] = short_time
    # the codec's alphabet, for the live segment count in the browser (static/segments.js)
    templates.env.globals["gsm_alphabet"] = {
        "basic": sorted(GSM_BASIC),
        "extended": sorted(GSM_EXTENDED),
    }
    phrases.install(templates.env)
    form_errors.install(templates.env)
    templates.env.filters["understood"] = understanding_words.describe
    templates.env.filters["appointment_time"] = understanding_words.when
    return templates


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


# the largest row id either backend stores (SQLite's INTEGER, PostgreSQL's BIGINT)
MAX_ROW_ID = 2**63 - 1


def row_id(raw: str) -> int | None:
    """`raw` as a row id, or None when it cannot be one (past 2**63 - 1 the database fails)."""
    return whole_number(raw, MAX_ROW_ID)


def path_id(request: Request, name: str, missing: str) -> int:
    """The path parameter `name` as a row id; 404 with `missing` when it cannot be one."""
    found = row_id(request.path_params[name])
    if found is None:
        raise HTTPException(404, missing)
    return found


def text_field(form: FormData, name: str, *, required: bool = True, limit: int = 1600) -> str:
    """A text field of a form, stripped; 400 when it is missing, not text, or too long.

    A line break is one LF, as the browser's text box and its segment meter count it: a
    form submits each as CRLF, which would cost every line of a reply one more character
    (and septet) than the reviewer was shown.
    """
    value = form.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise HTTPException(400, f"{name} must be text")
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not value:
        raise HTTPException(400, f"{name.replace('_', ' ')} is required")
    if len(value) > limit:
        raise HTTPException(400, f"{name.replace('_', ' ')} is longer than {limit} characters")
    return value
