"""Never twice when Twilio queues: a crashed send is found however many texts came after it.

Twilio lists a number's messages newest first, in pages linked by `next_page_uri`, and a
message it has queued but not sent has no DateSent. A long code sends 1 message per second,
so after a crash the message a dead process sent can sit behind more than 50 newer ones,
all still queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from approval_bot.gateways import OutgoingSms, TwilioGateway
from approval_bot.models import MessageStatus
from approval_bot.sending import Sender
from tests import fake_twilio
from tests.builders import BUSINESS, approve_sending, make_reviewer
from tests.fake_twilio import FakeTwilio
from tests.test_sender import ALICE, Clock, approved, claim_and_die, notification, notify, row

pytestmark = pytest.mark.anyio

NEWER = 120  # more than 50 (the old look at the newest), over one page of 100
AHEAD = 30  # texts to others queued first: the crashed one is still queued when reconciled


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running(sends_per_second=1.0)  # a long code's rate


@pytest.fixture
async def gateway(make_settings, fake) -> AsyncIterator[TwilioGateway]:
    settings = make_settings(
        PUBLIC_BASE_URL="https://bot.example.com",
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_TIMEOUT_SECONDS="0.5",
        SEND_LEASE_SECONDS="5",
    )
    gateway = TwilioGateway(settings)
    yield gateway
    await gateway.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sender(db, gateway, clock) -> Sender:
    await approve_sending(db)  # with credentials the gate starts pending
    return Sender(db, gateway, gateway._settings, clock=clock, rand=lambda: 0.5)


@pytest.fixture
async def reviewer(db):
    return await make_reviewer(db, "Ana", phone="+14155550111")


async def busy(gateway: TwilioGateway) -> None:
    """Twilio's queue is busy with texts to others, as when a crash hits a burst of sends."""
    for index in range(AHEAD):
        await gateway.send(OutgoingSms(f"+1415555{index:04d}", "a burst", status_callback=False))


async def crowd(gateway: TwilioGateway, to: str, count: int = NEWER) -> None:
    """Texts to `to` after the crash, queued behind the one the dead process sent."""
    for index in range(count):
        await gateway.send(OutgoingSms(to, f"another text {index}", status_callback=False))


def paged(fake: FakeTwilio) -> bool:
    return any("PageToken" in request.params for request in fake.lists())


def bodies_to(fake: FakeTwilio, to: str, body: str) -> list[str]:
    return [m["sid"] for m in fake.accepted_to(to) if m["body"] == body]


async def test_a_crashed_customer_send_behind_many_queued_texts_is_not_sent_again(
    db, sender, gateway, fake, reviewer, clock: Clock
):
    draft = await approved(db, reviewer)
    await claim_and_die(sender)
    await busy(gateway)
    await gateway.send(OutgoingSms(ALICE, "Yes, 9 to 5."))  # the dead process's send went out
    await crowd(gateway, ALICE)

    clock.advance(6)  # the lease ran out: the restarted sender reconciles
    await sender.run()

    (sid,) = bodies_to(fake, ALICE, "Yes, 9 to 5.")
    message = await row(db, draft)
    assert (message["status"], message["provider_sid"]) == (MessageStatus.SENT, sid)
    assert paged(fake)


async def test_a_crashed_notification_behind_many_queued_texts_is_not_sent_again(
    db, sender, gateway, fake, reviewer, clock: Clock
):
    note = await notify(db, reviewer.id, "Draft 7F3K for +14155550100")
    await claim_and_die(sender)
    await busy(gateway)
    await gateway.send(
        OutgoingSms(reviewer.phone, "Draft 7F3K for +14155550100", status_callback=False)
    )
    await crowd(gateway, reviewer.phone)

    clock.advance(6)
    await sender.run()

    (sid,) = bodies_to(fake, reviewer.phone, "Draft 7F3K for +14155550100")
    sent = await notification(db, note)
    assert (sent["status"], sent["provider_sid"]) == ("SENT", sid)
    assert paged(fake)


async def test_reading_stops_at_the_claim_so_an_older_identical_text_is_not_taken(
    db, sender, gateway, fake, reviewer, clock: Clock
):
    await gateway.send(OutgoingSms(ALICE, "Yes, 9 to 5."))  # the same words, a day earlier
    await crowd(gateway, ALICE, 150)
    clock.advance(24 * 3600)
    draft = await approved(db, reviewer)
    await claim_and_die(sender)  # and died before sending

    clock.advance(6)
    await sender.run()

    first, again = bodies_to(fake, ALICE, "Yes, 9 to 5.")
    assert (await row(db, draft))["provider_sid"] == again
    # the first page already reached back past the claim: nothing more was read
    assert len(fake.lists()) == 1
