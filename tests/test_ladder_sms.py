"""The review-deadline ladder's texts, as they leave: through the real `twilio` client to
the fake Twilio on loopback (reminder, escalation, holding reply), and the issue's "Done
when" in sandbox mode with the deadlines shortened, run by the app's own job."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import accounts, jobs, ladder, message_templates
from approval_bot.models import Role
from approval_bot.store.views import queue as queue_view
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio
from tests.test_reviewer_sms_end_to_end import code_in, wait_for
from tests.twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, running

ANA, BOB, ROOT = "+14155550123", "+14155550124", "+14155550125"
HOLDING = "Thanks for your message, a person will reply shortly."


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


def _people(twilio: Twilio) -> None:
    """Ana takes draft texts; Bob is a backup; Root, an admin, pre-approves the holding reply."""
    made = {}
    for name, phone, role in (
        ("Ana", ANA, Role.REVIEWER),
        ("Bob", BOB, Role.REVIEWER),
        ("Root", ROOT, Role.ADMIN),
    ):
        made[name] = twilio.run(
            accounts.add_reviewer, twilio.db, name, phone=phone, password="x" * 12, role=role
        )
    root = made["Root"]
    twilio.run(accounts.set_backup, twilio.db, made["Bob"].id, True, by=root.id)
    twilio.run(
        message_templates.save,
        twilio.db,
        "holding",
        message_templates.Change(HOLDING),
        root.id,
        root.role,
    )
    twilio.run(message_templates.pre_approve, twilio.db, "holding", True, root.id, root.role)


def test_each_steps_text_reaches_twilio_through_the_real_client(make_settings, fake):
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
        REVIEW_HOLDING_REPLY_MINUTES="45",
    )
    with running(settings) as twilio:
        _people(twilio)
        twilio.text("Do you have a table for four tonight?")
        code = code_in(wait_for(fake, ANA, 1)[0])

        twilio.run(ladder.run_pass, twilio.db, datetime.now(UTC) + timedelta(minutes=11))
        reminder = wait_for(fake, ANA, 2)[1]
        assert reminder == (
            f"Reminder: draft {code} for {CUSTOMER} waiting 11 min. "
            f"Reply A {code} to send, R {code} to reject."
        )

        twilio.run(ladder.run_pass, twilio.db, datetime.now(UTC) + timedelta(minutes=31))
        # the admin and the backup: each had the draft's notice and its reminder before
        for phone in (ROOT, BOB):
            overdue = wait_for(fake, phone, 3)[2]
            assert overdue.startswith(f"Overdue: draft {code} for {CUSTOMER} waiting 31 min.\n")
            assert overdue.endswith(f"Reply A {code} to send, R {code} to reject.")
        assert len(fake.accepted_to(ANA)) == 2  # Ana is neither admin nor backup

        twilio.run(ladder.run_pass, twilio.db, datetime.now(UTC) + timedelta(minutes=46))
        assert wait_for(fake, CUSTOMER, 1) == [HOLDING]
        # every text went from the business number, as Twilio's Messages resource was asked
        assert {m["from"] for m in fake.accepted} == {BUSINESS}


def _sandbox_texts(twilio: Twilio, to: str) -> list[str]:
    rows = twilio.rows(
        "SELECT body FROM sandbox_messages WHERE to_address = ? ORDER BY created_at, rowid", to
    )
    return [row["body"] for row in rows]


def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_done_when_a_draft_nobody_touches_climbs_the_ladder_in_sandbox(make_settings):
    # the defaults shortened: 0.6 s to the reminder, 1.2 s to escalation, 1.8 s to holding
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        SEND_POLL_SECONDS="0.1",
        REVIEW_REMIND_MINUTES="0.01",
        REVIEW_ESCALATE_MINUTES="0.02",
        REVIEW_HOLDING_REPLY_MINUTES="0.03",
    )
    with running(settings) as twilio:
        _people(twilio)
        twilio.text("Do you have a table for four tonight?")
        ((draft,),) = twilio.rows(
            "SELECT id FROM messages WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
        )
        scheduler = twilio.client.app_state["scheduler"]
        for _ in range(4):  # the job, as the scheduler runs it each minute
            time.sleep(0.7)
            twilio.run(jobs.climb_ladder, twilio.db, scheduler)

        # reminded, escalated to the admin's simulated phone, the holding text sent once
        ana = _until(lambda: len(_sandbox_texts(twilio, ANA)) >= 2 and _sandbox_texts(twilio, ANA))
        assert re.fullmatch(r"Reminder: draft \w{4} for \+14155550100 waiting 0 min\. .*", ana[1])
        root = _until(
            lambda: len(_sandbox_texts(twilio, ROOT)) >= 3 and _sandbox_texts(twilio, ROOT)
        )
        assert root[2].startswith("Overdue: draft ")
        assert _until(lambda: _sandbox_texts(twilio, CUSTOMER)) == [HOLDING]
        twilio.run(jobs.climb_ladder, twilio.db, scheduler)
        time.sleep(0.5)
        assert _sandbox_texts(twilio, CUSTOMER) == [HOLDING]

        # the draft stays in the queue, overdue at its top
        (status,) = twilio.rows("SELECT status FROM messages WHERE id = ?", draft)
        assert status["status"] == "DRAFT_PENDING_APPROVAL"
        (card,) = twilio.run(queue_view.queue, twilio.db).rows
        assert card["id"] == draft
        assert (card["sla"]["overdue"], card["sla"]["step"]) == (True, "holding_sent")
        steps = twilio.rows(
            "SELECT event FROM audit_log WHERE message_id = ? AND event IN "
            "('Review Reminded', 'Review Escalated', 'Holding Reply Sent') ORDER BY id",
            draft,
        )
        assert [s["event"] for s in steps] == [
            "Review Reminded",
            "Review Escalated",
            "Holding Reply Sent",
        ]
