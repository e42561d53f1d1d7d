"""The thread page, the queue's card and the attention list: what texts mean, in words, and
the reviewer's Confirm opt-out, Not an opt-out and facts, through signed webhooks."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.config import Settings
from approval_bot.understanding_words import describe, when

from .twilio_client import CUSTOMER, PUBLIC, Twilio
from .webclient import Web

PAGE = f"/threads/{CUSTOMER}"
QUOTED = "/threads/%2B14155550100"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC)


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[Twilio, Web]]:
    # https, as PUBLIC_BASE_URL says: the session cookie is Secure
    with TestClient(create_app(settings), base_url=PUBLIC) as client:
        twilio, web = Twilio(client, settings), Web(client)
        web.reviewer("Ana")
        web.sign_in("Ana")
        yield twilio, web


def page(web: Web, path: str = PAGE) -> str:
    response = web.client.get(path)
    assert response.status_code == 200
    return html.unescape(response.text)


def test_the_thread_page_says_what_each_text_means(site):
    twilio, web = site
    twilio.text("not right now")
    twilio.text("maybe later")
    text = page(web)
    assert "sounds like a polite no — second time" in text
    assert "polite no ×2" in text
    assert "Customer · reply" in text


def test_the_card_says_what_the_latest_text_means(site):
    twilio, web = site
    twilio.text("9:30 Saturday works")
    found = twilio.rows("SELECT appointment_at FROM conversations")[0]["appointment_at"]
    moment = datetime.fromisoformat(found)
    expected = f"asks for 9:30 Sat {moment.day} {moment:%b}"
    assert expected in page(web, "/")
    assert "Appointment booked: " + expected.removeprefix("asks for ") in page(web)


def test_confirm_opt_out_from_the_thread_page(site):
    twilio, web = site
    twilio.text("please stop texting me")
    text = page(web)
    assert "asked to stop: please stop texting me" in text
    assert "may want to stop hearing from us" in text
    assert f'action="{QUOTED}/opt-out"' in text and f'action="{QUOTED}/not-opt-out"' in text

    response = web.post(f"{PAGE}/opt-out", {"next": PAGE})

    assert response.status_code == 303
    (row,) = twilio.rows(
        "SELECT opted_out, pause_kind FROM conversations JOIN thread_controls USING (thread_id)"
    )
    assert (row["opted_out"], row["pause_kind"]) == (1, "opt_out")
    assert "Confirm opt-out" not in page(web)
    assert web.post(f"{PAGE}/opt-out", {"next": PAGE}).status_code == 409


def test_not_an_opt_out_from_the_attention_list(site):
    twilio, web = site
    twilio.text("take me off your list")
    text = page(web, "/attention")
    assert "Confirm opt-out" in text and "Not an opt-out" in text

    response = web.post(f"{PAGE}/not-opt-out", {"next": "/attention"})
    twilio.settle()

    assert response.status_code == 303
    drafts = twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")
    assert [d["status"] for d in drafts] == ["DRAFT_PENDING_APPROVAL"]
    assert twilio.rows("SELECT paused FROM thread_controls")[0]["paused"] == 0


def test_facts_are_edited_on_the_thread_page(site):
    twilio, web = site
    twilio.text("Hello")
    assert web.post(f"{PAGE}/facts", {"key": "name", "value": "Ana"}).status_code == 303
    assert "<dt>name</dt><dd>Ana</dd>" in page(web)
    assert web.post(f"{PAGE}/facts", {"key": "name", "value": ""}).status_code == 303
    assert "<dt>name</dt>" not in page(web)
    before = twilio.rows("SELECT facts FROM conversations")[0]["facts"]
    assert web.post(f"{PAGE}/facts", {"key": "", "value": "x"}).status_code == 400
    assert web.post(f"{PAGE}/facts", {"key": "k" * 65, "value": "x"}).status_code == 400
    assert twilio.rows("SELECT facts FROM conversations")[0]["facts"] == before
    changes = twilio.rows("SELECT actor_id FROM audit_log WHERE event = 'Facts Changed'")
    assert len(changes) == 2 and all(row["actor_id"] is not None for row in changes)


@pytest.mark.parametrize(
    ("understanding", "counts", "words"),
    [
        ({"soft_no": True}, (1, 0), ["sounds like a polite no"]),
        ({"soft_no": True}, (2, 0), ["sounds like a polite no — second time"]),
        ({"confused": True}, (0, 3), ["seems confused — third time"]),
        ({"opt_out_request": True}, (0, 0), ["may want to stop hearing from us"]),
        ({"appointment_intent": "vague"}, (0, 0), ["would like an appointment, no time yet"]),
        (
            {"appointment_intent": "specific", "appointment_at": "2026-12-06T09:30:00+00:00"},
            (0, 0),
            ["asks for 9:30 Sun 6 Dec"],
        ),
        (None, (0, 0), []),
    ],
)
def test_the_words_for_an_understanding(understanding, counts, words):
    assert describe(understanding, *counts) == words


def test_an_appointment_time_in_words():
    moment = datetime(2026, 12, 5, 14, 5, tzinfo=UTC) + timedelta(0)
    assert when(moment.isoformat()) == "14:05 Sat 5 Dec"
