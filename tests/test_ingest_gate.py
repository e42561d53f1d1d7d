"""INGEST_CONCURRENCY: how many of Twilio's webhooks are at work at once; the rest wait."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.config import SettingsError
from approval_bot.web.twilio_edge import few_at_once
from tests.twilio_client import PUBLIC, Twilio

pytestmark = pytest.mark.anyio


def test_the_default_is_four_and_a_value_is_read(make_settings):
    assert make_settings().ingest_concurrency == 4
    assert make_settings(INGEST_CONCURRENCY="16").ingest_concurrency == 16


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "many", "1025"])
def test_a_bad_value_is_refused_naming_the_variable(make_settings, value):
    with pytest.raises(SettingsError) as refused:
        make_settings(INGEST_CONCURRENCY=value)
    assert str(refused.value).startswith("INGEST_CONCURRENCY")


async def test_no_more_than_the_limit_run_at_once_and_every_one_is_answered():
    at_work, most, answered = 0, 0, []

    async def handler(request: Request) -> Response:
        nonlocal at_work, most
        at_work += 1
        most = max(most, at_work)
        await asyncio.sleep(0.02)  # a webhook's work, awaiting the writer
        at_work -= 1
        answered.append(request.path_params["n"])
        return Response(status_code=200)

    gated = few_at_once(handler)
    state = {"ingest": asyncio.Semaphore(2)}

    async def empty_body() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def request(n: int) -> Request:
        scope = {"type": "http", "headers": [], "state": state, "path_params": {"n": n}}
        return Request(scope, empty_body)

    answers = await asyncio.gather(*(gated(request(n)) for n in range(7)))
    assert [answer.status_code for answer in answers] == [200] * 7
    assert most == 2
    assert sorted(answered) == list(range(7))


def test_webhooks_are_served_through_the_gate(make_settings):
    """With one slot, texts and delivery callbacks from Twilio are still each stored."""
    settings = make_settings(PUBLIC_BASE_URL=PUBLIC, INGEST_CONCURRENCY="1")
    with TestClient(create_app(settings), base_url=PUBLIC) as client:
        twilio = Twilio(client, settings)
        for body in ("Are you open today?", "And tomorrow?"):
            assert twilio.text(body).status_code == 200
        stored = [m["body"] for m in twilio.messages() if m["type"] == "INBOUND"]
        assert stored == ["Are you open today?", "And tomorrow?"]
        assert not client.app_state["ingest"].locked()  # the one slot was given back
