"""A history with a message in every status, a conversation in every state, every pause kind,
every appointment status, a taken-over thread and a WhatsApp thread whose window has closed.

The page tests render it and look for a raw enum value; the browser tests shoot it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from approval_bot import accounts, message_templates, review, workflow
from approval_bot.conversation_rules import AppointmentStatus
from approval_bot.models import (
    Channel,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
    Role,
)
from approval_bot.store import Priority, Store, Tx

from .builders import BUSINESS, _store_draft, make_draft, make_drafted_inbound, make_inbound

S = MessageStatus
SENT, FAILED, EDITED, PAUSED, ESCALATED, OPTED_OUT, ARCHIVED, WAITING, APPROVED = (
    f"+1415555{n:04d}" for n in range(7001, 7010)
)
CLOSED, TAKEN, STOP_ASKED, UNSURE, BOOKED, WHATSAPP, CLAIMED = (
    f"+1415555{n:04d}" for n in range(7010, 7017)
)


@dataclass(frozen=True)
class Seeded:
    pending_draft: str  # a draft in the queue
    sent_thread: str = SENT
    opted_out_thread: str = OPTED_OUT


async def seed_every_status(db: Store, reviewer_id: int) -> Seeded:
    """Threads whose messages, conversations and pauses cover every value the pages show."""
    by = review.Decision(reviewer_id, DecisionChannel.WEB, notes="looks right")
    by_text = review.Decision(reviewer_id, DecisionChannel.SMS)

    # approved, then sent and delivered
    sent = await make_drafted_inbound(db, SENT, "Are you open on Saturday?", "Yes, 9 to 5.")
    await review.approve(db, sent, by)
    # approved, then refused by Twilio
    failed = await make_drafted_inbound(db, FAILED, "How much is a beard trim?", "It is $15.")
    await review.approve(db, failed, by_text)

    def send_outcomes(conn: Tx) -> None:
        workflow.change_status(
            conn,
            sent,
            expected=S.APPROVED_TO_SEND,
            target=S.SENT,
            event=Event.SEND_ACCEPTED,
            provider_sid="SM" + "a" * 32,
            delivery_status="delivered",
        )
        workflow.change_status(
            conn,
            failed,
            expected=S.APPROVED_TO_SEND,
            target=S.FAILED_SEND,
            event=Event.SEND_FAILED,
            error_code=21211,
            error_message="Invalid 'To' Phone Number",
        )

    await db.write(send_outcomes, priority=Priority.DECISION)
    # approved, not sent yet (a running sender sends it)
    approved = await make_drafted_inbound(db, APPROVED, "Do you sell gift cards?", "We do.")
    await review.approve(db, approved, by)

    # edited (the first version superseded), then the new version rejected: needs a reply
    first = await make_drafted_inbound(db, EDITED, "Where are you?", "At 1 Main St.")
    second = await review.edit(db, first, "We are at 1 Main Street.", by, approve=False)
    await review.reject(db, second, review.Decision(reviewer_id, DecisionChannel.API, "wrong"))

    # a reviewer's pause holds a pending draft
    await make_drafted_inbound(db, PAUSED, "Can I book for tomorrow at 3?", "Yes, see you.")
    await review.pause_thread(db, PAUSED, "owner will call", reviewer_id)

    def held_text(conn: Tx) -> None:
        workflow.create_message(
            conn,
            type=MessageType.INBOUND,
            event=Event.HELD,
            thread_id=PAUSED,
            sender=PAUSED,
            receiver=BUSINESS,
            body="Hello? Anyone there?",
        )
        workflow.flag_conversation(conn, PAUSED, "a message on a paused thread")

    await db.write(held_text, priority=Priority.BULK)

    # an escalation: paused and needs a person
    await make_drafted_inbound(db, ESCALATED, "This is the worst service ever", "Sorry.")
    await review.escalate(db, ESCALATED, "angry customer", reviewer_id)

    # the customer opted out: their pause is the opt-out's
    await make_drafted_inbound(db, OPTED_OUT, "Thanks!", "You are welcome.")

    def opt_out(conn: Tx) -> None:
        workflow.set_opted_out(conn, OPTED_OUT, opted_out=True, source="keyword")
        review.hold_thread(conn, OPTED_OUT, "opt-out", None, kind=PauseKind.OPT_OUT)

    await db.write(opt_out, priority=Priority.BULK)

    # an idle thread, archived
    await make_inbound(db, ARCHIVED, "ok")

    def archive(conn: Tx) -> None:
        workflow.change_conversation_state(
            conn,
            ARCHIVED,
            expected=ConversationState.ACTIVE,
            target=ConversationState.ARCHIVED,
            event=ConversationEvent.ARCHIVED,
            reason="no activity for 72 hours",
        )

    await db.write(archive, priority=Priority.BULK)

    # and one plain draft waiting in the queue, on a customer just received
    waiting = await make_inbound(db, WAITING, "Hi, do you do kids' haircuts?")
    pending = await make_draft(db, waiting, "Yes, from age 3.")
    await make_inbound(db, WAITING, "And on Sundays?")  # RECEIVED, not drafted yet

    await _seed_issue_12_to_14(db, reviewer_id)
    await _seed_claim(db)
    return Seeded(pending_draft=pending)


def _held(thread_id: str, kind: PauseKind, reason: str, conn: Tx) -> None:
    review.hold_thread(conn, thread_id, reason, None, kind=kind)
    workflow.flag_conversation(conn, thread_id, reason)


async def _seed_issue_12_to_14(db: Store, reviewer_id: int) -> None:
    """A closed conversation, a taken-over thread, the rules' pauses, the appointment
    statuses, and a WhatsApp card past its 24-hour window with a template to offer."""
    await make_drafted_inbound(db, CLOSED, "All sorted, thanks", "Glad to help.")
    await review.close(db, CLOSED, reviewer_id)
    await make_drafted_inbound(db, TAKEN, "Can I change my booking?", "Yes: which day?")
    await review.take_over(db, TAKEN, reviewer_id)

    await make_drafted_inbound(db, STOP_ASKED, "please stop texting me", "Sorry.")
    await db.write(
        lambda conn: _held(
            STOP_ASKED, PauseKind.OPT_OUT_REQUEST, "asked to stop: please stop texting me", conn
        ),
        priority=Priority.BULK,
    )
    await make_drafted_inbound(db, UNSURE, "what? I don't get it", "Let me explain.")
    await db.write(
        lambda conn: _held(
            UNSURE, PauseKind.COUNTERS, "confusion: 2 confused texts in this contact", conn
        ),
        priority=Priority.BULK,
    )

    await make_drafted_inbound(db, BOOKED, "9:30 Saturday works", "See you then.")
    ahead = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="microseconds")

    def appointments(conn: Tx) -> None:
        workflow.set_appointment(
            conn,
            BOOKED,
            expected=AppointmentStatus.NONE,
            status=AppointmentStatus.BOOKED,
            at=ahead,
        )
        workflow.set_appointment(
            conn,
            TAKEN,
            expected=AppointmentStatus.NONE,
            status=AppointmentStatus.INVITED,
            at=None,
        )

    await db.write(appointments, priority=Priority.BULK)

    await message_templates.save(
        db,
        "booking_news",
        message_templates.Change(
            "Hi {customer_name}, we have news about your booking.",
            channel="whatsapp",
            content_sid="HX" + "b" * 32,
        ),
        None,
        Role.REVIEWER,
    )

    def late_whatsapp(conn: Tx) -> None:
        workflow.open_conversation(conn, WHATSAPP, Channel.WHATSAPP)
        inbound = workflow.create_message(
            conn,
            type=MessageType.INBOUND,
            event=Event.STORED,
            thread_id=WHATSAPP,
            sender=f"whatsapp:{WHATSAPP}",
            receiver=f"whatsapp:{BUSINESS}",
            body="hola, ¿abren el sábado?",
            channel=Channel.WHATSAPP,
        )
        # the customer wrote 25 hours ago: the window has closed
        at = (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="microseconds")
        conn.execute("UPDATE messages SET timestamp = ? WHERE id = ?", (at, inbound))
        _store_draft(inbound, "¡Hola! Sí, de 9 a 5.", conn)

    await db.write(late_whatsapp, priority=Priority.DRAFT)


async def _seed_claim(db: Store) -> None:
    """A queue card another reviewer is editing (issue 15): its claim outlives the tests."""
    claire = await accounts.add_reviewer(
        db, "Claire", phone=None, password="correct horse battery", role=Role.REVIEWER
    )
    draft = await make_drafted_inbound(db, CLAIMED, "Do you have parking?", "Yes, round the back.")
    await review.claim(db, draft, claire.id, 480)
