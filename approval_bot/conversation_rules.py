"""The original conversation rules, as pure functions: what a text does to its thread.

`next_status` decides whether an understood text holds or pauses the thread;
`next_appointment` moves the appointment on. `new_contact` says what a text on an
archived conversation keeps and resets. The workflow funnel applies their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .understanding import AppointmentIntent, Understanding

# the counters pause the thread at this many flagged texts in one contact
PAUSE_AT = 2
BOOKING_INTENT = "booking"


class PauseCause(StrEnum):
    """What paused a thread by the rules; also the metric's label."""

    SOFT_NO = "soft_no"
    CONFUSION = "confusion"
    OPT_OUT_REQUEST = "opt_out_request"


class AppointmentStatus(StrEnum):
    NONE = "NONE"
    INVITED = "INVITED"
    BOOKED = "BOOKED"


@dataclass(frozen=True)
class StatusChange:
    """What the status rule asks for: nothing (cause None), or a hold with its reason."""

    cause: PauseCause | None = None
    reason: str | None = None


NO_CHANGE = StatusChange()


def opt_out_request_reason(text: str) -> str:
    """The pause reason of an opt-out in plain words: the customer's own text."""
    return f"asked to stop: {text}"


def next_status(
    *,
    opted_out: bool,
    understanding: Understanding,
    text: str,
    soft_no_count: int,
    confusion_count: int,
) -> StatusChange:
    """The status rule for one understood text; the counts include this text.

    An opted-out thread stays opted out (nothing more to do); an opt-out request holds the
    thread; two soft refusals or two confused texts in a contact pause it. The counters
    are read when the text raised them, so a reviewer's resume holds until the next one.
    """
    if opted_out:
        return NO_CHANGE
    if understanding.opt_out_request:
        return StatusChange(PauseCause.OPT_OUT_REQUEST, opt_out_request_reason(text))
    if understanding.soft_no and soft_no_count >= PAUSE_AT:
        return StatusChange(
            PauseCause.SOFT_NO, f"soft no: {soft_no_count} polite refusals in this contact"
        )
    if understanding.confused and confusion_count >= PAUSE_AT:
        return StatusChange(
            PauseCause.CONFUSION, f"confusion: {confusion_count} confused texts in this contact"
        )
    return NO_CHANGE


def next_appointment(
    status: AppointmentStatus,
    at: str | None,
    understanding: Understanding,
    *,
    booking_asked: bool,
) -> tuple[AppointmentStatus, str | None]:
    """The appointment rule: BOOKED stays; a specific time books; a vague wish invites.

    `booking_asked`: this text or the customer's previous one in the contact asks to book.
    """
    if status is AppointmentStatus.BOOKED:
        return status, at
    if understanding.appointment_intent is AppointmentIntent.SPECIFIC:
        return AppointmentStatus.BOOKED, understanding.appointment_at
    if (
        status is AppointmentStatus.NONE
        and understanding.appointment_intent is AppointmentIntent.VAGUE
        and (booking_asked or understanding.intent == BOOKING_INTENT)
    ):
        return AppointmentStatus.INVITED, None
    return status, at


@dataclass(frozen=True)
class Contact:
    """The transient fields of a conversation, which a new contact resets."""

    contact_count: int
    soft_no_count: int
    confusion_count: int
    appointment_status: AppointmentStatus
    appointment_at: str | None


def new_contact(current: Contact, now: datetime) -> Contact:
    """The next contact after an archived one: counted, counters reset, a past booking
    dropped; a booking still ahead is kept. Facts, opt-out and directives are not here:
    they stay."""
    keep = (
        current.appointment_status is AppointmentStatus.BOOKED
        and current.appointment_at is not None
        and datetime.fromisoformat(current.appointment_at) > now
    )
    return Contact(
        contact_count=current.contact_count + 1,
        soft_no_count=0,
        confusion_count=0,
        appointment_status=current.appointment_status if keep else AppointmentStatus.NONE,
        appointment_at=current.appointment_at if keep else None,
    )
