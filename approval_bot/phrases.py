"""Every status, state, event and reason as the short phrase a person reads.

Pages reach these through the `phrase` filter (`{{ c.state | phrase('ConversationState') }}`),
the audit views through `event_sentence`, and the reviewer texts through `phrase()`. A new
enum is added to `PHRASES` with one phrase per member; tests/test_phrases.py checks none is
missing and that no page shows a raw value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from .conversation_rules import AppointmentStatus
from .event_delivery import DeliveryStatus
from .intents import Intent
from .models import (
    Actor,
    ApprovalAction,
    Channel,
    ClaimEvent,
    ContactEvent,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageMode,
    MessageStatus,
    MessageType,
    PauseKind,
    Role,
    SenderRole,
    Sentiment,
    SlaEvent,
    SlaStep,
    ThreadEvent,
)
from .outbox import NotificationEvent, NotificationStatus
from .sending_gate import ComplianceStatus

S = MessageStatus

PHRASES: dict[type[StrEnum], Mapping[str, str]] = {
    ComplianceStatus: {
        ComplianceStatus.APPROVED: "Registration approved",
        ComplianceStatus.PENDING: "Registration pending",
        ComplianceStatus.REJECTED: "Registration rejected",
    },
    DeliveryStatus: {
        DeliveryStatus.PENDING: "Waiting to be delivered",
        DeliveryStatus.DELIVERED: "Delivered",
        DeliveryStatus.FAILED: "Failed: every attempt was refused",
    },
    MessageStatus: {
        S.RECEIVED: "Received",
        S.DRAFT_PENDING_APPROVAL: "Waiting for approval",
        S.NEEDS_REVIEW: "Needs a written reply",
        S.PAUSED_THREAD: "On hold: the thread is paused",
        S.APPROVED_TO_SEND: "Approved, sending",
        S.REJECTED: "Rejected",
        S.SUPERSEDED: "Replaced by a newer version",
        S.SENT: "Sent",
        S.FAILED_SEND: "Could not be sent",
    },
    MessageType: {
        MessageType.INBOUND: "Customer",
        MessageType.DRAFT: "Draft",
        MessageType.OUTBOUND: "Reply",
    },
    Event: {
        Event.STORED: "Customer text received",
        Event.DRAFT_CREATED: "Draft written",
        Event.DRAFT_FAILED: "No draft could be written",
        Event.HELD: "Held by the pause",
        Event.RELEASED: "Back to review after the resume",
        Event.APPROVE: "Approved",
        Event.REJECT: "Rejected",
        Event.EDIT: "Edited",
        Event.SUPERSEDED: "Replaced by a newer version",
        Event.DRAFT_REJECTED: "Sent back for a written reply",
        Event.HUMAN_REPLY: "Reply written",
        Event.AUTO_REPLY: "Answered with a pre-approved template",
        Event.TEMPLATE_REPLY: "WhatsApp template chosen",
        Event.WINDOW_CLOSED: "Back to review: WhatsApp's 24-hour window had closed",
        Event.GATE_RETURNED: "Back to review: approved before sending was stopped",
        Event.CUSTOMER_WROTE_AGAIN: "Back to review: the customer wrote again",
        Event.SEND_ACCEPTED: "Handed to Twilio",
        Event.SEND_FAILED: "Sending failed",
        Event.FOR_HUMAN: "Left for a person to answer",
        Event.BACK_TO_DRAFTING: "Back to the bot for a draft",
    },
    ConversationState: {
        ConversationState.ACTIVE: "Open",
        ConversationState.NEEDS_ATTENTION: "Needs a person",
        ConversationState.ARCHIVED: "Archived",
        ConversationState.CLOSED: "Closed",
    },
    ConversationEvent: {
        ConversationEvent.OPENED: "Conversation opened",
        ConversationEvent.FLAGGED: "Marked as needing a person",
        ConversationEvent.RESOLVED: "Marked as dealt with",
        ConversationEvent.ARCHIVED: "Archived",
        ConversationEvent.REACTIVATED: "Reopened",
        ConversationEvent.CLOSED: "Conversation closed",
    },
    ThreadEvent: {
        ThreadEvent.PAUSED: "Paused",
        ThreadEvent.RESUMED: "Resumed",
        ThreadEvent.OPTED_OUT: "Customer opted out",
        ThreadEvent.OPTED_IN: "Customer opted back in",
        ThreadEvent.TAKEN_OVER: "Taken over",
        ThreadEvent.RELEASED: "Released to the bot",
        ThreadEvent.NO_REPLY_NEEDED: "Marked as needing no reply",
    },
    ClaimEvent: {
        ClaimEvent.CLAIMED: "Claimed for editing",
        ClaimEvent.TAKEN_OVER: "Claim taken over",
        ClaimEvent.RELEASED: "Claim released",
    },
    ContactEvent: {
        ContactEvent.UNDERSTOOD: "Customer text understood",
        ContactEvent.APPOINTMENT_CHANGED: "Appointment changed",
        ContactEvent.CONTACT_STARTED: "New contact started",
        ContactEvent.FACTS_CHANGED: "Facts changed",
    },
    SlaStep: {
        SlaStep.NONE: "Waiting",
        SlaStep.REMINDED: "Reminded",
        SlaStep.ESCALATED: "Overdue: escalated",
        SlaStep.HOLDING_SENT: "Overdue: holding reply sent",
        SlaStep.HOLDING_UNAVAILABLE: "Overdue: no holding reply could be sent",
    },
    SlaEvent: {
        SlaEvent.REMINDED: "Reviewers reminded",
        SlaEvent.ESCALATED: "Escalated to the admins and backups",
        SlaEvent.HOLDING_SENT: "Holding reply sent to the customer",
        SlaEvent.HOLDING_UNAVAILABLE: "Holding reply not sent",
    },
    SenderRole: {
        SenderRole.CUSTOMER: "Customer",
        SenderRole.BOT: "Written by the bot",
        SenderRole.HUMAN: "Written by a person",
    },
    MessageMode: {
        MessageMode.INTRO: "first text",
        MessageMode.REPLY: "reply",
        MessageMode.APPOINTMENT: "about an appointment",
        MessageMode.MISSED_CALL: "after a missed call",
        MessageMode.MANUAL: "written by hand",
    },
    AppointmentStatus: {
        AppointmentStatus.NONE: "No appointment",
        AppointmentStatus.INVITED: "Invited to book",
        AppointmentStatus.BOOKED: "Appointment booked",
    },
    PauseKind: {
        PauseKind.REVIEWER: "Paused by a reviewer",
        PauseKind.ESCALATION: "Handed to a person",
        PauseKind.OPT_OUT: "Customer opted out",
        PauseKind.COUNTERS: "Paused: the customer seems unsure",
        PauseKind.OPT_OUT_REQUEST: "On hold: the customer may want to stop",
    },
    Sentiment: {
        Sentiment.POSITIVE: "Sounds happy",
        Sentiment.NEUTRAL: "Sounds neutral",
        Sentiment.NEGATIVE: "Sounds unhappy",
        Sentiment.UNKNOWN: "Mood unclear",
    },
    Channel: {Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"},
    DecisionChannel: {
        DecisionChannel.WEB: "on the web",
        DecisionChannel.SMS: "by text",
        DecisionChannel.API: "through the API",
    },
    ApprovalAction: {
        ApprovalAction.APPROVE: "Approved",
        ApprovalAction.EDIT: "Edited",
        ApprovalAction.REJECT: "Rejected",
    },
    Actor: {Actor.SYSTEM: "the system", Actor.HUMAN: "a reviewer"},
    Role: {Role.ADMIN: "Admin", Role.REVIEWER: "Reviewer"},
    NotificationStatus: {
        NotificationStatus.PENDING: "Waiting to be texted",
        NotificationStatus.HELD: "Held (quiet hours or texts off)",
        NotificationStatus.SENT: "Texted",
        NotificationStatus.FAILED: "Could not be texted",
        NotificationStatus.DIGESTED: "Sent in a digest",
        NotificationStatus.WITHDRAWN: "Not texted: the draft was decided first",
    },
    NotificationEvent: {
        NotificationEvent.SENT: "Reviewer texted",
        NotificationEvent.FAILED: "Reviewer text failed",
        NotificationEvent.HELD: "Reviewer text held",
        NotificationEvent.RELEASED: "Reviewer text released",
        NotificationEvent.DIGESTED: "Reviewer text folded into a digest",
        NotificationEvent.WITHDRAWN: "Reviewer text withdrawn: the draft was decided",
    },
    Intent: {
        Intent.GREETING: "a greeting",
        Intent.HELP: "asking for help",
        Intent.FAQ: "a known question",
        Intent.HOURS: "opening hours",
        Intent.PRICE: "a price",
        Intent.BOOKING: "a booking",
        Intent.COMPLAINT: "a complaint",
        Intent.THANKS: "thanks",
        Intent.MISSED_CALL: "a missed call",
        Intent.OTHER: "something else",
    },
}

# Twilio's delivery statuses (messages.delivery_status), as a reply's footnote says them
DELIVERY = {
    "queued": "queued",
    "accepted": "accepted",
    "scheduled": "scheduled",
    "canceled": "canceled",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "not delivered",
    "failed": "failed",
    "read": "read",
    "partially_delivered": "partly delivered",
    "receiving": "arriving",
    "received": "received",
}

# how a reply that left the queue is told to someone who still had it open: "Already …"
DECIDED: dict[str, str] = {
    S.APPROVED_TO_SEND: "approved",
    S.SENT: "approved and sent",
    S.FAILED_SEND: "approved, but sending failed",
    S.REJECTED: "rejected",
    S.SUPERSEDED: "replaced by a newer version",
    S.PAUSED_THREAD: "held because the thread was paused",
    S.DRAFT_PENDING_APPROVAL: "still pending",
    S.NEEDS_REVIEW: "sent back for a written reply",
    S.RECEIVED: "received",
}

# what a decision that stood did to a reply, as a reviewer's text says it
DECISION_DONE = {
    ApprovalAction.APPROVE: "approved",
    ApprovalAction.EDIT: "edited and approved",
    ApprovalAction.REJECT: "rejected",
}

# where a decision was made, after "via": "Already approved by Ana via SMS"
VIA: dict[str, str] = {
    DecisionChannel.WEB: "the web",
    DecisionChannel.SMS: "SMS",
    DecisionChannel.API: "the API",
}

_BY_NAME = {kind.__name__: kind for kind in PHRASES}
# audit events written as plain strings by their modules: the event names already read as
# English, so an event missing here shows its name; these make them say more
OTHER_EVENTS = {
    "Delivery Status": "Delivery update from Twilio",
    "Send Retry Scheduled": "Sending will be tried again",
    "Updated Directive": "Directive or FAQ changed",
    "Missed Call": "Missed call",
    "Reviewer Text Received": "Text from a reviewer's phone",
    "SMS Command Refused": "Text command refused",
    "Template Updated": "Template changed",
    "Template Pre-Approved": "Template pre-approved",
    "Template Pre-Approval Cleared": "Template's pre-approval withdrawn",
}


def phrase(value: object, kind: str) -> str:
    """The phrase for `value` of the enum named `kind`; an unknown value is humanised."""
    if value is None or value == "":
        return ""
    words = PHRASES[_BY_NAME[kind]]
    text = str(value)
    return words.get(text) or text.replace("_", " ").lower().capitalize()


def decided_words(status: str) -> str:
    """What became of a reply, as in "Already approved by Ana"."""
    return DECIDED.get(status) or phrase(status, "MessageStatus").lower()


def via_words(channel: str | None) -> str:
    """' via SMS' for the channel a decision came through; nothing when it is unknown."""
    if not channel:
        return ""
    return f" via {VIA.get(channel, channel)}"


def event_phrase(event: str) -> str:
    """What an audit event's name means, in a few words."""
    for kind in (
        Event,
        ConversationEvent,
        ThreadEvent,
        ClaimEvent,
        ContactEvent,
        NotificationEvent,
        SlaEvent,
    ):
        if event in kind._value2member_map_:
            return PHRASES[kind][event]
    return OTHER_EVENTS.get(event, event)


def confidence_word(confidence: object) -> str:
    """A drafter's confidence as a word: 'sure' from 0.7, else 'unsure'."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return ""
    return "sure" if confidence >= 0.7 else "unsure"


def pause_phrase(kind: str | None, reason: str | None, by: str | None = None) -> str:
    """A pause told in plain words: its kind (and who, when known), then the reason given."""
    head = phrase(kind, "PauseKind") if kind else "Paused"
    if by and kind in (PauseKind.REVIEWER, PauseKind.ESCALATION, None):
        head = f"Paused by {by}" if kind != PauseKind.ESCALATION else f"Handed to a person by {by}"
    said = (reason or "").strip()
    if said.startswith("escalated: "):
        said = said.removeprefix("escalated: ")
    if not said or said in {"opt-out", "paused by a reviewer"}:
        return head
    return f"{head}: {said}"


def sent_line(message: Mapping[str, Any]) -> str:
    """A reply's footnote: 'sent · delivered 14:03', or why it did not go."""
    if message.get("status") == S.FAILED_SEND or message.get("error_code"):
        text = "not sent"
        if message.get("error_code"):
            text += f" · Twilio error {message['error_code']}"
            if message.get("error_message"):
                text += f": {message['error_message']}"
        return text
    status = message.get("delivery_status")
    if message.get("status") != S.SENT and not status:
        return ""
    line = "sent"
    if status and status not in {"sent", "queued", "accepted"}:
        line += f" · {DELIVERY.get(status, status)}"
        if message.get("updated_at"):
            line += f" {str(message['updated_at'])[11:16]}"
    return line


def _reason_of(metadata: Mapping[str, Any]) -> str:
    for key in ("reason", "notes", "error"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def event_sentence(row: Mapping[str, Any]) -> str:
    """One line for an audit row: what happened, by whom, and the reason given."""
    text = event_phrase(str(row["event"]))
    name = row.get("actor_name")
    if row.get("actor") == Actor.HUMAN:
        text += f" by {name or phrase(Actor.HUMAN, 'Actor')}"
    metadata = row.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = {}
    if isinstance(metadata, Mapping):
        reason = _reason_of(metadata)
        if reason:
            text += f": {reason}"
        version = metadata.get("draft_version")
        if isinstance(version, int) and version > 1:
            text += f" (version {version})"
    return text


def install(env: Any) -> None:
    """Give a Jinja environment the filters the templates use to speak plainly."""
    env.filters["phrase"] = phrase
    env.filters["confidence_word"] = confidence_word
    env.filters["event_sentence"] = event_sentence
    env.filters["event_phrase"] = event_phrase
    env.filters["sent_line"] = sent_line
    env.globals["pause_phrase"] = pause_phrase
