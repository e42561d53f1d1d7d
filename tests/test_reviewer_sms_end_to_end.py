"""The whole loop by text, through the real `twilio` client and a fake Twilio on loopback:
a customer writes, the reviewer gets the draft by SMS, answers with its code, and the
customer's reply is accepted by Twilio exactly once."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from approval_bot import accounts, review
from approval_bot.models import DecisionChannel, Role
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio
from tests.twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, running

ANA, BOB = "+14155550123", "+14155550124"

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def twilio(make_settings, fake) -> Iterator[Twilio]:
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
    )
    with running(settings) as twilio:
        for name, phone in (("Ana", ANA), ("Bob", BOB)):
            twilio.run(
                accounts.add_reviewer,
                twilio.db,
                name,
                phone=phone,
                password="x" * 12,
                role=Role.REVIEWER,
            )
        yield twilio


def wait_for(fake: FakeTwilio, to: str, count: int) -> list[str]:
    """The bodies the fake accepted for `to`, once there are `count` of them."""
    deadline = time.monotonic() + 20
    while len(fake.accepted_to(to)) < count:
        assert time.monotonic() < deadline, f"{to} got {fake.accepted_to(to)}"
        time.sleep(0.02)
    return [message["body"] for message in fake.accepted_to(to)]


def code_in(text: str) -> str:
    found = re.search(r"Draft (\w{4}) for ", text)
    assert found is not None, text
    return found[1]


def settle(fake: FakeTwilio, twilio: Twilio) -> None:
    """Give the sender several more ticks: anything sent twice would show by now."""
    time.sleep(0.5)
    twilio.settle()


def test_approve_by_text_sends_the_draft_exactly_once(twilio, fake):
    twilio.text("Are you open on Sunday?")
    notice = wait_for(fake, ANA, 1)[0]
    draft = twilio.rows("SELECT body FROM messages WHERE type = 'DRAFT'")[0]["body"]
    assert f'"{draft}"' in notice or draft[:20] in notice

    twilio.text(f"A {code_in(notice)}", sender=ANA)

    assert wait_for(fake, CUSTOMER, 1) == [draft]
    assert wait_for(fake, ANA, 2)[1].startswith(f"Approved {code_in(notice)}")
    settle(fake, twilio)
    assert len(fake.accepted_to(CUSTOMER)) == 1
    assert twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")[0]["status"] == "SENT"


def test_edit_by_text_sends_the_reviewers_words(twilio, fake):
    twilio.text("Do you deliver to Leeds?")
    code = code_in(wait_for(fake, ANA, 1)[0])

    twilio.text(f"E {code} Yes, every Tuesday. Free over £20.", sender=ANA)

    assert wait_for(fake, CUSTOMER, 1) == ["Yes, every Tuesday. Free over £20."]
    settle(fake, twilio)
    assert len(fake.accepted_to(CUSTOMER)) == 1


def test_a_stale_code_is_refused_and_nothing_is_sent(twilio, fake):
    twilio.text("What time do you close?")
    code = code_in(wait_for(fake, ANA, 1)[0])
    draft_id = twilio.rows("SELECT id FROM messages WHERE type = 'DRAFT'")[0]["id"]
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    twilio.run(
        review.edit,
        twilio.db,
        draft_id,
        "We close at 6pm.",
        review.Decision(ana.id, DecisionChannel.WEB),
        approve=False,
    )
    newer = code_in(wait_for(fake, ANA, 2)[1])  # the new version is texted with its own code

    twilio.text(f"A {code}", sender=BOB)

    assert wait_for(fake, BOB, 3)[-1] == f"{code} was replaced by {newer}."
    settle(fake, twilio)
    assert fake.accepted_to(CUSTOMER) == []


def test_a_code_another_reviewer_decided_names_them(twilio, fake):
    twilio.text("Can I pay by card?")
    code = code_in(wait_for(fake, ANA, 1)[0])

    twilio.text(f"A {code}", sender=BOB)
    twilio.text(f"R {code} too vague", sender=ANA)

    assert wait_for(fake, ANA, 2)[1].startswith(f"{code} was approved by Bob at ")
    assert len(wait_for(fake, CUSTOMER, 1)) == 1
    settle(fake, twilio)
    assert len(fake.accepted_to(CUSTOMER)) == 1
    assert [row["action"] for row in twilio.rows("SELECT action FROM approvals")] == ["APPROVE"]


def test_a_disabled_reviewer_decides_nothing(twilio, fake):
    twilio.text("Is parking free?")
    code = code_in(wait_for(fake, BOB, 1)[0])
    twilio.run(accounts.disable_reviewer, twilio.db, "Bob")

    twilio.text(f"A {code}", sender=BOB)

    assert "disabled" in wait_for(fake, BOB, 2)[1]
    settle(fake, twilio)
    assert fake.accepted_to(CUSTOMER) == []
    assert twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")[0]["status"] == (
        "DRAFT_PENDING_APPROVAL"
    )
