"""The inbound pipeline: parse what Twilio posted, dedupe, route, apply keywords and pauses, store.

`parse_sms` and `parse_call` are pure. `receive_sms` and `receive_missed_call` write in
one transaction and return what the caller should do next (draft or not); drafting itself
happens later, after the webhook has answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from . import audit, auto_replies, draft_notices, events, review, workflow, worklists
from . import conversation_rules as rules
from .conversation_rules import BOOKING_INTENT
from .keywords import Keyword, detect
from .message_templates import Trigger
from .models import (
    Actor,
    Channel,
    ConversationEvent,
    ConversationState,
    Event,
    MessageType,
    PauseKind,
    now_iso,
)
from .numbers import whole_number
from .phones import WHATSAPP_PREFIX, InvalidPhone, parse_address
from .store import Priority, Store, Tx, conversations, inbound_dedupe, missed_calls
from .store import messages as message_rows
from .store import reviewers as reviewer_rows
from .twilio_params import MAX_MEDIA
from .understanding import Understanding, understand

UTC_ZONE = ZoneInfo("UTC")

SMS_PROVIDER = "twilio-sms"
VOICE_PROVIDER = "twilio-voice"
# repeated calls from one number within this window make one text-back draft
MISSED_CALL_WINDOW = timedelta(minutes=15)
OPT_OUT_REASON = review.OPT_OUT_REASON
DEFAULT_OVERRIDE_SECONDS = 60.0  # HUMAN_OVERRIDE_WINDOW_SECONDS' default


class BadInbound(ValueError):
    """A webhook's parameters that cannot be a Twilio message or call; the message says why."""


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    sender: str  # as Twilio wrote it: +E164 or whatsapp:+E164; it is the thread's id
    receiver: str
    body: str
    channel: Channel
    media: tuple[dict[str, str], ...] = ()
    opt_out_type: str | None = None
    account_sid: str | None = None

    @property
    def number(self) -> str:
        """The sender's E.164 number, without a channel prefix."""
        return parse_address(self.sender)[1]


@dataclass(frozen=True)
class InboundCall:
    call_sid: str
    # None when the caller withheld their number: Twilio then sends a word ("anonymous")
    caller: str | None
    called: str
    caller_as_sent: str = ""


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise BadInbound(f"{name} is missing")
    return value


def _address(params: Mapping[str, str], name: str) -> tuple[Channel, str]:
    value = _required(params, name)
    try:
        channel, _ = parse_address(value)
    except InvalidPhone as error:
        raise BadInbound(f"{name} {error}") from None
    return channel, value


def parse_sms(params: Mapping[str, str]) -> InboundSms:
    """An inbound message from Twilio's webhook parameters; BadInbound when one is wrong.

    The body is kept exactly as sent; unknown parameters are ignored.
    """
    sid = _required(params, "MessageSid")
    channel, sender = _address(params, "From")
    _, receiver = _address(params, "To")
    count = params.get("NumMedia", "0").strip() or "0"
    media_count = whole_number(count, MAX_MEDIA)
    if media_count is None:
        raise BadInbound(f"NumMedia must be a number from 0 to {MAX_MEDIA}, not {count!r}")
    media = []
    for index in range(media_count):
        url = params.get(f"MediaUrl{index}")
        if not url:
            raise BadInbound(f"MediaUrl{index} is missing though NumMedia is {count}")
        media.append({"url": url, "content_type": params.get(f"MediaContentType{index}", "")})
    return InboundSms(
        message_sid=sid,
        sender=sender,
        receiver=receiver,
        body=params.get("Body", ""),
        channel=channel,
        media=tuple(media),
        opt_out_type=params.get("OptOutType") or None,
        account_sid=params.get("AccountSid") or None,
    )


def parse_call(params: Mapping[str, str]) -> InboundCall:
    """A call from Twilio's voice webhook parameters; BadInbound when one is wrong.

    A `From` that is a word is a withheld caller ID (Twilio sends "anonymous"; "restricted"
    and the like on older legs): the call is real, it just has no number to text back.
    Any other `From` that is no phone number is refused like a text's.
    """
    sid = _required(params, "CallSid")
    sent = _required(params, "From")
    try:
        _, caller = _address(params, "From")
    except BadInbound:
        if not (sent.isascii() and sent.isalpha()):
            raise
        caller = None
    _, called = _address(params, "To")
    return InboundCall(call_sid=sid, caller=caller, called=called, caller_as_sent=sent)


class Outcome(StrEnum):
    DUPLICATE = "duplicate"
    REVIEWER = "reviewer"
    STORED = "stored"  # RECEIVED: to be drafted
    PAUSED = "paused"
    OPTED_OUT = "opted-out"
    OPTED_IN = "opted-in"
    HELP = "help"
    FOR_HUMAN = "for-human"  # taken over, or within the override window: no draft


@dataclass(frozen=True)
class Received:
    outcome: Outcome
    thread_id: str | None = None
    message_id: str | None = None
    reviewer_id: int | None = None  # a reviewer texted: their command is answered afterwards
    reviewer_keyword: Keyword | None = None  # the reviewer's STOP or START that was acted on
    pause_cause: rules.PauseCause | None = None  # the conversation rules paused the thread
    appointment: rules.AppointmentStatus | None = None  # the status the text moved it into
    auto_reply_id: str | None = None  # a pre-approved automatic reply queued for the sender
    closed: bool = False  # a STOP closed the conversation
    released: bool = False  # and ended a reviewer's takeover of it
    given_back: bool = False  # a START gave the bot texts a release left for the resume

    @property
    def wants_draft(self) -> bool:
        return self.outcome is Outcome.STORED or self.given_back


def _first_time(conn: Tx, provider: str, event_id: str) -> bool:
    return inbound_dedupe.first_time(conn, provider, event_id, now_iso())


def _reviewer(conn: Tx, address: str) -> reviewer_rows.PhoneOwner | None:
    """The reviewer, active or disabled, whose phone this is: their texts are never a customer's."""
    # already checked by the parser
    return reviewer_rows.by_phone(conn, address.removeprefix(WHATSAPP_PREFIX))


@dataclass(frozen=True)
class _Controls:
    opted_out: bool
    paused: bool
    paused_reason: str | None
    new_contact: bool = True  # this text starts a contact: nothing earlier counts in it
    held_by: int | None = None  # the reviewer who took the thread over
    last_human_reply_at: str | None = None
    last_human_reply_by: int | None = None
    state: ConversationState = ConversationState.ACTIVE  # before this text


# a contact ended: the next text from that customer opens the next one
ENDED_STATES = (ConversationState.ARCHIVED, ConversationState.CLOSED)


def start_next_contact(conn: Tx, thread_id: str, previous: ConversationState) -> None:
    """A text on an ARCHIVED or CLOSED conversation: the next contact with this customer.

    The one place a contact ends and the next begins (the contact lifecycle extends it).
    """
    workflow.change_conversation_state(
        conn,
        thread_id,
        expected=previous,
        target=ConversationState.ACTIVE,
        event=ConversationEvent.REACTIVATED,
        reason="the customer got in touch again",
    )
    workflow.start_contact(conn, thread_id, datetime.now(UTC))


def _touch_conversation(conn: Tx, thread_id: str, channel: Channel) -> _Controls:
    """Open the thread's conversation, or start the next contact of an ended one; returns
    its controls.

    The thread's lock is taken first: a reviewer's pause or takeover, or another text of
    the customer's, being written now is read once it is committed (PostgreSQL), and what
    this text decides (a pause, an opt-out, the counters) is never made twice.
    """
    row = conversations.lock(conn, thread_id)
    if row is None:
        if workflow.open_conversation(conn, thread_id, channel):
            return _Controls(opted_out=False, paused=False, paused_reason=None)
        # the customer's other text opened it meanwhile (its insert was waited for)
        row = conversations.lock(conn, thread_id)
        assert row is not None, thread_id
    state = ConversationState(row.state)
    if state in ENDED_STATES:
        start_next_contact(conn, thread_id, state)
    conversations.touch(conn, thread_id, now_iso())
    return _Controls(
        row.opted_out,
        row.paused,
        row.paused_reason,
        new_contact=state in ENDED_STATES,
        held_by=row.taken_over_by,
        last_human_reply_at=row.last_human_reply_at,
        last_human_reply_by=row.last_human_reply_by,
        state=state,
    )


TAKEN_OVER = "the thread is taken over"  # why a text or a call is left for its holder


def _for_human(controls: _Controls, override_seconds: float) -> tuple[int, str] | None:
    """Who a new text waits for instead of a draft, and why; None: the bot drafts it."""
    if controls.held_by is not None:
        return controls.held_by, TAKEN_OVER
    if controls.last_human_reply_at and controls.last_human_reply_by is not None:
        since = datetime.now(UTC) - datetime.fromisoformat(controls.last_human_reply_at)
        if since.total_seconds() < override_seconds:
            return controls.last_human_reply_by, "a human replied moments ago"
    return None


def handle_reviewer_text(
    conn: Tx, reviewer: reviewer_rows.PhoneOwner, sms: InboundSms, keyword: Keyword | None
) -> Keyword | None:
    """A text from a reviewer's phone: recorded, and never treated as a customer's; returns
    the keyword it acted on.

    STOP (which Twilio enforces by blocking our texts to them) turns their draft texts off,
    and START back on once they texted STOP; any other text, "yes" from a reviewer who
    never opted out included, is a command, carried out after the webhook answers
    (`reviewer_sms.respond`).
    """
    audit.record(
        conn,
        audit.AuditEvent(
            event="Reviewer Text Received",
            actor=Actor.HUMAN,
            actor_id=reviewer.id,
            metadata={"message_sid": sms.message_sid, "from": sms.sender, "body": sms.body},
        ),
    )
    if keyword is Keyword.OPT_IN and not reviewer.sms_opted_out:
        return None  # nothing to opt back in to: "yes" is a bare yes, START a command
    if keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
        opted_out = keyword is Keyword.OPT_OUT
        reviewer_rows.set_sms_opt_out(conn, reviewer.id, opted_out)
        audit.record(
            conn,
            audit.AuditEvent(
                event="Reviewer Opted Out" if opted_out else "Reviewer Opted In",
                actor=Actor.HUMAN,
                actor_id=reviewer.id,
                metadata={"keyword": sms.body.strip(), "notify_sms": not opted_out},
            ),
        )
        return keyword
    return None


def _store(
    conn: Tx,
    sms: InboundSms,
    event: Event,
    metadata: Mapping[str, Any],
    understood: Understanding | None = None,
) -> str:
    extra: dict[str, Any] = {} if understood is None else {"understanding": understood.to_json()}
    return workflow.create_message(
        conn,
        type=MessageType.INBOUND,
        event=event,
        thread_id=sms.sender,
        sender=sms.sender,
        receiver=sms.receiver,
        body=sms.body,
        channel=sms.channel,
        media=list(sms.media),
        provider_sid=sms.message_sid,
        metadata=metadata,
        **extra,
    )


async def receive_sms(
    db: Store,
    sms: InboundSms,
    zone: ZoneInfo = UTC_ZONE,
    *,
    override_seconds: float = DEFAULT_OVERRIDE_SECONDS,
) -> Received:
    """Store a customer's message once, applying keywords, pauses and the conversation rules;
    say whether to draft it.

    A replayed MessageSid stores nothing. A text from a reviewer's phone (active or
    disabled) goes to `handle_reviewer_text`, never down the customer path. An ordinary
    customer text is understood (`understanding.understand`, times in `zone`) once, before
    the write. On a taken-over thread, or within `override_seconds` of a human's reply, the
    text waits on Needs reply for that human.
    """
    keyword = detect(sms.body, sms.opt_out_type)  # work on the text stays out of the writer
    understood = None
    if (
        keyword is None
        and await reviewer_rows.read_id_by_phone(db, sms.sender.removeprefix(WHATSAPP_PREFIX))
        is None
    ):
        # the date parser takes milliseconds: off the event loop, and never in the writer
        understood = await asyncio.to_thread(understand, sms.body, datetime.now(UTC), zone)
    return await db.write(
        lambda conn: _receive_sms(conn, sms, keyword, override_seconds, understood),
        priority=Priority.BULK,
    )


def _receive_sms(
    conn: Tx,
    sms: InboundSms,
    keyword: Keyword | None,
    override_seconds: float,
    understood: Understanding | None = None,
) -> Received:
    # the text starts a chain: what it changes (an opt-out, a pause, a flag) carries its sid
    with events.correlation(sms.message_sid):
        return _route_sms(conn, sms, keyword, override_seconds, understood)


def _route_sms(
    conn: Tx,
    sms: InboundSms,
    keyword: Keyword | None,
    override_seconds: float,
    understood: Understanding | None,
) -> Received:
    if not _first_time(conn, SMS_PROVIDER, sms.message_sid):
        return Received(Outcome.DUPLICATE)
    texter = _reviewer(conn, sms.sender)
    if texter is not None:
        acted_on = handle_reviewer_text(conn, texter, sms, keyword)
        return Received(Outcome.REVIEWER, reviewer_id=texter.id, reviewer_keyword=acted_on)
    thread = sms.sender
    controls = _touch_conversation(conn, thread, sms.channel)
    meta: dict[str, Any] = {"message_sid": sms.message_sid}
    if keyword is not None:
        meta["keyword"] = keyword.value

    if keyword is Keyword.OPT_OUT:
        if not controls.opted_out:
            workflow.set_opted_out(conn, thread, opted_out=True, source="keyword")
        if not controls.paused:
            review.hold_thread(conn, thread, OPT_OUT_REASON, None, kind=PauseKind.OPT_OUT)
        message_id = _store(conn, sms, Event.HELD, {**meta, "reason": OPT_OUT_REASON})
        # STOP ends the contact too, unless a human still has to look at the thread
        closes = controls.state is not ConversationState.NEEDS_ATTENTION
        released = closes and review.close_conversation(
            conn, thread, "the customer opted out", None, keep_held=True
        )
        return Received(Outcome.OPTED_OUT, thread, message_id, closed=closes, released=released)

    if keyword is Keyword.OPT_IN and controls.opted_out:
        given_back = review.opt_in_thread(conn, thread, source="keyword")
        message_id = _store(conn, sms, Event.STORED, meta)
        _skip(conn, message_id, "an opt-in keyword: Twilio answers it")
        worklists.dismiss(conn, [message_id], "an opt-in keyword", None, now_iso())
        return Received(Outcome.OPTED_IN, thread, message_id, given_back=given_back)

    if understood is not None:
        return _receive_understood(conn, sms, controls, understood, meta, override_seconds)

    if controls.paused:
        reason = controls.paused_reason or "paused"
        message_id = _store(conn, sms, Event.HELD, {**meta, "reason": reason})
        workflow.flag_conversation(conn, thread, f"a message arrived on a paused thread ({reason})")
        return Received(Outcome.PAUSED, thread, message_id)

    waits_for = _for_human(controls, override_seconds)
    if waits_for is not None:
        reviewer, why = waits_for
        message_id = _store(conn, sms, Event.FOR_HUMAN, {**meta, "reason": why, "for": reviewer})
        draft_notices.tell_holder(conn, reviewer, thread, sms.body)
        return Received(Outcome.FOR_HUMAN, thread, message_id)

    message_id = _store(conn, sms, Event.STORED, meta)
    if keyword is Keyword.HELP:
        # OptOutType=HELP: Twilio's Advanced Opt-Out has sent its own help text, and a
        # second one would be a double text
        twilio_answered = (sms.opt_out_type or "").strip().upper() == "HELP"
        # with the help template pre-approved, it answers (once a day); else a human sees it
        reply_id = (
            None
            if twilio_answered
            else auto_replies.queue_in(
                conn,
                Trigger.HELP,
                thread_id=thread,
                in_reply_to_id=message_id,
                sender=sms.receiver,
                channel=sms.channel,
            )
        )
        reason = (
            "a help keyword: answered by the pre-approved help template"
            if reply_id is not None
            else "a help keyword: Twilio answered it (OptOutType HELP)"
            if twilio_answered
            else "a help keyword: Twilio answers it"
        )
        _skip(conn, message_id, reason)
        return Received(Outcome.HELP, thread, message_id, auto_reply_id=reply_id)
    return Received(Outcome.STORED, thread, message_id)


def _booking_asked(conn: Tx, thread_id: str, controls: _Controls) -> bool:
    """Whether the customer's previous text in this contact asked to book."""
    if controls.new_contact:
        return False
    row = message_rows.last_inbound(conn, thread_id)
    if row is None or row.understanding is None:
        return False
    return bool(Understanding.from_json(row.understanding).intent == BOOKING_INTENT)


def _receive_understood(
    conn: Tx,
    sms: InboundSms,
    controls: _Controls,
    understood: Understanding,
    meta: dict[str, Any],
    override_seconds: float,
) -> Received:
    """An ordinary customer text and what it means: the conversation rules are applied
    through the funnel (counters, a pause by the rules, the appointment), then it is stored
    to be drafted, held, or left for the human who has the thread."""
    thread = sms.sender
    conversation = conversations.thread(conn, thread)
    assert conversation is not None  # opened by _touch_conversation
    soft_no_count = conversation.soft_no_count + int(understood.soft_no)
    confusion_count = conversation.confusion_count + int(understood.confused)
    booking_asked = _booking_asked(conn, thread, controls)
    change = rules.next_status(
        opted_out=controls.opted_out,
        understanding=understood,
        text=sms.body,
        soft_no_count=soft_no_count,
        confusion_count=confusion_count,
    )
    paused_now = change.cause is not None and not controls.paused
    if paused_now:
        assert change.reason is not None
        kind = (
            PauseKind.OPT_OUT_REQUEST
            if change.cause is rules.PauseCause.OPT_OUT_REQUEST
            else PauseKind.COUNTERS
        )
        review.hold_thread(conn, thread, change.reason, None, kind=kind)
    waits_for = None if controls.paused or paused_now else _for_human(controls, override_seconds)
    if controls.paused or paused_now:
        reason = change.reason if paused_now else (controls.paused_reason or "paused")
        message_id = _store(conn, sms, Event.HELD, {**meta, "reason": reason}, understood)
    elif waits_for is not None:
        reviewer, why = waits_for
        message_id = _store(
            conn, sms, Event.FOR_HUMAN, {**meta, "reason": why, "for": reviewer}, understood
        )
        draft_notices.tell_holder(conn, reviewer, thread, sms.body)
    else:
        message_id = _store(conn, sms, Event.STORED, meta, understood)
    workflow.record_understanding(
        conn,
        thread,
        message_id,
        understood,
        soft_no_count=soft_no_count,
        confusion_count=confusion_count,
    )
    before = rules.AppointmentStatus(conversation.appointment_status)
    status, at = rules.next_appointment(
        before, conversation.appointment_at, understood, booking_asked=booking_asked
    )
    moved = None
    if (status, at) != (before, conversation.appointment_at):
        workflow.set_appointment(
            conn, thread, expected=before, status=status, at=at, message_id=message_id
        )
        moved = status if status is not before else None
    if paused_now:
        assert change.reason is not None
        workflow.flag_conversation(conn, thread, change.reason)
        if change.cause is rules.PauseCause.OPT_OUT_REQUEST:
            draft_notices.announce_opt_out_request(conn, message_id)
        return Received(
            Outcome.PAUSED, thread, message_id, pause_cause=change.cause, appointment=moved
        )
    if controls.paused:
        reason = controls.paused_reason or "paused"
        workflow.flag_conversation(conn, thread, f"a message arrived on a paused thread ({reason})")
        return Received(Outcome.PAUSED, thread, message_id, appointment=moved)
    if waits_for is not None:
        return Received(Outcome.FOR_HUMAN, thread, message_id, appointment=moved)
    return Received(Outcome.STORED, thread, message_id, appointment=moved)


def _skip(conn: Tx, message_id: str, reason: str) -> None:
    """A message nothing is drafted for: a human sees it, with the reason."""
    workflow.change_status(
        conn,
        message_id,
        expected=workflow.S.RECEIVED,
        target=workflow.S.NEEDS_REVIEW,
        event=Event.DRAFT_FAILED,
        metadata={"reason": reason, "skipped": True},
    )


@dataclass(frozen=True)
class CallReceived:
    duplicate: bool
    thread_id: str | None = None
    wants_draft: bool = False


async def receive_missed_call(db: Store, call: InboundCall) -> CallReceived:
    """Record a missed call on the caller's thread; say whether it asks for a text-back draft.

    A call within MISSED_CALL_WINDOW of an earlier one from the same number asks for none,
    nor does one on a paused or opted-out thread, one whose customer already has a reply
    waiting for review, one from a reviewer's phone, or one whose caller withheld their
    number (it is audited, on no thread). One on a taken-over thread is the holder's to
    return: they are texted, as for a new text.
    """
    return await db.write(lambda conn: _receive_missed_call(conn, call), priority=Priority.BULK)


def _receive_missed_call(conn: Tx, call: InboundCall) -> CallReceived:
    with events.correlation(call.call_sid):
        return _record_call(conn, call)


def _record_call(conn: Tx, call: InboundCall) -> CallReceived:
    if not _first_time(conn, VOICE_PROVIDER, call.call_sid):
        return CallReceived(duplicate=True)
    if call.caller is None:
        audit.record(
            conn,
            audit.AuditEvent(
                event="Missed Call",
                metadata={
                    "call_sid": call.call_sid,
                    "caller": call.caller_as_sent,
                    "text_back": False,
                    "why_not": "the caller's number is withheld",
                },
            ),
        )
        return CallReceived(duplicate=False)
    reviewer = _reviewer(conn, call.caller)
    if reviewer is not None:
        audit.record(
            conn,
            audit.AuditEvent(
                event="Reviewer Call Received",
                actor=Actor.HUMAN,
                actor_id=reviewer.id,
                metadata={"call_sid": call.call_sid},
            ),
        )
        return CallReceived(duplicate=False)
    channel, _ = parse_address(call.caller)
    thread = call.caller
    controls = _touch_conversation(conn, thread, channel)
    since = (datetime.now(UTC) - MISSED_CALL_WINDOW).isoformat(timespec="microseconds")
    recent = missed_calls.count_since(conn, thread, since) > 0
    open_reply = message_rows.has_open_reply(conn, thread)
    why_not = (
        "the thread is paused"
        if controls.paused or controls.opted_out
        else TAKEN_OVER
        if controls.held_by is not None
        else "an earlier call in the window asked for one"
        if recent
        else "a reply to this customer is already waiting"
        if open_reply
        else None
    )
    wants_draft = why_not is None
    now = now_iso()
    missed_call_id = missed_calls.insert(
        conn,
        call_sid=call.call_sid,
        thread_id=thread,
        caller=call.caller,
        called=call.called,
        received_at=now,
        wants_draft=wants_draft,
    )
    audit.record(
        conn,
        audit.AuditEvent(
            event="Missed Call",
            thread_id=thread,
            metadata={
                "call_sid": call.call_sid,
                "missed_call_id": missed_call_id,
                "text_back": wants_draft,
                "why_not": why_not,
            },
        ),
    )
    if why_not == TAKEN_OVER and controls.held_by is not None:
        draft_notices.tell_holder(conn, controls.held_by, thread, None)  # as for a text
    return CallReceived(duplicate=False, thread_id=thread, wants_draft=wants_draft)
