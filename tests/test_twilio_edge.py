"""The webhook edge: requests signed as Twilio signs them, checked by Twilio's validator."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from approval_bot.app import create_app
from approval_bot.config import SANDBOX_TOKEN_FILE, Settings
from approval_bot.metrics import Metrics
from approval_bot.twilio_params import check_message
from approval_bot.web.twilio_edge import (
    EMPTY_TWIML,
    MAX_BODY_BYTES,
    SANDBOX_ACCOUNT_SID,
    signed_params,
    twiml,
)

PUBLIC = "https://bot.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "AccountSid": SANDBOX_ACCOUNT_SID,
    "NumMedia": "0",
    "From": "+14155550100",
    "To": "+14155550199",
    "Body": "Hola 👋 שלום \u202e\u0007 done",
}


def build(settings: Settings, metrics: Metrics) -> Starlette:
    async def echo(request: Request) -> Response:
        params = await signed_params(request, check_message)
        return JSONResponse(dict(params))

    async def empty(request: Request) -> Response:
        await signed_params(request, check_message)
        return twiml()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        yield {"settings": settings, "metrics": metrics}

    # the app's own error handling, so refusals answer as the real webhooks do
    handlers = create_app(settings).exception_handlers
    return Starlette(
        routes=[Route("/hook", echo, methods=["POST"]), Route("/twiml", empty, methods=["POST"])],
        lifespan=lifespan,
        exception_handlers=handlers,
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC)


@pytest.fixture
def client(settings: Settings, metrics: Metrics):
    with TestClient(build(settings, metrics)) as client:
        yield client


def sign(settings: Settings, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(str(settings.twilio_auth_token)).compute_signature(url, params))


def failures(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "approval_bot_webhook_signature_failures_total", {"endpoint": "/hook"}
    )
    return value or 0.0


def test_a_signed_request_behind_a_tls_proxy_is_accepted_and_bodies_kept_exactly(client, settings):
    # the app is reached over http://testserver; Twilio signed the public https address
    signature = sign(settings, f"{PUBLIC}/hook?source=twilio", PARAMS)
    response = client.post(
        "/hook?source=twilio",
        content=urlencode(PARAMS),
        headers={**FORM, "X-Twilio-Signature": signature},
    )
    assert response.status_code == 200
    assert response.json() == PARAMS


def test_twiml_answers_are_empty_xml(client, settings):
    signature = sign(settings, f"{PUBLIC}/twiml", PARAMS)
    response = client.post(
        "/twiml", content=urlencode(PARAMS), headers={**FORM, "X-Twilio-Signature": signature}
    )
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")


@pytest.mark.parametrize(
    "signature_for",
    [
        pytest.param(lambda s: "", id="missing"),
        pytest.param(lambda s: "bm90IGEgc2lnbmF0dXJl", id="wrong"),
        pytest.param(lambda s: sign(s, f"{PUBLIC}/other", PARAMS), id="another-url"),
        pytest.param(lambda s: sign(s, "http://testserver/hook", PARAMS), id="internal-url"),
        pytest.param(lambda s: sign(s, f"{PUBLIC}/hook", {**PARAMS, "Body": "x"}), id="changed"),
        pytest.param(
            lambda s: RequestValidator("another-token").compute_signature(f"{PUBLIC}/hook", PARAMS),
            id="another-token",
        ),
    ],
)
def test_a_bad_signature_is_refused_and_counted(client, settings, metrics, signature_for):
    headers = {**FORM}
    if signature := signature_for(settings):
        headers["X-Twilio-Signature"] = signature
    response = client.post("/hook", content=urlencode(PARAMS), headers=headers)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.json()["error"]["message"]
    assert failures(metrics) == 1


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        ('{"Body": "hi"}', {"Content-Type": "application/json"}, 415),
        ("Body=hi", {"Content-Type": "text/plain"}, 415),
        ("Body=" + "x" * MAX_BODY_BYTES, FORM, 413),
        ("Body=%FF%FE", FORM, 400),
        ("Body=caf\u00e9", FORM, 400),
    ],
)
def test_bad_requests_are_refused_with_a_reason(client, metrics, content, headers, status):
    response = client.post("/hook", content=content.encode("utf-8"), headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["message"]
    assert failures(metrics) == 0


def test_an_oversized_body_without_a_length_is_cut_off(client):
    def chunks():
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    response = client.post("/hook", content=chunks(), headers=FORM)
    assert response.status_code == 413


def test_the_sandbox_signs_with_its_own_generated_token(settings):
    token_file = settings.database.parent / SANDBOX_TOKEN_FILE
    assert settings.sandbox
    assert token_file.read_text().strip() == str(settings.twilio_auth_token)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
