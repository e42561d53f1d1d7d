"""Reviewers by SMS through the real webhook: draft texts with codes, commands, STOP/START."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import accounts, draft_notices, review
from approval_bot.models import DecisionChannel, Role
from approval_bot.store import Tx, sql
from tests.twilio_client import CUSTOMER, PUBLIC, running

ANA = "+14155550123"

pytestmark = pytest.mark.both_backends


@pytest.fixture
def twilio(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        twilio.run(
            accounts.add_reviewer,
            twilio.db,
            "Ana",
            phone=ANA,
            password="x" * 12,
            role=Role.REVIEWER,
        )
        yield twilio


def texts_to(twilio, phone: str) -> list[str]:
    return [
        row["body"]
        for row in twilio.rows(
            """
            SELECT notifications.body FROM notifications
            JOIN reviewers ON reviewers.id = notifications.reviewer_id
            WHERE reviewers.phone = :phone ORDER BY notifications.id
            """,
            phone=phone,
        )
    ]


def test_a_draft_is_texted_to_the_reviewer_who_approves_it_by_code(twilio):
    twilio.text("Are you open on Sunday?")

    (notice,) = texts_to(twilio, ANA)
    found = re.search(r"Draft (\w{4}) for " + re.escape(CUSTOMER), notice)
    assert found is not None
    code = found[1]
    assert '"Are you open on Sunday?"' in notice and f"A {code}" in notice

    twilio.text(f"a {code.lower()}.", sender=ANA)

    draft = twilio.rows("SELECT * FROM messages WHERE type = 'DRAFT'")[0]
    # approved; the sender, woken by the approval, may have sent it already
    assert draft["status"] in ("APPROVED_TO_SEND", "SENT")
    approval = twilio.rows("SELECT * FROM approvals")[0]
    assert (approval["channel"], approval["reviewer_phone"]) == ("sms", ANA)
    assert texts_to(twilio, ANA)[-1] == f"Approved {code}: the reply to {CUSTOMER} goes out now."
    # the reviewer's text never became a customer message
    assert (
        twilio.rows("SELECT count(*) AS n FROM messages WHERE sender = :phone", phone=ANA)[0]["n"]
        == 0
    )


def test_a_bare_ok_approves_nothing_and_asks_for_the_code(twilio):
    twilio.text("Hello, do you deliver?")
    twilio.text("ok", sender=ANA)

    assert twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")[0]["status"] == (
        "DRAFT_PENDING_APPROVAL"
    )
    assert texts_to(twilio, ANA)[-1].startswith("Which draft?")


def test_stop_turns_draft_texts_off_and_start_back_on(twilio):
    twilio.text("STOP", sender=ANA)
    ana = twilio.rows("SELECT * FROM reviewers WHERE phone = :phone", phone=ANA)[0]
    assert (ana["notify_sms"], ana["sms_opted_out"]) == (0, 1)
    assert texts_to(twilio, ANA) == []  # no answer to STOP: Twilio blocks texts to them

    twilio.text("Is the shop open?")
    assert texts_to(twilio, ANA) == []  # and no draft texts

    twilio.text("start", sender=ANA)
    ana = twilio.rows("SELECT * FROM reviewers WHERE phone = :phone", phone=ANA)[0]
    assert (ana["notify_sms"], ana["sms_opted_out"]) == (1, 0)
    assert texts_to(twilio, ANA) == ["Draft texts are on again. Reply H for the commands."]
    events = [row["event"] for row in twilio.rows("SELECT event FROM audit_log ORDER BY id")]
    assert "Reviewer Opted Out" in events and "Reviewer Opted In" in events


@pytest.mark.parametrize("notify", [True, False])
def test_yes_from_a_reviewer_who_never_texted_stop_asks_which_draft(twilio, notify):
    # README: a bare "yes" approves nothing and the answer asks which code; only START
    # after a STOP turns draft texts back on, and an admin's "off" stands
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    twilio.run(accounts.set_notify_sms, twilio.db, ana.id, notify, by=None)
    twilio.text("Hello, do you deliver?")

    twilio.text("Yes", sender=ANA)

    assert twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")[0]["status"] == (
        "DRAFT_PENDING_APPROVAL"
    )
    assert texts_to(twilio, ANA)[-1].startswith("Which draft?")
    row = twilio.rows("SELECT * FROM reviewers WHERE phone = :phone", phone=ANA)[0]
    assert (bool(row["notify_sms"]), row["sms_opted_out"]) == (notify, 0)
    events = [row["event"] for row in twilio.rows("SELECT event FROM audit_log")]
    assert "Reviewer Opted In" not in events


def test_quiet_hours_hold_draft_texts(twilio):
    twilio.run(_quiet_now, twilio.db)
    twilio.text("Can I book for tomorrow?")
    (row,) = twilio.rows("SELECT status FROM notifications")
    assert row["status"] == "HELD"


async def _quiet_now(db):
    now = datetime.now(UTC)
    start, end = (f"{(now + timedelta(hours=h)):%H:%M}" for h in (-1, 1))

    def change(conn: Tx) -> Any:
        conn.run(
            sql("UPDATE reviewers SET quiet_start = :start, quiet_end = :end, time_zone = 'UTC'"),
            start=start,
            end=end,
        )

    await db.write(change)


def test_texts_held_in_quiet_hours_come_as_one_digest_afterwards(twilio):
    twilio.run(_quiet_now, twilio.db)
    twilio.text("Can I book for tomorrow?", sender="+14155550100")
    twilio.text("Do you sell gift cards?", sender="+14155550101")
    twilio.text("Are dogs allowed?", sender="+14155550102")
    codes = {
        row["receiver"]: row["code"]
        for row in twilio.rows(
            """
            SELECT messages.receiver, draft_codes.code FROM draft_codes
            JOIN messages ON messages.id = draft_codes.message_id
            """
        )
    }
    # one of them is decided on the web while Ana sleeps
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    decided = twilio.rows("SELECT id FROM messages WHERE receiver = '+14155550102'")[0]["id"]
    twilio.run(review.approve, twilio.db, decided, review.Decision(ana.id, DecisionChannel.WEB))

    assert twilio.run(draft_notices.send_digests, twilio.db) == 0  # still quiet
    twilio.run(_quiet_later, twilio.db)
    assert twilio.run(draft_notices.send_digests, twilio.db) == 1

    statuses = [row["status"] for row in twilio.rows("SELECT status FROM notifications")]
    assert statuses.count("DIGESTED") == 3
    (text,) = [t for t in texts_to(twilio, ANA) if t.startswith("While you were away")]
    assert codes["+14155550100"] in text and codes["+14155550101"] in text
    assert codes["+14155550102"] not in text
    assert twilio.run(draft_notices.send_digests, twilio.db) == 0  # nothing held any more


def test_a_customer_who_may_want_to_stop_is_in_the_digest_with_optout_and_keep(twilio):
    twilio.run(_quiet_now, twilio.db)
    twilio.text("please stop texting me", sender="+14155550100")
    twilio.text("Do you sell gift cards?", sender="+14155550101")
    twilio.text("take me off your list", sender="+14155550102")
    codes = {
        row["sender"]: row["code"]
        for row in twilio.rows(
            """
            SELECT messages.sender, draft_codes.code FROM draft_codes
            JOIN messages ON messages.id = draft_codes.message_id
            WHERE messages.type = 'INBOUND'
            """
        )
    }
    # Ana answers the second request KEEP from her phone: it is drafted, its draft held
    twilio.text(f"KEEP {codes['+14155550102']}", sender=ANA)
    twilio.settle()

    twilio.run(_quiet_later, twilio.db)
    assert twilio.run(draft_notices.send_digests, twilio.db) == 1

    (text,) = [t for t in texts_to(twilio, ANA) if t.startswith("While you were away")]
    assert text.startswith("While you were away: 2 drafts; 1 customer may want to stop.\n")
    stopping = codes["+14155550100"]
    assert (
        f"+14155550100 may want to stop: OPTOUT {stopping} to opt them out, KEEP {stopping} if not."
    ) in text
    assert codes["+14155550102"] not in text  # decided meanwhile
    assert "+14155550199" not in text  # the business's own number is nobody to name


async def _quiet_later(db):
    now = datetime.now(UTC)
    start, end = (f"{(now + timedelta(hours=h)):%H:%M}" for h in (2, 4))

    def change(conn: Tx) -> Any:
        conn.run(
            sql("UPDATE reviewers SET quiet_start = :start, quiet_end = :end"), start=start, end=end
        )

    await db.write(change)
