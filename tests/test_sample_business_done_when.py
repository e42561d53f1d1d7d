"""Issue 16's "Done when", through the simulator: a newcomer loads the sample business and
texts four questions; four different, correct drafts, each naming its source, are approved
and reach the phones. Regenerate offers the other wording, or says there is none."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from approval_bot import profile as business
from approval_bot.models import Role
from tests.test_web_simulator import texts, wait_for

# the sample business's facts (approval_bot/samples/profile.json), written out
ZONE = ZoneInfo("America/Los_Angeles")
HOURS = {0: None, 1: "09:00 to 18:00", 2: "09:00 to 18:00", 3: "09:00 to 20:00"}
HOURS |= {4: "09:00 to 20:00", 5: "10:00 to 16:00", 6: None}
LINK = "https://book.example.com/sample-barbers"
QUESTIONS = {
    "+14155550101": "are you open saturday?",
    "+14155550102": "how much is a beard trim",
    "+14155550103": "where are you",
    "+14155550104": "can I book for tomorrow at 3",
}


@pytest.fixture
def ada(web):
    reviewer = web.reviewer("Ada", phone="+14155550111", role=Role.ADMIN)
    web.sign_in("Ada")
    return reviewer


def drafts(web):
    return web.rows(
        """
        SELECT d.id, d.body, d.draft_meta, i.sender, i.timestamp
        FROM messages d JOIN messages i ON i.id = d.in_reply_to_id
        WHERE d.type = 'DRAFT' AND d.status = 'DRAFT_PENDING_APPROVAL'
        """
    )


def test_the_sample_business_answers_four_questions_each_naming_its_source(web, ada):
    assert web.post("/business/sample", {"next": "/business"}).status_code == 303
    for number, text in QUESTIONS.items():
        assert web.post("/simulator/send", {"from": number, "body": text}).status_code == 303

    assert wait_for(lambda: len(drafts(web)) == 4), drafts(web)
    by_question = {QUESTIONS[row["sender"]]: row for row in drafts(web)}
    source = {q: json.loads(row["draft_meta"])["source"] for q, row in by_question.items()}
    body = {q: row["body"] for q, row in by_question.items()}

    assert len(set(body.values())) == 4
    assert source["are you open saturday?"] == "from opening hours"
    assert "10:00 to 16:00" in body["are you open saturday?"]
    assert source["how much is a beard trim"] == "from services and prices"
    assert "$15" in body["how much is a beard trim"]
    assert source["where are you"] == "from the address"
    assert "12 Market Street, San Francisco" in body["where are you"]
    booking = by_question["can I book for tomorrow at 3"]
    arrived = datetime.fromisoformat(booking["timestamp"]).astimezone(ZONE)
    tomorrow = HOURS[(arrived.date() + timedelta(days=1)).weekday()]
    assert source["can I book for tomorrow at 3"] == "from opening hours and the booking link"
    assert LINK in booking["body"]
    if tomorrow is None:
        assert "closed tomorrow" in booking["body"]
    else:  # every open day's hours include 15:00
        assert "15:00" in booking["body"] and tomorrow in booking["body"]

    queue = web.client.get("/").text
    for name in source.values():
        assert f'<span class="source">{name}</span>' in queue

    for row in by_question.values():
        assert web.post(f"/drafts/{row['id']}/approve").status_code == 303
    for number in QUESTIONS:
        got = wait_for(lambda n=number: len(texts(web, n)) == 2)
        assert got, texts(web, number)
        assert texts(web, number)[1] == ("in", by_question[QUESTIONS[number]]["body"])


def test_regenerate_gives_the_other_wording_then_the_first_again(web, ada):
    web.post("/business/sample")
    web.post("/simulator/send", {"from": "+14155550101", "body": "how much is a beard trim"})
    assert wait_for(lambda: len(drafts(web)) == 1)
    ((first_id, first, *_),) = drafts(web)

    assert web.post(f"/messages/{first_id}/regenerate").status_code == 303
    ((second_id, second, meta, *_),) = drafts(web)
    assert second != first and "$15" in second
    assert json.loads(meta)["source"] == "from services and prices"

    assert web.post(f"/messages/{second_id}/regenerate").status_code == 303
    ((_, third, *_),) = drafts(web)
    assert third == first  # two wordings exist: the third version is the first again


def test_regenerate_says_so_when_no_other_wording_exists(web, ada):
    web.post("/business/sample")
    # brief tone and an FAQ answer, with no name known: one wording only
    brief = business.validate(
        {**business.document(web.call(business.get, web.db)), "tone": "brief"}
    )
    web.call(business.put, web.db, brief, None)
    web.post("/simulator/send", {"from": "+14155550101", "body": "is there parking?"})
    assert wait_for(lambda: len(drafts(web)) == 1)
    ((draft_id, body, *_),) = drafts(web)

    response = web.post(f"/messages/{draft_id}/regenerate")

    assert response.status_code == 409
    assert "no other wording" in response.text
    assert [row["id"] for row in drafts(web)] == [draft_id]  # nothing changed


def test_the_customers_name_from_the_thread_reaches_the_draft(web, ada):
    web.post("/business/sample")
    number = "+14155550105"
    web.post("/simulator/send", {"from": number, "body": "Hi, this is Priya"})
    assert wait_for(lambda: len(drafts(web)) == 1)
    ((draft_id, *_),) = drafts(web)
    web.post(f"/drafts/{draft_id}/approve")
    assert wait_for(lambda: len(texts(web, number)) == 2)
    web.post("/simulator/send", {"from": number, "body": "how much is a haircut?"})

    assert wait_for(lambda: any("$30" in row["body"] for row in drafts(web)))
    ((_, body, *_),) = drafts(web)
    assert body.startswith("Hi Priya!")
    assert quote(number) in web.client.get("/").text
