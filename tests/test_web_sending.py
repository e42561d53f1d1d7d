"""The Settings page and the queue's banner, and issue 14's "Done when" for the gate, end to end:
stop sending with a reason, approve a draft — it waits with the banner shown — start
again — it arrives at the fake Twilio through the real twilio client."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.models import Role
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio

from .twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio
from .webclient import Web


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def live(make_settings, fake) -> Iterator[tuple[Web, Twilio]]:
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
    )
    with TestClient(create_app(settings), base_url=PUBLIC) as client:
        yield Web(client), Twilio(client, settings)


def sending(web: Web, step: str, reason: str = "") -> str:
    response = web.post("/settings/sending", {"step": step, "reason": reason})
    assert response.status_code == 303, response.text
    return html.unescape(web.client.get("/settings").text)


def _status(web: Web, message_id: str) -> str:
    return str(web.rows("SELECT status FROM messages WHERE id = ?", message_id)[0][0])


def test_done_when_stop_approve_wait_with_the_banner_start_it_arrives(live, fake):
    web, twilio = live
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    # with credentials the first start left the registration pending: the admin approves it
    page = html.unescape(web.client.get("/").text)
    assert "Sending to customers is off: the messaging registration is pending" in page
    sending(web, "approve")

    settings_page = sending(web, "stop", "carrier complaint")
    assert "Customer messages are held: sending is stopped: carrier complaint." in settings_page
    twilio.text("Are you open today?")
    (draft,) = web.rows("SELECT id, body FROM messages WHERE type = 'DRAFT'")
    approved = web.post(f"/drafts/{draft['id']}/approve", {"next": "/"})
    assert approved.status_code == 303
    queue = html.unescape(web.client.get("/").text)
    assert "Approved; held by the sending gate until sending is back on" in queue
    assert 'id="sending-banner"' in queue
    assert "Sending to customers is off: sending is stopped: carrier complaint" in queue
    thread = html.unescape(web.client.get(f"/threads/{CUSTOMER}").text)
    assert "held by the sending gate" in thread
    twilio.run(twilio.client.app_state["sender"].run)
    assert [m for m in fake.accepted if m["to"] == CUSTOMER] == []

    after = sending(web, "start")
    assert "1 approved now go out" in after
    fake.wait_accepted(1)
    (sent,) = fake.accepted
    assert (sent["to"], sent["body"]) == (CUSTOMER, draft["body"])
    # accepted by Twilio; the sender records it a moment later
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _status(web, draft["id"]) != "SENT":
        time.sleep(0.05)
    assert _status(web, draft["id"]) == "SENT"
    assert 'id="sending-banner"' not in web.client.get("/").text


def test_the_settings_page_is_for_admins_only_and_linked_in_their_menu(web):
    web.reviewer("Ana")
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Ana")
    assert web.client.get("/settings").status_code == 403
    assert web.post("/settings/sending", {"step": "stop", "reason": "x"}).status_code == 403
    assert 'href="/settings"' not in web.client.get("/").text
    web.sign_in("Boss")
    assert 'href="/settings"' in web.client.get("/").text
    assert web.post("/settings/sending", {"step": "pause"}).status_code == 400
    refused = web.post("/settings/sending", {"step": "stop"})
    assert refused.status_code == 400 and "needs a reason" in refused.text
    gate = web.rows("SELECT status, stopped FROM sending_gate")[0]
    assert (gate["status"], gate["stopped"]) == ("approved", 0)  # sandbox: approved
