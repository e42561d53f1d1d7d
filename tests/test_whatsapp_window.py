"""WhatsApp's 24-hour window: its boundaries, free-form replies refused after it closed by
every door, Content templates offered and sent through the real twilio client, and Twilio's
63016 sending the reply back to review."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from approval_bot import (
    accounts,
    draft_notices,
    message_templates,
    review,
    reviewer_sms,
    whatsapp_window,
    workflow,
)
from approval_bot.gateways import TwilioGateway
from approval_bot.metrics import Metrics
from approval_bot.models import Channel, DecisionChannel, Event, MessageType, Role
from approval_bot.sending import Sender
from approval_bot.store import Tx
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio

from .builders import BUSINESS, _store_draft, approve_sending, make_reviewer, status_of

NUMBER = "+14155550177"
SID = "HX" + "0123456789abcdef" * 2
OFFER_BODY = "Hi {customer_name}, {business_name} has news about your booking."
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "is_open"),
    [
        (timedelta(0), True),
        (timedelta(hours=1), True),
        (timedelta(hours=24) - timedelta(microseconds=1), True),  # just before
        (timedelta(hours=24), False),  # exactly 24 h: closed
        (timedelta(hours=24, microseconds=1), False),  # just after
        (timedelta(hours=25), False),
    ],
)
def test_the_window_is_open_for_24_hours_after_the_customers_last_message(after, is_open):
    assert whatsapp_window.is_open(T0.isoformat(), T0 + after) is is_open
    assert whatsapp_window.closes_at(T0.isoformat()) == T0 + timedelta(hours=24)


def test_a_customer_who_never_wrote_has_no_open_window():
    assert not whatsapp_window.is_open(None, T0)
    assert whatsapp_window.closes_at(None) is None


def _whatsapp_inbound(ago: timedelta, conn: Tx) -> str:
    """A WhatsApp customer's message sent `ago` before now (the thread opens if new)."""
    known = conn.execute("SELECT 1 FROM conversations WHERE thread_id = ?", (NUMBER,)).fetchone()
    if known is None:
        workflow.open_conversation(conn, NUMBER, Channel.WHATSAPP)
    inbound = workflow.create_message(
        conn,
        type=MessageType.INBOUND,
        event=Event.STORED,
        thread_id=NUMBER,
        sender=f"whatsapp:{NUMBER}",
        receiver=f"whatsapp:{BUSINESS}",
        body="hola",
        channel=Channel.WHATSAPP,
    )
    # the customer wrote `ago` ago: only the clock of the test moves it back
    at = (datetime.now(UTC) - ago).isoformat(timespec="microseconds")
    conn.execute("UPDATE messages SET timestamp = ? WHERE id = ?", (at, inbound))
    return inbound


async def _pending(db, ago: timedelta) -> str:
    """The customer's message and its pending draft in one write: a running app's recovery
    job would otherwise draft the message in between."""
    draft: str = await db.write(
        lambda conn: _store_draft(_whatsapp_inbound(ago, conn), "¡Hola! Sí, abrimos a las 9.", conn)
    )
    return draft


async def _add_offer(db) -> None:
    await message_templates.save(
        db,
        "booking_news",
        message_templates.Change(OFFER_BODY, channel="whatsapp", content_sid=SID),
        None,
        Role.REVIEWER,
    )


@pytest.fixture
async def gate_open(db) -> None:
    """The sending gate opened as an admin would (credentials mode starts it pending)."""
    await approve_sending(db)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ago", "allowed"),
    [
        (timedelta(hours=23, minutes=59), True),
        (timedelta(hours=24, minutes=1), False),
    ],
)
async def test_approving_a_free_form_reply_after_the_window_is_refused_and_changes_nothing(
    db, gate_open, ago, allowed
):
    ana = await make_reviewer(db)
    draft = await _pending(db, ago)
    before = await db.fetchone("SELECT count(*) AS n FROM audit_log")
    decision = review.Decision(ana.id, DecisionChannel.WEB)
    if allowed:
        await review.approve(db, draft, decision)
        assert await status_of(db, draft) == "APPROVED_TO_SEND"
        return
    with pytest.raises(review.WindowClosed) as refused:
        await review.approve(db, draft, decision)
    assert "WhatsApp window closed" in str(refused.value)
    assert "template" in str(refused.value)
    with pytest.raises(review.WindowClosed):
        await review.edit(db, draft, "¡Hola!", decision, approve=True)
    with pytest.raises(review.WindowClosed):
        await review.write_reply(db, NUMBER, "¡Hola!", ana.id, in_reply_to_id=None)
    assert await status_of(db, draft) == "DRAFT_PENDING_APPROVAL"
    after = await db.fetchone("SELECT count(*) AS n FROM audit_log")
    assert before is not None and after is not None and after["n"] == before["n"]
    approvals = await db.fetchone("SELECT count(*) AS n FROM approvals")
    assert approvals is not None and approvals["n"] == 0


# --- through the real twilio client ----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def settings(make_settings, fake):
    return make_settings(
        PUBLIC_BASE_URL="https://bot.example.com",
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
    )


@pytest.fixture
async def sender(db, settings) -> AsyncIterator[Sender]:
    gateway = TwilioGateway(settings)
    yield Sender(db, gateway, settings, metrics=Metrics(), rand=lambda: 0.5)
    await gateway.aclose()


@pytest.mark.anyio
async def test_a_chosen_template_goes_with_content_sid_and_content_variables(
    db, gate_open, sender, fake
):
    ana = await make_reviewer(db)
    await _pending(db, timedelta(hours=25))
    await _add_offer(db)
    variables = {"customer_name": "Ana", "business_name": "Cuts & Co"}

    reply = await review.send_template(db, NUMBER, "booking_news", variables, ana.id)
    await sender.run()

    assert await status_of(db, reply) == "SENT"
    (request,) = fake.creates()
    assert request.params["ContentSid"] == [SID]
    # Twilio's ContentVariables: a JSON string of {"1": …, "2": …}
    assert json.loads(request.params["ContentVariables"][0]) == {"1": "Ana", "2": "Cuts & Co"}
    assert "Body" not in request.params
    assert request.params["To"] == [f"whatsapp:{NUMBER}"]
    row = await db.fetchone("SELECT body, content_sid FROM messages WHERE id = ?", (reply,))
    assert row is not None
    assert (row["body"], row["content_sid"]) == (
        "Hi Ana, Cuts & Co has news about your booking.",
        SID,
    )
    # the pending free-form draft was replaced by the template
    superseded = await db.fetchone(
        "SELECT count(*) AS n FROM messages WHERE type = 'DRAFT' AND status = 'SUPERSEDED'"
    )
    assert superseded is not None and superseded["n"] == 1
    # the sender's funnel told subscribers, as for any reply (issue 17)
    sent = await db.fetchall("SELECT data FROM event_outbox WHERE type = 'message.sent'")
    assert [json.loads(r["data"])["message_id"] for r in sent] == [reply]
    assert json.loads(sent[0]["data"])["body"] == "Hi Ana, Cuts & Co has news about your booking."


@pytest.mark.anyio
async def test_a_template_sent_on_a_closed_thread_goes(db, gate_open, sender, fake):
    # the thread page offers the templates on a closed thread whose window has ended: the
    # reviewer's new message is theirs to send, not a reply the close left behind
    ana = await make_reviewer(db)
    await _pending(db, timedelta(hours=25))
    await _add_offer(db)
    await review.close(db, NUMBER, ana.id)

    variables = {"customer_name": "Ana", "business_name": "Cuts & Co"}
    reply = await review.send_template(db, NUMBER, "booking_news", variables, ana.id)
    await sender.run()

    assert await status_of(db, reply) == "SENT"
    assert [r.params["ContentSid"] for r in fake.creates()] == [[SID]]


@pytest.mark.anyio
async def test_a_template_needs_a_content_sid_and_only_its_own_variables(db):
    ana = await make_reviewer(db)
    await _pending(db, timedelta(hours=25))
    await _add_offer(db)
    with pytest.raises(review.NotAContentTemplate):
        await review.send_template(db, NUMBER, "greeting", {}, ana.id)
    with pytest.raises(message_templates.InvalidTemplate) as refused:
        await review.send_template(db, NUMBER, "booking_news", {"booking_link": "x"}, ana.id)
    assert "booking_link" in str(refused.value)
    with pytest.raises(message_templates.UnknownTemplate):
        await review.send_template(db, NUMBER, "nothing", {}, ana.id)


@pytest.mark.anyio
async def test_twilios_63016_sends_the_reply_back_to_review_with_the_reason(
    db, gate_open, sender, fake
):
    ana = await make_reviewer(db)
    draft = await _pending(db, timedelta(hours=1))
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
    fake.script(f"whatsapp:{NUMBER}", fake_twilio.WINDOW_CLOSED)

    await sender.run()

    row = await db.fetchone(
        "SELECT status, error_code, error_message FROM messages WHERE id = ?", (draft,)
    )
    assert row is not None
    assert (row["status"], row["error_code"]) == ("DRAFT_PENDING_APPROVAL", 63016)
    assert "outside the allowed window" in row["error_message"]  # Twilio's own words
    assert "WhatsApp templates" in row["error_message"]
    events = await db.fetchall(
        "SELECT event FROM audit_log WHERE message_id = ? ORDER BY id", (draft,)
    )
    assert events[-1]["event"] == "WhatsApp Window Closed"
    assert len(fake.creates()) == 1  # tried once, not retried
    closed = sender._metrics.registry.get_sample_value(
        "approval_bot_whatsapp_window_closed_total", {"source": "twilio"}
    )
    assert closed == 1.0


# --- the queue, the API: done when a thread quiet for 25 hours offers a template --------------


def test_done_when_a_thread_quiet_for_25_hours_offers_a_template_instead(web):
    ana = web.reviewer("Ana")
    draft = web.call(_pending, web.db, timedelta(hours=25))
    web.call(_add_offer, web.db)
    web.sign_in("Ana")

    queue = web.client.get("/").text
    assert "WhatsApp window closed" in queue
    assert f'action="/threads/{NUMBER.replace("+", "%2B")}/template"' in queue
    assert 'name="var_customer_name"' in queue and 'name="var_business_name"' in queue

    refused = web.post(f"/drafts/{draft}/approve", {"notes": ""})
    assert refused.status_code == 409 and "WhatsApp window closed" in refused.text
    assert web.rows("SELECT status FROM messages WHERE id = ?", draft)[0][0] == (
        "DRAFT_PENDING_APPROVAL"
    )

    sent = web.post(
        f"/threads/{NUMBER}/template",
        {"key": "booking_news", "var_customer_name": "Ana", "var_business_name": "Cuts"},
    )
    assert sent.status_code == 303
    (row,) = web.rows(
        "SELECT status, content_sid, content_variables FROM messages WHERE type = 'OUTBOUND'"
    )
    assert row["content_sid"] == SID
    assert json.loads(row["content_variables"]) == {"1": "Ana", "2": "Cuts"}
    assert ana is not None


def test_the_api_says_when_the_window_closes_and_refuses_approval_after(web):
    ana = web.reviewer("Ana")
    token = web.call(accounts.create_token, web.db, "ana", ana.name)
    headers = {"Authorization": f"Bearer {token}"}
    draft = web.call(_pending, web.db, timedelta(hours=25))
    web.call(_add_offer, web.db)

    (item,) = web.client.get("/api/v1/drafts", headers=headers).json()["items"]
    closes = datetime.fromisoformat(item["whatsapp_window_closes_at"])
    assert timedelta(minutes=-61) < closes - datetime.now(UTC) < timedelta(minutes=-59)

    refused = web.client.post(f"/api/v1/drafts/{draft}/approve", headers=headers)
    assert refused.status_code == 409
    assert "WhatsApp window closed" in refused.json()["error"]["message"]

    sent = web.client.post(
        f"/api/v1/threads/{NUMBER}/template",
        headers=headers,
        json={"key": "booking_news", "variables": {"customer_name": "Ana"}},
    )
    assert sent.status_code == 200
    # the answer reads the reply after the woken sender may already have sent it
    assert sent.json()["status"] in {"APPROVED_TO_SEND", "SENT"}
    unknown = web.client.post(
        f"/api/v1/threads/{NUMBER}/template", headers=headers, json={"key": "greeting"}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "key"


@pytest.mark.anyio
async def test_approving_by_text_after_the_window_is_refused_with_the_same_words(db):
    ana = await make_reviewer(db, phone="+14155550111")
    draft = await _pending(db, timedelta(hours=25))
    code = await db.write(lambda conn: draft_notices.issue_code(conn, draft))

    answer = await reviewer_sms.answer(db, ana, f"A {code}")

    assert answer.text is not None and answer.approved is False
    assert "WhatsApp window closed" in answer.text
    assert answer.text.endswith("templates instead.")
    assert await status_of(db, draft) == "DRAFT_PENDING_APPROVAL"


@pytest.mark.anyio
async def test_the_offer_and_the_template_fill_customer_name_from_the_thread(
    db, gate_open, sender, fake
):
    ana = await make_reviewer(db)
    await _pending(db, timedelta(hours=25))
    await _add_offer(db)
    await db.write(lambda conn: workflow.change_facts(conn, NUMBER, {"name": "Lucía"}, source="t"))

    offer = await whatsapp_window.offer(db, NUMBER, "whatsapp", datetime.now(UTC))
    assert offer is not None
    (template,) = offer.templates
    assert dict(template["fields"])["customer_name"] == "Lucía"

    # the reviewer fills only the business's name: the customer's comes from the thread
    reply = await review.send_template(
        db, NUMBER, "booking_news", {"business_name": "Cuts"}, ana.id
    )
    await sender.run()
    (request,) = fake.creates()
    assert json.loads(request.params["ContentVariables"][0]) == {"1": "Lucía", "2": "Cuts"}
    assert await status_of(db, reply) == "SENT"
