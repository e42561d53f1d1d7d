"""What every Twilio webhook shares: form checks, signature validation, TwiML answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator, get_signature_algorithm

from ..config import Settings
from ..metrics import Metrics
from ..sms_text import nul_pair
from ..twilio_params import BadParameters

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# the simulator's webhooks are signed with the sandbox token and carry this account
SANDBOX_ACCOUNT_SID = "AC" + "0" * 32

Params = ImmutableMultiDict[str, str]
ShapeCheck = Callable[[Mapping[str, str], str], None]


def twiml(document: str = EMPTY_TWIML) -> Response:
    return Response(document, media_type="text/xml")


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio called, as it saw it: PUBLIC_BASE_URL + path + query string.

    Behind a TLS-terminating proxy the app sees http://internal-host; Twilio signed
    https://public-host, so the signature is checked against the configured public address.
    """
    query = request.url.query
    return settings.public_base_url + request.url.path + (f"?{query}" if query else "")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def our_account_sid(settings: Settings) -> str:
    """The AccountSid Twilio's webhooks to this app carry (the simulator's in sandbox mode)."""
    return settings.twilio_account_sid or SANDBOX_ACCOUNT_SID


def few_at_once(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` run with at most INGEST_CONCURRENCY of Twilio's webhooks at work at once.

    Under a burst the rest wait their turn here, doing nothing, instead of sharing the
    event loop, the understanding threads and the writer's queue with every other one: a
    reviewer's approve is then served behind a few webhooks, not behind all of them. Each
    request's body (at most 64 KiB) is read before it takes its turn; `signed_params`
    uses it.
    """

    async def bounded(request: Request) -> Response:
        # the body first, outside the gate: a client that sends one slowly (or never
        # finishes it) holds no slot, so it cannot keep Twilio's webhooks waiting
        request.state.webhook_body = await _body(request)
        async with request.state.ingest:
            return await handler(request)

    return bounded


async def signed_params(request: Request, check: ShapeCheck) -> Params:
    """The parameters Twilio posted, once the content type, size, signature and shapes check out.

    415 for another content type, 413 over 64 KiB, 400 for a form that is not URL-encoded
    UTF-8, 403 (and a counter increased) when X-Twilio-Signature is missing or wrong, and
    400 when a parameter is not shaped as Twilio's are (`check`, one of twilio_params').
    """
    settings: Settings = request.state.settings
    metrics: Metrics = request.state.metrics
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise HTTPException(415, f"expected {FORM_TYPE}, as Twilio sends")
    body = getattr(request.state, "webhook_body", None)
    if body is None:
        body = await _body(request)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not URL-encoded UTF-8") from None
    params: Params = ImmutableMultiDict(pairs)
    signature = request.headers.get("x-twilio-signature", "")
    algorithm = get_signature_algorithm(
        request.headers.get("x-twilio-webhooks-signature-settings", "")
    )
    validator = RequestValidator(str(settings.twilio_auth_token))
    if not signature or not validator.validate(
        public_url(settings, request), params, signature, algorithm
    ):
        metrics.webhook_signature_failures.labels(endpoint=request.url.path).inc()
        log.warning("refused a webhook to %s: bad or missing signature", request.url.path)
        raise HTTPException(403, "X-Twilio-Signature is missing or does not match this request")
    field = nul_pair(pairs)
    if field is not None:
        raise HTTPException(400, f"{field} holds a NUL character, which Twilio never sends")
    try:
        check(params, our_account_sid(settings))
    except BadParameters as error:
        # a valid signature over a form Twilio never sent: parameters shifted to replay it
        log.warning("refused a signed webhook to %s: %s", request.url.path, error)
        raise HTTPException(400, str(error)) from None
    return params
