"""The inbound pipeline: parse what Twilio posted, dedupe, route, apply keywords and pauses, store.

`parse_sms` and `parse_call` are pure. `receive_sms` and `receive_missed_call` write in
one transaction and return what the caller should do next (draft or not); drafting itself
happens later, after the webhook has answered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from . import audit, review, workflow
from .db import Database, Priority
from .keywords import Keyword, detect
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
from .phones import WHATSAPP_PREFIX, InvalidPhone, parse_address

SMS_PROVIDER = "twilio-sms"
VOICE_PROVIDER = "twilio-voice"
# repeated calls from one number within this window make one text-back draft
MISSED_CALL_WINDOW = timedelta(minutes=15)
OPT_OUT_REASON = review.OPT_OUT_REASON


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
    caller: str
    called: str


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
    if not count.isdigit() or int(count) > 10:
        raise BadInbound(f"NumMedia must be a number from 0 to 10, not {count!r}")
    media = []
    for index in range(int(count)):
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
    """A call from Twilio's voice webhook parameters; BadInbound when one is wrong."""
    sid = _required(params, "CallSid")
    _, caller = _address(params, "From")
    _, called = _address(params, "To")
    return InboundCall(call_sid=sid, caller=caller, called=called)


class Outcome(StrEnum):
    DUPLICATE = "duplicate"
    REVIEWER = "reviewer"
    STORED = "stored"  # RECEIVED: to be drafted
    PAUSED = "paused"
    OPTED_OUT = "opted-out"
    OPTED_IN = "opted-in"
    HELP = "help"


@dataclass(frozen=True)
class Received:
    outcome: Outcome
    thread_id: str | None = None
    message_id: str | None = None
    reviewer_id: int | None = None  # a reviewer texted: their command is answered afterwards

    @property
    def wants_draft(self) -> bool:
        return self.outcome is Outcome.STORED


def _first_time(conn: sqlite3.Connection, provider: str, event_id: str) -> bool:
    cursor = conn.execute(
        """
        INSERT INTO webhook_events (provider, event_id, received_at) VALUES (?, ?, ?)
        ON CONFLICT (provider, event_id) DO NOTHING
        """,
        (provider, event_id, now_iso()),
    )
    return cursor.rowcount == 1


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    return conn.execute(sql, params).fetchone()


def _reviewer(conn: sqlite3.Connection, address: str) -> int | None:
    """The reviewer, active or disabled, whose phone this is: their texts are never a customer's."""
    number = address.removeprefix(WHATSAPP_PREFIX)  # already checked by the parser
    row = _one(conn, "SELECT id FROM reviewers WHERE phone = ?", (number,))
    return None if row is None else int(row["id"])


@dataclass(frozen=True)
class _Controls:
    opted_out: bool
    paused: bool
    paused_reason: str | None


def _touch_conversation(conn: sqlite3.Connection, thread_id: str, channel: Channel) -> _Controls:
    """Open the thread's conversation, or reactivate an archived one; returns its controls."""
    row = _one(
        conn,
        """
        SELECT conversations.state, conversations.opted_out, thread_controls.paused,
               thread_controls.paused_reason
        FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
        """,
        (thread_id,),
    )
    if row is None:
        workflow.open_conversation(conn, thread_id, channel)
        return _Controls(opted_out=False, paused=False, paused_reason=None)
    if row["state"] == ConversationState.ARCHIVED:
        workflow.change_conversation_state(
            conn,
            thread_id,
            expected=ConversationState.ARCHIVED,
            target=ConversationState.ACTIVE,
            event=ConversationEvent.REACTIVATED,
            reason="the customer got in touch again",
        )
    conn.execute(
        "UPDATE conversations SET last_activity_at = ? WHERE thread_id = ?",
        (now_iso(), thread_id),
    )
    return _Controls(bool(row["opted_out"]), bool(row["paused"]), row["paused_reason"])


def handle_reviewer_text(
    conn: sqlite3.Connection, reviewer_id: int, sms: InboundSms, keyword: Keyword | None
) -> None:
    """A text from a reviewer's phone: recorded, and never treated as a customer's.

    STOP (which Twilio enforces by blocking our texts to them) turns their draft texts off
    and START back on; any other text is a command, carried out after the webhook answers
    (`reviewer_sms.respond`).
    """
    audit.record(
        conn,
        audit.AuditEvent(
            event="Reviewer Text Received",
            actor=Actor.HUMAN,
            actor_id=reviewer_id,
            metadata={"message_sid": sms.message_sid, "from": sms.sender, "body": sms.body},
        ),
    )
    if keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
        opted_out = keyword is Keyword.OPT_OUT
        conn.execute(
            "UPDATE reviewers SET sms_opted_out = ?, notify_sms = ? WHERE id = ?",
            (int(opted_out), int(not opted_out), reviewer_id),
        )
        audit.record(
            conn,
            audit.AuditEvent(
                event="Reviewer Opted Out" if opted_out else "Reviewer Opted In",
                actor=Actor.HUMAN,
                actor_id=reviewer_id,
                metadata={"keyword": sms.body.strip(), "notify_sms": not opted_out},
            ),
        )


def _store(
    conn: sqlite3.Connection, sms: InboundSms, event: Event, metadata: Mapping[str, Any]
) -> str:
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
    )


async def receive_sms(db: Database, sms: InboundSms) -> Received:
    """Store a customer's message once, applying keywords and pauses; say whether to draft it.

    A replayed MessageSid stores nothing. A text from a reviewer's phone (active or
    disabled) goes to `handle_reviewer_text`, never down the customer path.
    """
    keyword = detect(sms.body, sms.opt_out_type)  # work on the text stays out of the writer
    return await db.write(lambda conn: _receive_sms(conn, sms, keyword), priority=Priority.BULK)


def _receive_sms(conn: sqlite3.Connection, sms: InboundSms, keyword: Keyword | None) -> Received:
    if not _first_time(conn, SMS_PROVIDER, sms.message_sid):
        return Received(Outcome.DUPLICATE)
    reviewer_id = _reviewer(conn, sms.sender)
    if reviewer_id is not None:
        handle_reviewer_text(conn, reviewer_id, sms, keyword)
        return Received(Outcome.REVIEWER, reviewer_id=reviewer_id)
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
        return Received(Outcome.OPTED_OUT, thread, message_id)

    if keyword is Keyword.OPT_IN and controls.opted_out:
        review.opt_in_thread(conn, thread, source="keyword")
        message_id = _store(conn, sms, Event.STORED, meta)
        _skip(conn, message_id, "an opt-in keyword: Twilio answers it")
        return Received(Outcome.OPTED_IN, thread, message_id)

    if controls.paused:
        reason = controls.paused_reason or "paused"
        message_id = _store(conn, sms, Event.HELD, {**meta, "reason": reason})
        workflow.flag_conversation(conn, thread, f"a message arrived on a paused thread ({reason})")
        return Received(Outcome.PAUSED, thread, message_id)

    message_id = _store(conn, sms, Event.STORED, meta)
    if keyword is Keyword.HELP:
        _skip(conn, message_id, "a help keyword: Twilio answers it")
        return Received(Outcome.HELP, thread, message_id)
    return Received(Outcome.STORED, thread, message_id)


def _skip(conn: sqlite3.Connection, message_id: str, reason: str) -> None:
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


async def receive_missed_call(db: Database, call: InboundCall) -> CallReceived:
    """Record a missed call on the caller's thread; say whether it asks for a text-back draft.

    A call within MISSED_CALL_WINDOW of an earlier one from the same number asks for none,
    nor does one on a paused or opted-out thread, one whose customer already has a reply
    waiting for review, or one from a reviewer's phone.
    """
    return await db.write(lambda conn: _receive_missed_call(conn, call), priority=Priority.BULK)


def _receive_missed_call(conn: sqlite3.Connection, call: InboundCall) -> CallReceived:
    if not _first_time(conn, VOICE_PROVIDER, call.call_sid):
        return CallReceived(duplicate=True)
    reviewer_id = _reviewer(conn, call.caller)
    if reviewer_id is not None:
        audit.record(
            conn,
            audit.AuditEvent(
                event="Reviewer Call Received",
                actor=Actor.HUMAN,
                actor_id=reviewer_id,
                metadata={"call_sid": call.call_sid},
            ),
        )
        return CallReceived(duplicate=False)
    channel, _ = parse_address(call.caller)
    thread = call.caller
    controls = _touch_conversation(conn, thread, channel)
    since = (datetime.now(UTC) - MISSED_CALL_WINDOW).isoformat(timespec="microseconds")
    row = _one(
        conn,
        "SELECT count(*) FROM missed_calls WHERE thread_id = ? AND received_at >= ?",
        (thread, since),
    )
    recent = bool(row and row[0])
    open_reply = _one(
        conn,
        """
        SELECT 1 FROM messages WHERE thread_id = ? AND type IN ('DRAFT', 'OUTBOUND')
          AND status IN ('DRAFT_PENDING_APPROVAL', 'APPROVED_TO_SEND') LIMIT 1
        """,
        (thread,),
    )
    why_not = (
        "an earlier call in the window asked for one"
        if recent
        else "the thread is paused"
        if controls.paused or controls.opted_out
        else "a reply to this customer is already waiting"
        if open_reply is not None
        else None
    )
    wants_draft = why_not is None
    now = now_iso()
    cursor = conn.execute(
        """
        INSERT INTO missed_calls (call_sid, thread_id, caller, called, received_at, wants_draft)
        VALUES (?, ?, ?, ?, ?, ?)
        """,
        (call.call_sid, thread, call.caller, call.called, now, int(wants_draft)),
    )
    audit.record(
        conn,
        audit.AuditEvent(
            event="Missed Call",
            thread_id=thread,
            metadata={
                "call_sid": call.call_sid,
                "missed_call_id": cursor.lastrowid,
                "text_back": wants_draft,
                "why_not": why_not,
            },
        ),
    )
    return CallReceived(duplicate=False, thread_id=thread, wants_draft=wants_draft)
