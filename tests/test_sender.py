"""The sender through the official twilio client, against a fake Twilio API on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import inbound, review, workflow
from approval_bot.config import Settings
from approval_bot.gateways import OutgoingSms, SandboxGateway, TwilioGateway
from approval_bot.inbound import InboundSms
from approval_bot.models import (
    Channel,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
)
from approval_bot.retry import DEFAULT_POLICY
from approval_bot.scheduler import SENDER_JOB_ID, build_scheduler, wake_sender
from approval_bot.sending import Sender
from approval_bot.store import Store, Tx, conversations, sql
from approval_bot.store import sending as sending_rows
from approval_bot.store.notifications import insert_notification
from tests import fake_twilio
from tests.builders import (
    BUSINESS,
    approve_sending,
    make_draft,
    make_inbound,
    make_reviewer,
    status_of,
)
from tests.fake_twilio import FakeTwilio
from tests.test_audit_lock_order import deadlocks
from tests.test_write_races import Gate

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

S = MessageStatus
PUBLIC = "https://bot.example.com"
ALICE, BOB = "+14155550100", "+14155550101"


class Clock:
    """The sender's clock, moved by the test: retries and leases without waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def twilio_settings(make_settings, fake) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        values: dict[str, str] = {
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TWILIO_API_BASE_URL": fake.url,
            "SEND_TIMEOUT_SECONDS": "0.5",
            "SEND_LEASE_SECONDS": "5",
            **overrides,
        }
        settings: Settings = make_settings(**values)
        return settings

    return make


@pytest.fixture(autouse=True)
async def sending_approved(db) -> None:
    """With credentials the gate starts pending: these tests send as after an admin's approve."""
    await approve_sending(db)


@pytest.fixture
def settings(twilio_settings) -> Settings:
    settings: Settings = twilio_settings()
    return settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gateway(settings) -> AsyncIterator[TwilioGateway]:
    gateway = TwilioGateway(settings)
    yield gateway
    await gateway.aclose()


@pytest.fixture
def sender(db, gateway, settings, clock) -> Sender:
    return Sender(db, gateway, settings, clock=clock, rand=lambda: 0.5)


@pytest.fixture
async def reviewer(db):
    return await make_reviewer(db, "Ana", phone="+14155550111")


async def approved(db: Store, reviewer, thread: str = ALICE, body: str = "Yes, 9 to 5.") -> str:
    draft = await make_draft(db, await make_inbound(db, thread), body)
    await review.approve(db, draft, review.Decision(reviewer.id, DecisionChannel.WEB))
    return draft


async def row(db: Store, message_id: str) -> Any:
    found = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=message_id)
    assert found is not None
    return found


async def events(db: Store, message_id: str) -> list[str]:
    rows = await db.all(
        sql("SELECT event FROM audit_log WHERE message_id = :id ORDER BY id"), id=message_id
    )
    return [r["event"] for r in rows]


async def thread(db: Store, thread_id: str = ALICE) -> Any:
    found = await db.one(
        sql(
            """
            SELECT * FROM conversations JOIN thread_controls USING (thread_id)
            WHERE thread_id = :thread_id
            """
        ),
        thread_id=thread_id,
    )
    assert found is not None
    return found


# -- outcomes ------------------------------------------------------------------------------


async def test_an_accepted_message_is_sent_once_with_its_sid_and_a_status_callback(
    db, sender, fake, reviewer
):
    draft = await approved(db, reviewer)

    await sender.run()

    (accepted,) = fake.accepted
    (request,) = fake.creates()
    assert request.params["To"] == [ALICE]
    assert request.params["From"] == [BUSINESS]
    assert request.params["Body"] == ["Yes, 9 to 5."]
    assert request.params["StatusCallback"] == [f"{PUBLIC}/webhooks/twilio/status"]
    message = await row(db, draft)
    assert message["status"] == S.SENT
    assert message["provider_sid"] == accepted["sid"]
    assert message["delivery_status"] == "queued"
    assert (message["send_attempts"], message["claimed_at"]) == (1, None)
    assert (await events(db, draft))[-1] == Event.SEND_ACCEPTED

    await sender.run()  # nothing is due any more
    assert len(fake.creates()) == 1


async def test_a_messaging_service_sends_and_reports_accepted(db, twilio_settings, reviewer, fake):
    service = "MG" + "ab" * 16
    settings = twilio_settings(TWILIO_MESSAGING_SERVICE_SID=service)
    gateway = TwilioGateway(settings)
    try:
        draft = await approved(db, reviewer)
        await Sender(db, gateway, settings).run()
    finally:
        await gateway.aclose()
    (request,) = fake.creates()
    assert request.params["MessagingServiceSid"] == [service]
    assert "From" not in request.params
    assert (await row(db, draft))["delivery_status"] == "accepted"


async def test_a_reply_a_human_wrote_is_sent_too_with_its_media(db, sender, fake, reviewer):
    await make_inbound(db, ALICE)
    reply = await review.write_reply(db, ALICE, "Call me back?", reviewer.id, in_reply_to_id=None)
    assert await status_of(db, reply) == S.APPROVED_TO_SEND

    await sender.run()

    assert await status_of(db, reply) == S.SENT
    assert [m["body"] for m in fake.accepted_to(ALICE)] == ["Call me back?"]


async def test_media_urls_go_along(db, gateway, fake):
    result = await gateway.send(
        OutgoingSms(ALICE, "see", ("https://example.com/a.jpg", "https://example.com/b.jpg"))
    )
    assert result.sid is not None
    (request,) = fake.creates()
    assert request.params["MediaUrl"] == ["https://example.com/a.jpg", "https://example.com/b.jpg"]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (fake_twilio.INVALID_TO, 21211),
        (fake_twilio.error(400, 21408, "Permission to send an SMS has not been enabled"), 21408),
    ],
)
async def test_a_4xx_fails_at_once_with_its_code_and_flags_the_conversation(
    db, sender, fake, reviewer, reply, code
):
    fake.script(ALICE, reply)
    draft = await approved(db, reviewer)

    await sender.run()

    message = await row(db, draft)
    assert message["status"] == S.FAILED_SEND
    assert message["error_code"] == code
    assert reply.message in message["error_message"]
    assert message["send_attempts"] == 1
    assert fake.accepted == []
    conversation = await thread(db)
    assert conversation["state"] == "NEEDS_ATTENTION"


async def test_21610_fails_opts_the_thread_out_pauses_it_and_asks_for_attention(
    db, sender, fake, reviewer
):
    fake.script(ALICE, fake_twilio.OPTED_OUT)
    draft = await approved(db, reviewer)

    await sender.run()

    message = await row(db, draft)
    assert (message["status"], message["error_code"]) == (S.FAILED_SEND, 21610)
    conversation = await thread(db)
    assert (conversation["opted_out"], conversation["paused"]) == (1, 1)
    assert conversation["state"] == "NEEDS_ATTENTION"
    rows = await db.all(sql("SELECT event FROM audit_log WHERE thread_id = :id"), id=ALICE)
    assert {"Opted Out", "Thread Paused", "Conversation Needs Attention"} <= {
        r["event"] for r in rows
    }
    # and nothing more goes to that thread, even a reply a reviewer tries to write
    with pytest.raises(review.ThreadClosed):
        await review.write_reply(db, ALICE, "sorry!", reviewer.id, in_reply_to_id=None)


async def test_a_21610_and_the_customers_stop_at_once_opt_out_once_without_a_deadlock(
    db, backend, database_target, sender, fake, reviewer, monkeypatch
):
    # Twilio's 21610 and the customer's STOP arrive together: the sender's outcome holds the
    # thread's lock from its start, so the STOP waits for it instead of holding the thread
    # while the outcome holds the conversation row (PostgreSQL would break that deadlock
    # after a second and run one of them again)
    fake.script(ALICE, fake_twilio.OPTED_OUT)
    draft = await approved(db, reviewer)
    gate = Gate(workflow.flag_conversation, after=True)
    monkeypatch.setattr(workflow, "flag_conversation", gate)
    broken = deadlocks(database_target) if backend == "postgres" else 0

    sending = asyncio.ensure_future(sender.run())
    try:
        assert await asyncio.to_thread(gate.reached.wait, 20), "the 21610 was never recorded"
        stop = asyncio.ensure_future(
            inbound.receive_sms(
                db, InboundSms("SM" + "b" * 32, ALICE, BUSINESS, "STOP", Channel.SMS)
            )
        )
        await asyncio.sleep(0.3)
    finally:
        gate.open()
    await asyncio.wait_for(asyncio.gather(sending, stop), 60)

    if backend == "postgres":
        assert deadlocks(database_target) == broken
    message = await row(db, draft)
    assert (message["status"], message["error_code"]) == (S.FAILED_SEND, 21610)
    conversation = await thread(db)
    assert (conversation["opted_out"], conversation["paused"]) == (1, 1)
    rows = await db.all(sql("SELECT event FROM audit_log WHERE thread_id = :id"), id=ALICE)
    events = [r["event"] for r in rows]
    assert events.count("Opted Out") == 1 and events.count("Thread Paused") == 1


async def test_a_stop_being_written_when_the_sender_claims_its_reply_stops_the_send(
    db, sender, fake, reviewer, monkeypatch
):
    # the STOP's transaction holds the thread when the sender's claim checks it: the claim
    # leaves the reply for a later pass, which finds it held by the STOP (reading past the
    # lock, PostgreSQL would show the thread not yet opted out, and the reply would go)
    draft = await approved(db, reviewer)
    gate = Gate(conversations.set_opted_out)
    monkeypatch.setattr(conversations, "set_opted_out", gate)
    stop = asyncio.ensure_future(
        inbound.receive_sms(db, InboundSms("SM" + "c" * 32, ALICE, BUSINESS, "STOP", Channel.SMS))
    )
    try:
        assert await asyncio.to_thread(gate.reached.wait, 20), "the STOP was never recorded"
        sending = asyncio.ensure_future(sender.run())
        await asyncio.sleep(0.3)
    finally:
        gate.open()
    await asyncio.wait_for(asyncio.gather(stop, sending), 60)
    await sender.run()

    assert fake.accepted == []
    assert (await row(db, draft))["status"] == S.PAUSED_THREAD
    assert (await thread(db))["opted_out"] == 1


async def test_a_stop_written_while_an_unconfirmed_reply_is_looked_up_stops_the_resend(
    db, sender, gateway, fake, reviewer, clock, monkeypatch
):
    # the first attempt got no answer; while the next pass asks Twilio whether it came
    # (it did not), the customer's STOP is being written: the resend waits for the STOP's
    # hold of the thread and is held by it, not sent to a customer who has opted out
    fake.script(ALICE, fake_twilio.Reply(delay=2.0, accept=False))
    draft = await approved(db, reviewer)
    await sender.run()
    assert (await row(db, draft))["unconfirmed_since"] is not None
    clock.advance(60)

    gate = Gate(conversations.set_opted_out)
    monkeypatch.setattr(conversations, "set_opted_out", gate)
    stops: list[asyncio.Future[Any]] = []
    look_up = gateway.find_sent

    async def look_up_while_a_stop_is_written(*args: Any) -> Any:
        found = await look_up(*args)
        stop = InboundSms("SM" + "d" * 32, ALICE, BUSINESS, "STOP", Channel.SMS)
        stops.append(asyncio.ensure_future(inbound.receive_sms(db, stop)))
        assert await asyncio.to_thread(gate.reached.wait, 20), "the STOP was never recorded"
        return found

    monkeypatch.setattr(gateway, "find_sent", look_up_while_a_stop_is_written)
    sending = asyncio.ensure_future(sender.run())
    try:
        assert await asyncio.to_thread(gate.reached.wait, 20), "Twilio was never asked"
        await asyncio.sleep(0.3)  # the resend's transaction starts and waits for the thread
    finally:
        gate.open()
    await asyncio.wait_for(asyncio.gather(sending, *stops), 60)
    await sender.run()

    assert len(fake.creates(ALICE)) == 1 and fake.accepted == []
    assert (await row(db, draft))["status"] == S.PAUSED_THREAD
    assert (await thread(db))["opted_out"] == 1


@pytest.mark.parametrize("reply", [fake_twilio.TOO_MANY, fake_twilio.SERVER_ERROR])
async def test_429_and_500_are_retried_after_a_backoff_and_sent_once(
    db, sender, fake, reviewer, clock, reply
):
    fake.script(ALICE, reply, reply)
    draft = await approved(db, reviewer)

    await sender.run()
    first = await row(db, draft)
    assert first["status"] == S.APPROVED_TO_SEND
    assert first["error_code"] == reply.code
    waits = [datetime.fromisoformat(first["next_attempt_at"]) - clock.now]
    await sender.run()  # not due yet: nothing is sent
    assert len(fake.creates()) == 1

    clock.advance(1)
    await sender.run()
    second = await row(db, draft)
    waits.append(datetime.fromisoformat(second["next_attempt_at"]) - clock.now)
    clock.advance(2)
    await sender.run()

    assert await status_of(db, draft) == S.SENT
    assert len(fake.accepted_to(ALICE)) == 1
    # full jitter at 0.5 of a ceiling of 1 s, then of 2 s
    assert waits == [timedelta(seconds=0.5), timedelta(seconds=1)]
    assert (await row(db, draft))["send_attempts"] == 3


async def test_after_six_failed_attempts_the_message_fails(db, sender, fake, reviewer, clock):
    fake.script(ALICE, *[fake_twilio.TOO_MANY] * 10)
    draft = await approved(db, reviewer)

    for _ in range(10):
        await sender.run()
        clock.advance(30)

    message = await row(db, draft)
    assert message["status"] == S.FAILED_SEND
    assert message["send_attempts"] == DEFAULT_POLICY.max_attempts
    assert message["error_message"].startswith("retries spent")
    assert len(fake.creates(ALICE)) == 6
    assert fake.accepted == []
    assert (await events(db, draft)).count("Send Retry Scheduled") == 5


async def test_a_twilio_nobody_answers_is_retried_then_fails(db, twilio_settings, reviewer, clock):
    with FakeTwilio() as gone:
        url = gone.url  # a port that no longer listens once the fake is closed
    settings = twilio_settings(TWILIO_API_BASE_URL=url)
    gateway = TwilioGateway(settings)
    try:
        sender = Sender(db, gateway, settings, clock=clock, rand=lambda: 0.5)
        draft = await approved(db, reviewer)
        for _ in range(7):
            await sender.run()
            clock.advance(30)
    finally:
        await gateway.aclose()
    message = await row(db, draft)
    assert (message["status"], message["send_attempts"]) == (S.FAILED_SEND, 6)
    # the request never left: there was nothing to reconcile
    assert message["unconfirmed_since"] is None


async def test_an_answer_past_the_timeout_is_reconciled_not_sent_again(
    db, sender, fake, reviewer, clock
):
    fake.script(ALICE, fake_twilio.slow(2.0))
    draft = await approved(db, reviewer)

    await sender.run()  # the client gives up after 0.5 s; the fake took the message

    waiting = await row(db, draft)
    assert waiting["status"] == S.APPROVED_TO_SEND
    assert waiting["unconfirmed_since"] is not None
    clock.advance(1)
    await sender.run()

    (accepted,) = fake.accepted_to(ALICE)
    message = await row(db, draft)
    assert (message["status"], message["provider_sid"]) == (S.SENT, accepted["sid"])
    assert len(fake.creates(ALICE)) == 1
    assert len(fake.lists()) == 1


async def test_a_timed_out_message_twilio_has_not_sent_yet_is_still_found(
    db, twilio_settings, reviewer, clock
):
    # Twilio gives a message a DateSent only once it sends it: the DateSent filter misses it
    with FakeTwilio(sends_at_once=False) as fake:
        settings = twilio_settings(TWILIO_API_BASE_URL=fake.url)
        gateway = TwilioGateway(settings)
        try:
            sender = Sender(db, gateway, settings, clock=clock, rand=lambda: 0.5)
            fake.script(ALICE, fake_twilio.slow(2.0))
            draft = await approved(db, reviewer)
            await sender.run()
            clock.advance(1)
            await sender.run()
        finally:
            await gateway.aclose()
        (accepted,) = fake.accepted_to(ALICE)
        assert (await row(db, draft))["provider_sid"] == accepted["sid"]
        assert len(fake.lists()) == 1  # every message to that number, newest first


async def test_500s_that_were_not_taken_are_listed_then_resent(db, sender, fake, reviewer, clock):
    fake.script(ALICE, fake_twilio.SERVER_ERROR)
    draft = await approved(db, reviewer)

    await sender.run()
    clock.advance(1)
    await sender.run()

    assert await status_of(db, draft) == S.SENT
    assert len(fake.lists()) == 1  # looked (one page: nothing to that number) first
    assert len(fake.accepted_to(ALICE)) == 1


# -- re-checks at send time ------------------------------------------------------------------


async def test_a_reply_whose_500_left_it_unconfirmed_is_not_sent_after_the_close(
    db, sender, fake, reviewer, clock
):
    fake.script(ALICE, fake_twilio.SERVER_ERROR)
    draft = await approved(db, reviewer)
    await sender.run()  # maybe at Twilio: the close leaves it to the sender

    await review.close(db, ALICE, reviewer.id)
    clock.advance(31)
    await sender.run()

    assert len(fake.lists()) == 1  # Twilio was asked, and had not taken it
    assert fake.accepted_to(ALICE) == []
    assert await status_of(db, draft) == S.SUPERSEDED
    assert (await thread(db))["state"] == "CLOSED"


async def test_a_paused_thread_holds_the_message_and_resume_sends_it_back_to_review(
    db, sender, fake, reviewer
):
    draft = await approved(db, reviewer)

    def change(conn: Tx) -> Any:  # paused behind review's back: re-checked
        workflow.set_paused(conn, ALICE, paused=True, kind=PauseKind.REVIEWER, reason="take-over")

    await db.write(change)

    await sender.run()
    assert await status_of(db, draft) == S.PAUSED_THREAD
    assert fake.requests == []

    await review.resume_thread(db, ALICE, reviewer.id)
    await sender.run()
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert fake.requests == []


async def test_an_opted_out_thread_holds_the_message(db, sender, fake, reviewer):
    draft = await approved(db, reviewer)

    def change(conn: Tx) -> Any:
        workflow.set_opted_out(conn, ALICE, opted_out=True, source="STOP")

    await db.write(change)

    await sender.run()

    assert await status_of(db, draft) == S.PAUSED_THREAD
    assert fake.requests == []


async def test_a_version_that_is_no_longer_the_latest_is_not_sent(db, sender, fake, reviewer):
    draft = await approved(db, reviewer)
    inbound = (await row(db, draft))["in_reply_to_id"]

    def change(conn: Tx) -> str:  # a newer draft from a stale drafter
        return workflow.create_message(
            conn,
            type=MessageType.DRAFT,
            event=Event.DRAFT_CREATED,
            thread_id=ALICE,
            sender=BUSINESS,
            receiver=ALICE,
            body="A newer answer",
            in_reply_to_id=inbound,
        )

    newer = await db.write(change)

    await sender.run()

    message = await row(db, draft)
    assert (message["status"], message["superseded_by"]) == (S.SUPERSEDED, newer)
    assert fake.requests == []


async def test_a_customer_who_wrote_again_sends_the_reply_back_to_review(
    db, sender, fake, reviewer
):
    draft = await approved(db, reviewer)
    await make_inbound(db, ALICE, "Actually, what about Sunday?")

    await sender.run()

    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    (entry,) = await db.all(
        sql("SELECT metadata FROM audit_log WHERE message_id = :id AND event = :event"),
        id=draft,
        event=Event.CUSTOMER_WROTE_AGAIN,
    )
    assert json.loads(entry["metadata"])["reason"] == "customer wrote again"
    assert fake.requests == []


async def approval_metadata(db: Store, message_id: str) -> list[dict[str, Any]]:
    rows = await db.all(
        sql("SELECT metadata FROM audit_log WHERE message_id = :id AND event = :event ORDER BY id"),
        id=message_id,
        event=Event.APPROVE,
    )
    return [json.loads(r["metadata"]) for r in rows]


async def test_a_reply_approved_again_after_review_gets_all_six_attempts_again(
    db, sender, fake, reviewer, clock
):
    # DESIGN: 6 attempts per approval. Five 429s spend five, then the customer writes again
    fake.script(ALICE, *[fake_twilio.TOO_MANY] * 5)
    draft = await approved(db, reviewer)
    for _ in range(5):
        await sender.run()
        clock.advance(30)
    assert len(fake.creates(ALICE)) == 5
    await make_inbound(db, ALICE, "Actually, what about Sunday?")
    await sender.run()
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL

    # approved again: five more 429s, and the sixth attempt of this approval is taken
    fake.script(ALICE, *[fake_twilio.TOO_MANY] * 5)
    await review.approve(db, draft, review.Decision(reviewer.id, DecisionChannel.WEB))
    for _ in range(6):
        await sender.run()
        clock.advance(30)

    assert await status_of(db, draft) == S.SENT
    assert len(fake.creates(ALICE)) == 11 and len(fake.accepted_to(ALICE)) == 1
    # the earlier approval's attempts stay on record
    assert (await events(db, draft)).count("Send Retry Scheduled") == 10
    first, second = await approval_metadata(db, draft)
    assert "earlier_send_attempts" not in first
    assert second["earlier_send_attempts"] == 5


async def test_a_reply_left_unconfirmed_keeps_its_attempts_when_approved_again(
    db, sender, fake, reviewer, clock
):
    fake.script(ALICE, fake_twilio.SERVER_ERROR)  # maybe at Twilio
    draft = await approved(db, reviewer)
    await sender.run()
    await make_inbound(db, ALICE, "Actually, what about Sunday?")
    clock.advance(1)
    await sender.run()  # Twilio is asked, has nothing: back to review, still unconfirmed
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL

    await review.approve(db, draft, review.Decision(reviewer.id, DecisionChannel.WEB))
    assert (await row(db, draft))["send_attempts"] == 1
    assert "earlier_send_attempts" not in (await approval_metadata(db, draft))[-1]
    await sender.run()

    # asked again before the send, and sent once
    assert len(fake.lists()) == 2 and len(fake.accepted_to(ALICE)) == 1
    assert await status_of(db, draft) == S.SENT


async def whatsapp_thread(db: Store, reviewer) -> str:
    number = "+14155550177"

    def change(conn: Tx) -> str:
        workflow.open_conversation(conn, number, Channel.WHATSAPP)
        return workflow.create_message(
            conn,
            type=MessageType.INBOUND,
            event=Event.STORED,
            thread_id=number,
            sender=f"whatsapp:{number}",
            receiver=f"whatsapp:{BUSINESS}",
            body="hola",
            channel=Channel.WHATSAPP,
        )

    inbound = await db.write(change)
    draft = await make_draft(db, inbound, "¡Hola!")
    await review.approve(db, draft, review.Decision(reviewer.id, DecisionChannel.WEB))
    return draft


async def test_whatsapp_within_24_hours_is_sent_from_the_whatsapp_number(
    db, sender, fake, reviewer
):
    draft = await whatsapp_thread(db, reviewer)

    await sender.run()

    assert await status_of(db, draft) == S.SENT
    (request,) = fake.creates()
    assert request.params["To"] == ["whatsapp:+14155550177"]
    assert request.params["From"] == [f"whatsapp:{BUSINESS}"]


async def test_whatsapp_after_24_hours_goes_back_to_review_with_the_reason(
    db, sender, fake, reviewer, clock
):
    draft = await whatsapp_thread(db, reviewer)
    clock.advance(25 * 3600)

    await sender.run()

    # issue 14: "sends the reply back to review with that reason and the template offer"
    message = await row(db, draft)
    assert (message["status"], message["error_code"]) == (S.DRAFT_PENDING_APPROVAL, 63016)
    assert "24 hours" in message["error_message"]
    assert "WhatsApp templates" in message["error_message"]
    assert fake.requests == []


# -- never twice ---------------------------------------------------------------------------


async def claim_and_die(sender: Sender) -> None:
    """Claim as a pass does, then stop: what a process killed mid-send leaves behind."""
    await sender._claim(10)


async def test_a_stale_claim_found_at_twilio_is_recorded_not_resent(
    db, sender, gateway, fake, reviewer, clock
):
    draft = await approved(db, reviewer)
    await claim_and_die(sender)
    await gateway.send(OutgoingSms(ALICE, "Yes, 9 to 5."))  # the dead process's send went out

    await sender.run()  # the lease has not run out: nothing happens
    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    clock.advance(6)
    await sender.run()

    (accepted,) = fake.accepted_to(ALICE)
    message = await row(db, draft)
    assert (message["status"], message["provider_sid"]) == (S.SENT, accepted["sid"])
    assert message["send_attempts"] == 1


async def test_a_stale_claim_twilio_never_got_is_sent(db, sender, fake, reviewer, clock):
    draft = await approved(db, reviewer)
    await claim_and_die(sender)
    clock.advance(6)

    await sender.run()

    assert await status_of(db, draft) == S.SENT
    assert len(fake.accepted_to(ALICE)) == 1
    assert (await row(db, draft))["send_attempts"] == 2


async def test_a_stale_claim_waits_while_twilio_cannot_be_asked(db, sender, fake, reviewer, clock):
    draft = await approved(db, reviewer)
    await claim_and_die(sender)
    clock.advance(6)
    fake.fail_lists(1)

    await sender.run()
    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    assert fake.creates() == []

    clock.advance(2)  # the next tick
    await sender.run()
    assert await status_of(db, draft) == S.SENT
    assert len(fake.accepted_to(ALICE)) == 1


async def test_a_stale_claim_on_a_thread_paused_since_is_held_unless_twilio_has_it(
    db, sender, fake, reviewer, clock
):
    draft = await approved(db, reviewer)
    await claim_and_die(sender)
    await review.pause_thread(db, ALICE, "take-over", reviewer.id)
    # the reviewer's pause left the claimed message to the sender
    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    clock.advance(6)

    await sender.run()

    assert await status_of(db, draft) == S.PAUSED_THREAD
    assert fake.creates() == []


async def test_a_pause_while_the_send_is_in_flight_records_the_send(db, sender, fake, reviewer):
    fake.script(ALICE, fake_twilio.HELD)
    draft = await approved(db, reviewer)
    run = asyncio.create_task(sender.run())
    await asyncio.to_thread(fake.wait_accepted, 1)

    await review.pause_thread(db, ALICE, "take-over", reviewer.id)
    fake.release()
    await run

    # it was already in Twilio's hands: the record says so, and the thread is paused
    assert await status_of(db, draft) == S.SENT
    assert (await thread(db))["paused"] == 1


# -- a takeover: the bot's approved replies wait for the holder ---------------------------


async def test_a_takeover_holds_the_bots_approved_reply_and_the_release_gives_it_to_review(
    db, sender, fake, reviewer
):
    draft = await approved(db, reviewer)  # approved a moment before Bob takes the thread
    bob = await make_reviewer(db, "Bob")

    await review.take_over(db, ALICE, bob.id)
    await sender.run()
    assert fake.requests == []  # nothing crosses what Bob writes
    assert await status_of(db, draft) == S.PAUSED_THREAD
    (entry,) = await db.all(
        sql("SELECT metadata FROM audit_log WHERE message_id = :id AND event = :event"),
        id=draft,
        event=Event.HELD,
    )
    assert json.loads(entry["metadata"])["reason"] == "the thread was taken over"

    await review.release(db, ALICE, bob.id)
    await sender.run()
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL  # decided again, not sent
    assert fake.requests == []


async def test_what_the_holder_writes_or_approves_on_a_taken_over_thread_goes(
    db, sender, fake, reviewer
):
    held = await approved(db, reviewer)
    await review.take_over(db, ALICE, reviewer.id)
    mine = await review.write_reply(db, ALICE, "Calling you now.", reviewer.id, in_reply_to_id=None)
    await sender.run()
    assert [m["body"] for m in fake.accepted_to(ALICE)] == ["Calling you now."]
    assert (await status_of(db, mine), await status_of(db, held)) == (S.SENT, S.SUPERSEDED)

    later = await approved(db, reviewer, body="See you at 3.")  # a draft the holder approves
    await sender.run()
    assert await status_of(db, later) == S.SENT
    assert [m["body"] for m in fake.accepted_to(ALICE)] == ["Calling you now.", "See you at 3."]


async def test_a_reply_left_unconfirmed_before_a_takeover_is_held_not_sent_after_it(
    db, sender, fake, reviewer, clock
):
    fake.script(ALICE, fake_twilio.SERVER_ERROR)
    draft = await approved(db, reviewer)
    await sender.run()  # maybe at Twilio: the takeover leaves it to the sender
    await review.take_over(db, ALICE, reviewer.id)
    assert await status_of(db, draft) == S.APPROVED_TO_SEND

    clock.advance(31)
    await sender.run()

    assert len(fake.lists()) == 1  # Twilio was asked, and had not taken it
    assert fake.accepted_to(ALICE) == []
    assert await status_of(db, draft) == S.PAUSED_THREAD


async def test_two_senders_on_one_database_send_each_message_once(
    db, twilio_settings, fake, reviewer
):
    # two instances' senders: on PostgreSQL their claims run at once, on different connections
    settings = twilio_settings(SEND_CONCURRENCY="3")
    drafts = [await approved(db, reviewer, f"+1415555030{n}", f"answer {n}") for n in range(8)]
    gateways = [TwilioGateway(settings), TwilioGateway(settings)]
    try:
        senders = [Sender(db, gateway, settings) for gateway in gateways]
        await asyncio.gather(*(sender.run() for sender in senders))
    finally:
        for gateway in gateways:
            await gateway.aclose()
    assert sorted(m["body"] for m in fake.accepted) == [f"answer {n}" for n in range(8)]
    assert len(fake.creates()) == 8
    assert [await status_of(db, draft) for draft in drafts] == [S.SENT] * 8


async def test_a_row_one_claim_holds_is_skipped_by_another_claim_at_the_same_time(
    db, backend, reviewer
):
    if backend != "postgres":
        pytest.skip("SQLite runs one write transaction at a time")
    for n in range(6):
        await approved(db, reviewer, f"+1415555030{n}")
    now = datetime.now(UTC)
    both_read = threading.Barrier(2, timeout=10)

    def claim(conn: Tx) -> set[str]:
        due = sending_rows.due(
            conn, now=now.isoformat(), stale_before=(now - timedelta(minutes=5)).isoformat(), room=3
        )
        both_read.wait()  # each has read (and locked) its rows while the other holds its own
        for found in due:
            sending_rows.ATTEMPTS.claim(
                conn, found["id"], claimed_at=now.isoformat(), attempts=1, unconfirmed=None
            )
        return {found["id"] for found in due}

    first, second = await asyncio.gather(db.write(claim), db.write(claim))
    assert len(first) == len(second) == 3 and not first & second
    # claimed, they are due to nobody until their lease runs out
    assert await db.write(claim_nothing(now)) == []


def claim_nothing(now: datetime) -> Callable[[Tx], list[Any]]:
    def due(conn: Tx) -> list[Any]:
        stale_before = (now - timedelta(minutes=5)).isoformat()
        return sending_rows.due(conn, now=now.isoformat(), stale_before=stale_before, room=10)

    return due


# -- the job ---------------------------------------------------------------------------------


async def test_a_wake_while_the_job_runs_is_not_lost(db, twilio_settings, fake, reviewer):
    settings = twilio_settings(SEND_POLL_SECONDS="3600")
    gateway = TwilioGateway(settings)
    scheduler = build_scheduler()
    sender = Sender(db, gateway, settings)
    fake.script(ALICE, fake_twilio.HELD)
    try:
        first = await approved(db, reviewer, ALICE)
        sender.schedule(scheduler)
        scheduler.start()
        await asyncio.to_thread(fake.wait_accepted, 1)  # the job is running, its send held

        second = await approved(db, reviewer, BOB)
        wake_sender(scheduler)
        await asyncio.to_thread(fake.wait_accepted, 2)  # sent while the first still waits
        assert await status_of(db, first) == S.APPROVED_TO_SEND
        fake.release()
        for _ in range(200):
            if await status_of(db, second) == S.SENT and await status_of(db, first) == S.SENT:
                break
            await asyncio.sleep(0.05)
        assert await status_of(db, second) == S.SENT
        assert await status_of(db, first) == S.SENT
        assert scheduler.get_job(SENDER_JOB_ID) is not None
    finally:
        scheduler.shutdown(wait=False)
        await sender.stop()
        await gateway.aclose()


async def test_concurrency_is_bounded(db, twilio_settings, fake, reviewer):
    settings = twilio_settings(SEND_CONCURRENCY="2")
    gateway = TwilioGateway(settings)
    numbers = [f"+1415555020{i}" for i in range(5)]
    for number in numbers:
        fake.script(number, fake_twilio.HELD)
        await approved(db, reviewer, number)
    sender = Sender(db, gateway, settings)
    run = asyncio.create_task(sender.run())
    try:
        await asyncio.to_thread(fake.wait_accepted, 2)
        await asyncio.sleep(0.3)
        assert len(fake.accepted) == 2  # the third waits for a free slot
    finally:
        fake.release()
        await run
        await gateway.aclose()
    assert len(fake.accepted) == 5


# -- the notification outbox -------------------------------------------------------------------


async def notify(db: Store, reviewer_id: int, body: str) -> int:
    def change(conn: Tx) -> int:
        return insert_notification(
            conn, reviewer_id, body, "PENDING", datetime.now(UTC).isoformat()
        )

    return await db.write(change)


async def notification(db: Store, notification_id: int) -> Any:
    return await db.one(sql("SELECT * FROM notifications WHERE id = :id"), id=notification_id)


async def test_a_notification_goes_to_the_reviewer_without_a_status_callback(
    db, sender, fake, reviewer
):
    note = await notify(db, reviewer.id, "New draft 7F3K: reply A 7F3K to approve")

    await sender.run()

    (request,) = fake.creates()
    assert request.params["To"] == [reviewer.phone]
    assert "StatusCallback" not in request.params
    sent = await notification(db, note)
    assert sent["status"] == "SENT"
    assert sent["provider_sid"] == fake.accepted[0]["sid"]
    (entry,) = await db.all(sql("SELECT * FROM audit_log WHERE event = 'Notification Sent'"))
    assert json.loads(entry["metadata"])["notification_id"] == note


async def test_a_notification_is_retried_like_a_message(db, sender, fake, reviewer, clock):
    fake.script(reviewer.phone, fake_twilio.TOO_MANY)
    note = await notify(db, reviewer.id, "hello")

    await sender.run()
    assert (await notification(db, note))["status"] == "PENDING"
    clock.advance(1)
    await sender.run()

    assert (await notification(db, note))["status"] == "SENT"
    assert len(fake.accepted_to(reviewer.phone)) == 1


async def test_a_notification_a_slow_answer_left_unconfirmed_is_not_sent_twice(
    db, sender, fake, reviewer, clock
):
    fake.script(reviewer.phone, fake_twilio.slow(2.0))
    note = await notify(db, reviewer.id, "hello")

    await sender.run()
    clock.advance(1)
    await sender.run()

    assert (await notification(db, note))["status"] == "SENT"
    assert len(fake.accepted_to(reviewer.phone)) == 1


async def test_a_notification_to_a_reviewer_who_takes_no_texts_is_held(db, sender, fake):
    quiet = await make_reviewer(db, "Bo")  # no phone
    note = await notify(db, quiet.id, "hello")

    await sender.run()

    assert (await notification(db, note))["status"] == "HELD"
    assert fake.requests == []


async def test_a_notification_refused_by_twilio_fails(db, sender, fake, reviewer):
    fake.script(reviewer.phone, fake_twilio.INVALID_TO)
    note = await notify(db, reviewer.id, "hello")

    await sender.run()

    failed = await notification(db, note)
    assert (failed["status"], failed["error_code"]) == ("FAILED", 21211)


# -- the sandbox -------------------------------------------------------------------------------


async def test_the_sandbox_records_what_it_sent_and_finds_it_again(db, make_settings, reviewer):
    settings = make_settings()
    gateway = SandboxGateway(db)
    draft = await approved(db, reviewer)

    await Sender(db, gateway, settings).run()

    message = await row(db, draft)
    assert message["status"] == S.SENT
    (sent,) = await db.all(sql("SELECT * FROM sandbox_messages"))
    assert (sent["sid"], sent["to_address"], sent["body"]) == (
        message["provider_sid"],
        ALICE,
        "Yes, 9 to 5.",
    )
    since = datetime.now(UTC) - timedelta(minutes=1)
    found = await gateway.find_sent(ALICE, "Yes, 9 to 5.", since)
    assert found is not None and found.sid == sent["sid"]
    assert await gateway.find_sent(ALICE, "something else", since) is None


async def test_start_after_a_21610_opt_out_lifts_the_pause_and_brings_held_replies_back(
    db, sender, fake, reviewer
):
    # Twilio answers the send with 21610 only once the customer has written again
    fake.script(ALICE, dataclasses.replace(fake_twilio.OPTED_OUT, hold=True))
    first = await approved(db, reviewer)
    sending = asyncio.create_task(sender.run())
    async with asyncio.timeout(10):
        while not fake.creates(ALICE):
            await asyncio.sleep(0.01)
    # the customer wrote again while the reply was in flight: a new draft waits for review
    second = await make_draft(db, await make_inbound(db, ALICE, "And on Sunday?"), "Closed.")
    fake.release()
    await sending
    assert (await row(db, first))["error_code"] == 21610
    assert await status_of(db, second) == S.PAUSED_THREAD
    paused = await thread(db)
    assert (paused["opted_out"], paused["paused"], paused["pause_kind"]) == (1, 1, "opt_out")

    start = InboundSms("SM" + "5" * 32, ALICE, BUSINESS, "START", Channel.SMS)
    assert (await inbound.receive_sms(db, start)).outcome is inbound.Outcome.OPTED_IN

    opted_in = await thread(db)
    assert (opted_in["opted_out"], opted_in["paused"], opted_in["pause_kind"]) == (0, 0, None)
    assert await status_of(db, second) == S.DRAFT_PENDING_APPROVAL
