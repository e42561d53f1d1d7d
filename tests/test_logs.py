"""Structured logs: a line per request and per committed audited change."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from pythonjsonlogger.json import JsonFormatter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from approval_bot import logs, workflow
from approval_bot.gateways import OutgoingSms, TwilioGateway
from approval_bot.logs import TextFormatter
from approval_bot.models import Event, MessageStatus
from approval_bot.store import Tx
from tests import fake_twilio
from tests.builders import BUSINESS, make_inbound

pytestmark = pytest.mark.anyio


def record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": "approval_bot.audit",
            "levelno": 20,
            "levelname": "INFO",
            "msg": "Approved",
            **extra,
        }
    )


def test_text_lines_carry_the_extras_as_key_value():
    line = TextFormatter().format(record(thread_id="+14155550100", message_id="m1"))
    assert line.endswith("INFO approval_bot.audit Approved thread_id=+14155550100 message_id=m1")


async def test_committed_changes_are_logged_with_their_ids(db, caplog):
    inbound = await make_inbound(db, "+14155550100")
    caplog.set_level(logging.INFO, logger="approval_bot.audit")

    def change(conn: Tx) -> Any:
        workflow.change_status(
            conn,
            inbound,
            expected=MessageStatus.RECEIVED,
            target=MessageStatus.NEEDS_REVIEW,
            event=Event.DRAFT_FAILED,
        )

    await db.write(change)
    (line,) = [r for r in caplog.records if r.name == "approval_bot.audit"]
    assert line.getMessage() == Event.DRAFT_FAILED
    assert (line.thread_id, line.message_id) == ("+14155550100", inbound)
    assert (line.__dict__["from"], line.__dict__["to"]) == ("RECEIVED", "NEEDS_REVIEW")
    formatted = json.loads(JsonFormatter().format(line))
    assert formatted["message_id"] == inbound


async def test_a_rolled_back_change_is_never_logged(db, caplog):
    inbound = await make_inbound(db, "+14155550100")
    caplog.set_level(logging.INFO, logger="approval_bot.audit")
    with pytest.raises(RuntimeError):

        def change(conn: Tx) -> Any:
            workflow.change_status(
                conn,
                inbound,
                expected=MessageStatus.RECEIVED,
                target=MessageStatus.NEEDS_REVIEW,
                event=Event.DRAFT_FAILED,
            )
            raise RuntimeError("crash before commit")

        await db.write(change)
    assert not [r for r in caplog.records if r.name == "approval_bot.audit"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_uvicorns_colour_copy_and_apschedulers_chatter_stay_out(log_format, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure(log_format)
        logging.getLogger("uvicorn.error").info(
            "Started", extra={"color_message": "\x1b[36mStarted\x1b[0m"}
        )
        logging.getLogger("apscheduler.executors.default").info("Running job x")
        logging.getLogger("httpx").info('HTTP Request: POST http://127.0.0.1/ "HTTP/1.1 200 OK"')
        logging.getLogger("httpx").warning("a warning still shows")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    assert "Started" in err and "color_message" not in err and "\x1b" not in err
    assert "Running job" not in err
    assert "HTTP Request" not in err and "a warning still shows" in err


async def test_the_requests_in_flight_are_counted_while_they_are_served():
    go = asyncio.Event()
    seen: list[int] = []

    async def slow(request: Any) -> PlainTextResponse:
        seen.append(logs.requests_in_flight())
        await go.wait()
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", slow)], middleware=[Middleware(logs.RequestLog)])
    before = logs.requests_in_flight()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        calls = [asyncio.create_task(client.get("/")) for _ in range(3)]
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        assert logs.requests_in_flight() == before + 3
        go.set()
        answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert logs.requests_in_flight() == before


async def test_a_send_through_the_twilio_library_adds_no_lines_of_its_own(make_settings, capsys):
    """twilio's HTTP client logs each request's URL and headers at INFO (twilio/http): an
    operator reading the app's log should see the sender's line, not a dozen per text."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    for fake in fake_twilio.running():
        settings = make_settings(
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_FROM_NUMBER=BUSINESS,
            TWILIO_API_BASE_URL=fake.url,
        )
        gateway = TwilioGateway(settings)
        try:
            logs.configure("text")
            result = await gateway.send(OutgoingSms(to="+14155550100", body="See you at 3."))
            logging.getLogger("twilio.http_client").warning("a warning still shows")
            err = capsys.readouterr().err
        finally:
            await gateway.aclose()
            root.handlers[:], level = saved
            root.setLevel(level)
            logging.getLogger("twilio.http_client").setLevel(logging.NOTSET)
        assert result.sid is not None and fake.accepted_to("+14155550100")
        assert "Twilio API Request" not in err and "Headers" not in err
        assert "a warning still shows" in err
