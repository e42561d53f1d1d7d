"""The sandbox phone simulator: signed texts through the real webhook, replies in a phone view."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.web import simulator
from tests.webclient import Web

CUSTOMER = "+14155550100"
ANA_PHONE = "+14155550111"


@pytest.fixture
def ana(web):
    reviewer = web.reviewer("Ana", phone=ANA_PHONE)
    web.sign_in("Ana")
    return reviewer


def wait_for(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result


def texts(web, number):
    response = web.client.get(f"/simulator/texts?number={quote(number)}")
    assert response.status_code == 200
    return [(t["direction"], t["body"]) for t in response.json()["texts"]]


def pending_draft(web):
    rows = web.rows(
        "SELECT id, body FROM messages WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
    )
    return rows[0] if rows else None


def test_a_customer_text_goes_through_the_webhook_and_the_approved_reply_comes_back(web, ana):
    response = web.post("/simulator/send", {"from": CUSTOMER, "body": "Are you open today?"})

    assert response.status_code == 303
    assert response.headers["location"] == "/simulator?number=%2B14155550100"
    (inbound,) = web.rows("SELECT * FROM messages WHERE type = 'INBOUND'")
    assert (inbound["sender"], inbound["body"]) == (CUSTOMER, "Are you open today?")
    draft = wait_for(lambda: pending_draft(web))
    assert draft is not None
    assert texts(web, CUSTOMER) == [("out", "Are you open today?")]

    assert web.post(f"/drafts/{draft['id']}/approve").status_code == 303

    arrived = wait_for(lambda: len(texts(web, CUSTOMER)) == 2)
    assert arrived, "the approved reply never reached the phone"
    assert texts(web, CUSTOMER) == [("out", "Are you open today?"), ("in", draft["body"])]
    page = web.client.get(f"/simulator?number={quote(CUSTOMER)}")
    assert draft["body"] in page.text and 'id="phone-texts"' in page.text


def test_a_reviewer_phone_texting_L_gets_the_open_codes(web, ana):
    web.post("/simulator/send", {"from": CUSTOMER, "body": "Do you deliver?"})
    assert wait_for(lambda: pending_draft(web))

    assert web.post("/simulator/send", {"from": ANA_PHONE, "body": "L"}).status_code == 303

    # the reviewer's text is a command: no customer message from that phone
    assert web.rows("SELECT 1 FROM messages WHERE sender = ?", ANA_PHONE) == []
    answered = wait_for(
        lambda: [t for t in texts(web, ANA_PHONE) if t[0] == "in" and "Do you deliver" in t[1]]
    )
    assert answered, texts(web, ANA_PHONE)
    assert ("out", "L") in texts(web, ANA_PHONE)


def test_the_webhook_checks_the_simulators_signature(web, ana, monkeypatch):
    monkeypatch.setattr(simulator, "sign", lambda settings, path, form: "forged")

    response = web.post("/simulator/send", {"from": CUSTOMER, "body": "hello"})

    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.text
    assert web.rows("SELECT * FROM messages") == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"from": "0412 345 678", "body": "hi"}, "E.164"),
        ({"from": "whatsapp:12", "body": "hi"}, "E.164"),
        ({"from": CUSTOMER, "body": "   "}, "body is required"),
        ({"from": CUSTOMER, "body": "x" * 1601}, "longer than 1600"),
        ({"body": "hi"}, "from is required"),
    ],
)
def test_bad_input_is_400_and_sends_nothing(web, ana, form, message):
    response = web.post("/simulator/send", form)

    assert response.status_code == 400
    assert message in response.text
    assert web.rows("SELECT * FROM messages") == []
    assert web.rows("SELECT * FROM audit_log WHERE event = 'Reviewer Text Received'") == []


def test_a_bad_phone_view_number_is_400(web, ana):
    assert web.client.get("/simulator?number=nonsense").status_code == 400
    assert web.client.get("/simulator/texts?number=").status_code == 400


def test_without_csrf_nothing_is_sent(web, ana):
    response = web.client.post(
        "/simulator/send", data={"from": CUSTOMER, "body": "hi"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert web.rows("SELECT * FROM messages") == []


def test_signed_out_visitors_are_sent_to_sign_in(web):
    page = web.client.get("/simulator", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/simulator")
    assert web.client.get("/simulator/texts?number=%2B14155550100").status_code == 401
    sent = web.client.post("/simulator/send", data={"from": CUSTOMER, "body": "hi"})
    assert sent.status_code == 401
    assert web.rows("SELECT * FROM messages") == []


def test_the_nav_links_the_simulator_in_sandbox_mode(web, ana):
    assert 'href="/simulator"' in web.client.get("/").text


@pytest.fixture
def live_web(make_settings) -> Iterator[Web]:
    settings = make_settings(
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_FROM_NUMBER="+15005550006",
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield Web(client)


def test_the_simulator_does_not_exist_outside_sandbox_mode(live_web):
    live_web.reviewer("Ana")
    live_web.sign_in("Ana")

    assert live_web.client.get("/simulator").status_code == 404
    assert live_web.client.get("/simulator/texts?number=%2B14155550100").status_code == 404
    assert live_web.post("/simulator/send", {"from": CUSTOMER, "body": "hi"}).status_code == 404
    assert live_web.rows("SELECT * FROM messages") == []
    assert 'href="/simulator"' not in live_web.client.get("/").text


def test_hostile_text_shows_as_text_in_the_phone_view(web, ana):
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script>\u202e'
    assert web.post("/simulator/send", {"from": CUSTOMER, "body": payload}).status_code == 303

    page = web.client.get(f"/simulator?number={quote(CUSTOMER)}").text
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert texts(web, CUSTOMER)[0] == ("out", payload.strip())


def test_the_phone_view_keeps_the_latest_texts(web, ana, monkeypatch):
    monkeypatch.setattr(simulator, "PHONE_VIEW_LIMIT", 2)
    for body in ("one", "two", "three"):
        web.post("/simulator/send", {"from": CUSTOMER, "body": body})
    assert texts(web, CUSTOMER) == [("out", "two"), ("out", "three")]
