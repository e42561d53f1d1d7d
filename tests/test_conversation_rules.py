"""The original conversation rules as pure functions: a table of every branch of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from approval_bot.conversation_rules import (
    AppointmentStatus,
    Contact,
    PauseCause,
    new_contact,
    next_appointment,
    next_status,
)
from approval_bot.understanding import AppointmentIntent, Understanding, UnderstandingSource

NONE, INVITED, BOOKED = AppointmentStatus.NONE, AppointmentStatus.INVITED, AppointmentStatus.BOOKED
AT = "2026-12-05T09:30:00+00:00"
LATER = "2026-12-12T11:00:00+00:00"


def understood(
    *,
    soft_no: bool = False,
    confused: bool = False,
    opt_out: bool = False,
    appointment: AppointmentIntent = AppointmentIntent.NONE,
    at: str | None = None,
    intent: str = "other",
) -> Understanding:
    return Understanding(
        intent=intent,
        appointment_intent=appointment,
        appointment_at=at,
        soft_no=soft_no,
        confused=confused,
        opt_out_request=opt_out,
        source=UnderstandingSource.BUILTIN,
    )


# (opted out, understanding, soft-no count, confusion count) -> (cause, reason or None)
STATUS_CASES = [
    # "an opted-out thread stays opted out": whatever the text, nothing more happens
    (True, understood(opt_out=True), 0, 0, None, None),
    (True, understood(soft_no=True), 2, 0, None, None),
    # "an opt_out_request holds the thread", with "asked to stop: <the text>"
    (False, understood(opt_out=True), 0, 0, PauseCause.OPT_OUT_REQUEST, "asked to stop: T"),
    (False, understood(opt_out=True, soft_no=True), 2, 0, PauseCause.OPT_OUT_REQUEST, None),
    # "soft_no_count >= 2 ... pauses the thread with a reason that names the cause"
    (False, understood(soft_no=True), 2, 0, PauseCause.SOFT_NO, "soft no"),
    (False, understood(soft_no=True), 3, 0, PauseCause.SOFT_NO, "soft no"),
    (False, understood(soft_no=True), 1, 0, None, None),
    # "confusion_count >= 2"
    (False, understood(confused=True), 0, 2, PauseCause.CONFUSION, "confusion"),
    (False, understood(confused=True), 0, 1, None, None),
    # a counter at 2 is read when this text raised it: an ordinary text after a resume
    (False, understood(), 2, 2, None, None),
    (False, understood(confused=True), 2, 1, None, None),
    # "otherwise no change"
    (False, understood(), 0, 0, None, None),
]


@pytest.mark.parametrize(("opted_out", "text", "soft", "confused", "cause", "reason"), STATUS_CASES)
def test_status_rule(opted_out, text, soft, confused, cause, reason):
    change = next_status(
        opted_out=opted_out,
        understanding=text,
        text="T",
        soft_no_count=soft,
        confusion_count=confused,
    )
    assert change.cause == cause
    if cause is None:
        assert change.reason is None
    elif reason is not None:
        assert reason in (change.reason or "")


def test_a_counter_pause_names_its_count():
    change = next_status(
        opted_out=False,
        understanding=understood(soft_no=True),
        text="no",
        soft_no_count=2,
        confusion_count=0,
    )
    assert change.reason == "soft no: 2 polite refusals in this contact"


SPECIFIC, VAGUE = AppointmentIntent.SPECIFIC, AppointmentIntent.VAGUE

# (status, at, understanding, booking asked before) -> (status, at)
APPOINTMENT_CASES = [
    # "BOOKED stays BOOKED", with its time, whatever the text
    (BOOKED, AT, understood(appointment=SPECIFIC, at=LATER), False, BOOKED, AT),
    (BOOKED, AT, understood(appointment=VAGUE, intent="booking"), True, BOOKED, AT),
    # "specific -> BOOKED (with appointment_at)", from NONE or INVITED
    (NONE, None, understood(appointment=SPECIFIC, at=AT), False, BOOKED, AT),
    (INVITED, None, understood(appointment=SPECIFIC, at=AT), False, BOOKED, AT),
    # "NONE and vague with a booking intent -> INVITED": the text's own intent or the last one's
    (NONE, None, understood(appointment=VAGUE, intent="booking"), False, INVITED, None),
    (NONE, None, understood(appointment=VAGUE), True, INVITED, None),
    # "otherwise unchanged"
    (NONE, None, understood(appointment=VAGUE), False, NONE, None),
    (INVITED, None, understood(appointment=VAGUE), True, INVITED, None),
    (NONE, None, understood(intent="booking"), True, NONE, None),
    (INVITED, None, understood(), False, INVITED, None),
]


@pytest.mark.parametrize(("status", "at", "text", "asked", "to", "to_at"), APPOINTMENT_CASES)
def test_appointment_rule(status, at, text, asked, to, to_at):
    assert next_appointment(status, at, text, booking_asked=asked) == (to, to_at)


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BEFORE = Contact(
    contact_count=1,
    soft_no_count=1,
    confusion_count=1,
    appointment_status=BOOKED,
    appointment_at=(NOW + timedelta(days=1)).isoformat(),
)


def test_a_new_contact_is_counted():
    assert new_contact(BEFORE, NOW).contact_count == 2


def test_a_new_contact_resets_the_soft_no_count():
    assert new_contact(BEFORE, NOW).soft_no_count == 0


def test_a_new_contact_resets_the_confusion_count():
    assert new_contact(BEFORE, NOW).confusion_count == 0


def test_a_booking_still_ahead_is_kept():
    after = new_contact(BEFORE, NOW)
    assert (after.appointment_status, after.appointment_at) == (BOOKED, BEFORE.appointment_at)


def test_a_booking_past_is_dropped():
    past = Contact(1, 0, 0, BOOKED, (NOW - timedelta(minutes=1)).isoformat())
    after = new_contact(past, NOW)
    assert (after.appointment_status, after.appointment_at) == (NONE, None)


def test_an_invitation_is_dropped():
    invited = Contact(3, 0, 0, INVITED, None)
    after = new_contact(invited, NOW)
    assert (after.contact_count, after.appointment_status) == (4, NONE)
