"""Pre-approved automatic replies: HELP answered by the help template once per thread per
24 hours, audited under the pre-approval, never on a paused or opted-out thread; without a
pre-approval HELP goes to a human as before."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from approval_bot import auto_replies, message_templates, review
from approval_bot import profile as business
from approval_bot.message_templates import Trigger
from approval_bot.models import Channel, Role
from approval_bot.samples import sample_profile
from approval_bot.sending import Sender
from approval_bot.store import Tx
from approval_bot.store.views import lists as list_views

from .builders import BUSINESS, make_inbound, make_reviewer, status_of
from .twilio_client import CUSTOMER, PUBLIC, Twilio, running

HELP_TEXT = "Cuts & Co: reply STOP to stop texts. Call {business_phone} for help."


def _wait_for(
    twilio: Twilio, sql: str, *params: object, timeout: float = 15.0, **named: object
) -> list[Any]:
    """Rows once the query finds some (the sender job runs on the app's own loop)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = twilio.rows(sql, *params, **named)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _pre_approve_help(twilio: Twilio) -> int:
    admin = twilio.run(make_reviewer, twilio.db, "Root", role=Role.ADMIN)
    twilio.run(
        message_templates.save,
        twilio.db,
        "help",
        message_templates.Change(HELP_TEXT),
        admin.id,
        admin.role,
    )
    twilio.run(message_templates.pre_approve, twilio.db, "help", True, admin.id, admin.role)
    return int(admin.id)


def test_with_a_business_profile_help_gives_its_phone_number(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        twilio.run(business.put, twilio.db, sample_profile(), None)
        _pre_approve_help(twilio)
        twilio.text("HELP")
        sent = _wait_for(twilio, "SELECT body FROM sandbox_messages WHERE to_address = ?", CUSTOMER)
        # the sample business's phone (approval_bot/samples/profile.json), not the number texted
        assert [row["body"] for row in sent] == [
            "Cuts & Co: reply STOP to stop texts. Call +14155550123 for help."
        ]


def test_done_when_pre_approved_help_arrives_once_audited_under_the_pre_approval(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        admin_id = _pre_approve_help(twilio)
        approved_at = twilio.rows("SELECT pre_approved_at FROM templates WHERE key = 'help'")[0][0]

        twilio.text("HELP")
        sent = _wait_for(twilio, "SELECT body FROM sandbox_messages WHERE to_address = ?", CUSTOMER)
        expected = f"Cuts & Co: reply STOP to stop texts. Call {BUSINESS} for help."
        assert [row["body"] for row in sent] == [expected]

        # a second HELP within the day gets no second automatic reply
        twilio.text("help")
        twilio.run(twilio.client.app_state["sender"].run)
        sent = twilio.rows("SELECT body FROM sandbox_messages WHERE to_address = ?", CUSTOMER)
        assert len(sent) == 1

        (row,) = twilio.rows(
            "SELECT actor, actor_id, metadata FROM audit_log WHERE event = 'Automatic Reply'"
        )
        metadata = json.loads(row["metadata"])
        assert (row["actor"], row["actor_id"]) == ("System", None)
        assert metadata["pre_approved_by"] == admin_id
        assert metadata["pre_approved_by_name"] == "Root"
        assert metadata["pre_approved_at"] == approved_at
        assert metadata["body_hash"] == hashlib.sha256(HELP_TEXT.encode()).hexdigest()
        assert metadata["to"] == "APPROVED_TO_SEND"

        statuses = [(m["type"], m["status"]) for m in twilio.messages()]
        assert statuses == [
            ("INBOUND", "NEEDS_REVIEW"),
            ("OUTBOUND", "SENT"),
            ("INBOUND", "NEEDS_REVIEW"),
        ]
        # the first HELP is answered, so off the "Needs reply" list; the second is on it
        first, _, second = twilio.messages()
        listed = [row["id"] for row in twilio.run(list_views.needs_review, twilio.db, None).rows]
        assert listed == [second["id"]]
        metrics = twilio.client.app_state["metrics"]
        assert (
            metrics.registry.get_sample_value(
                "approval_bot_auto_replies_total", {"trigger": "help"}
            )
            == 1.0
        )


def test_without_a_pre_approval_help_goes_to_a_human_as_before(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        twilio.text("HELP")
        assert [(m["type"], m["status"]) for m in twilio.messages()] == [
            ("INBOUND", "NEEDS_REVIEW")
        ]
        assert twilio.count("auto_replies") == 0
        assert twilio.count("sandbox_messages") == 0


def test_an_edit_after_the_pre_approval_stops_the_automatic_reply(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        _pre_approve_help(twilio)
        twilio.run(
            message_templates.save,
            twilio.db,
            "help",
            message_templates.Change(HELP_TEXT + " Thanks!"),
            None,
            Role.REVIEWER,
        )
        twilio.text("HELP")
        assert [(m["type"], m["status"]) for m in twilio.messages()] == [
            ("INBOUND", "NEEDS_REVIEW")
        ]


# --- the rules, on the database ---------------------------------------------------------------


async def _approved_help(db) -> None:
    admin = await make_reviewer(db, "Root", role=Role.ADMIN)
    await message_templates.pre_approve(db, "help", True, admin.id, admin.role)


def _queue(thread: str, inbound_id: str | None, now: datetime, conn: Tx):
    return auto_replies.queue_in(
        conn,
        Trigger.HELP,
        thread_id=thread,
        in_reply_to_id=inbound_id,
        sender=BUSINESS,
        channel=Channel.SMS,
        now=now,
    )


@pytest.mark.anyio
async def test_at_most_once_per_thread_per_trigger_per_24_hours(db):
    await _approved_help(db)
    inbound = await make_inbound(db, CUSTOMER, "HELP")
    start = datetime.now(UTC)
    first = await db.write(partial(_queue, CUSTOMER, inbound, start))
    assert first is not None
    for later in (timedelta(seconds=1), timedelta(hours=23, minutes=59, seconds=59)):
        assert await db.write(partial(_queue, CUSTOMER, inbound, start + later)) is None
    # another thread has its own window
    other = await make_inbound(db, "+14155550101", "HELP")
    assert await db.write(partial(_queue, "+14155550101", other, start)) is not None
    # 24 hours on, the window has passed
    again = await db.write(partial(_queue, CUSTOMER, inbound, start + timedelta(hours=24)))
    assert again is not None and again != first


@pytest.mark.anyio
async def test_never_on_a_paused_or_opted_out_thread(db):
    await _approved_help(db)
    inbound = await make_inbound(db, CUSTOMER, "HELP")
    await review.pause_thread(db, CUSTOMER, "owner will call", None)
    assert await db.write(partial(_queue, CUSTOMER, inbound, datetime.now(UTC))) is None

    other = await make_inbound(db, "+14155550101", "HELP")
    await db.write(
        lambda conn: conn.execute(
            "UPDATE conversations SET opted_out = 1 WHERE thread_id = ?", ("+14155550101",)
        )
    )
    assert await db.write(partial(_queue, "+14155550101", other, datetime.now(UTC))) is None
    count = await db.fetchone("SELECT count(*) AS n FROM auto_replies")
    assert count is not None and count["n"] == 0


@pytest.mark.anyio
async def test_a_pause_after_queueing_holds_it_at_the_senders_send_time_check(db, make_settings):
    from approval_bot.gateways import SandboxGateway

    await _approved_help(db)
    inbound = await make_inbound(db, CUSTOMER, "HELP")
    reply = await db.write(partial(_queue, CUSTOMER, inbound, datetime.now(UTC)))
    assert reply is not None
    await review.pause_thread(db, CUSTOMER, "owner will call", None)
    await Sender(db, SandboxGateway(db), make_settings()).run()
    assert await status_of(db, reply) == "PAUSED_THREAD"
    sent = await db.fetchone("SELECT count(*) AS n FROM sandbox_messages")
    assert sent is not None and sent["n"] == 0


@pytest.mark.anyio
async def test_a_template_of_another_channel_is_not_sent(db):
    admin = await make_reviewer(db, "Root", role=Role.ADMIN)
    await message_templates.save(
        db,
        "help",
        message_templates.Change("WhatsApp help", channel="whatsapp", pre_approved=True),
        admin.id,
        admin.role,
    )
    inbound = await make_inbound(db, CUSTOMER, "HELP")
    assert await db.write(partial(_queue, CUSTOMER, inbound, datetime.now(UTC))) is None


SENT_TO = "SELECT body FROM sandbox_messages WHERE to_address = :to"


@pytest.mark.both_backends
def test_the_automatic_reply_names_the_customer_the_facts_know(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        admin = twilio.run(make_reviewer, twilio.db, "Root", role=Role.ADMIN)
        body = "Hi {customer_name}, reply STOP to stop texts. Call {business_phone} for help."
        change = message_templates.Change(body)
        twilio.run(message_templates.save, twilio.db, "help", change, admin.id, admin.role)
        twilio.run(message_templates.pre_approve, twilio.db, "help", True, admin.id, admin.role)
        twilio.text("Hi, my name is Ana")  # the drafter records her name in the facts
        twilio.text("HELP")
        sent = _wait_for(twilio, SENT_TO, to=CUSTOMER)
        assert [row["body"] for row in sent] == [
            f"Hi Ana, reply STOP to stop texts. Call {BUSINESS} for help."
        ]


@pytest.mark.both_backends
def test_no_second_help_text_after_twilios_advanced_opt_out_answered_it(make_settings):
    # Twilio sends OptOutType=HELP only from a Messaging Service with Advanced Opt-Out,
    # which has just sent the customer its own help text ("How to Track Opt-Out, Opt-In
    # and Help Messages Using the OptOutType Parameter"): the bot's would be a second one
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        _pre_approve_help(twilio)
        twilio.text("INFO", OptOutType="HELP")
        twilio.run(twilio.client.app_state["sender"].run)
        assert twilio.rows(SENT_TO, to=CUSTOMER) == []
        (text,) = twilio.messages()
        assert (text["type"], text["status"]) == ("INBOUND", "NEEDS_REVIEW")
        assert not twilio.rows("SELECT 1 FROM audit_log WHERE event = 'Automatic Reply'")
        # a HELP Twilio did not say it answered still gets the pre-approved reply
        twilio.text("HELP", sender="+14155550101")
        sent = _wait_for(twilio, SENT_TO, to="+14155550101")
        assert [row["body"] for row in sent] == [
            f"Cuts & Co: reply STOP to stop texts. Call {BUSINESS} for help."
        ]
