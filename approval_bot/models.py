"""The words of the domain: enums shared by the schema, the workflow and the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class MessageType(StrEnum):
    INBOUND = "INBOUND"
    DRAFT = "DRAFT"
    OUTBOUND = "OUTBOUND"


class MessageStatus(StrEnum):
    RECEIVED = "RECEIVED"
    DRAFT_PENDING_APPROVAL = "DRAFT_PENDING_APPROVAL"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    PAUSED_THREAD = "PAUSED_THREAD"
    APPROVED_TO_SEND = "APPROVED_TO_SEND"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"
    SENT = "SENT"
    FAILED_SEND = "FAILED_SEND"


class Event(StrEnum):
    """What happened to a message; the audit log's `event` for status changes."""

    STORED = "Stored"
    DRAFT_CREATED = "Draft Created"
    DRAFT_FAILED = "Draft Failed"
    HELD = "Held By Pause"
    RELEASED = "Released By Resume"
    APPROVE = "Approved"
    REJECT = "Rejected"
    EDIT = "Edited"
    SUPERSEDED = "Superseded"
    DRAFT_REJECTED = "Draft Rejected"
    HUMAN_REPLY = "Human Reply Written"
    AUTO_REPLY = "Automatic Reply"  # approved in advance: a pre-approved template
    TEMPLATE_REPLY = "Template Reply Chosen"  # a reviewer chose a WhatsApp Content template
    WINDOW_CLOSED = "WhatsApp Window Closed"  # Twilio 63016: back to review
    CUSTOMER_WROTE_AGAIN = "Customer Wrote Again"
    SEND_ACCEPTED = "Send Accepted"
    SEND_FAILED = "Send Failed"
    FOR_HUMAN = "Left For A Human"  # taken over, or a human replied moments ago: no draft
    BACK_TO_DRAFTING = "Back To Drafting"  # a resume or a release: the bot drafts it now
    # approved while sending was off, and too long ago to send unseen when it came back on
    GATE_RETURNED = "Returned By Sending Gate"


class ConversationState(StrEnum):
    ACTIVE = "ACTIVE"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    ARCHIVED = "ARCHIVED"
    CLOSED = "CLOSED"


class ConversationEvent(StrEnum):
    OPENED = "Conversation Opened"
    FLAGGED = "Conversation Needs Attention"
    RESOLVED = "Conversation Resolved"
    ARCHIVED = "Conversation Archived"
    REACTIVATED = "Conversation Reactivated"
    CLOSED = "Conversation Closed"


class ThreadEvent(StrEnum):
    PAUSED = "Thread Paused"
    RESUMED = "Thread Resumed"
    OPTED_OUT = "Opted Out"
    OPTED_IN = "Opted In"
    TAKEN_OVER = "Thread Taken Over"
    RELEASED = "Thread Released"
    NO_REPLY_NEEDED = "No Reply Needed"


class ClaimEvent(StrEnum):
    """A reviewer claiming a pending draft to work on it, or letting it go (audited)."""

    CLAIMED = "Draft Claimed"
    TAKEN_OVER = "Draft Claim Taken Over"  # another reviewer's live claim, confirmed over
    RELEASED = "Draft Claim Released"


class ContactEvent(StrEnum):
    """Changes to what a conversation knows of its customer (audited like state changes)."""

    UNDERSTOOD = "Text Understood"
    APPOINTMENT_CHANGED = "Appointment Changed"
    CONTACT_STARTED = "Contact Started"
    FACTS_CHANGED = "Facts Changed"


class SenderRole(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    HUMAN = "human"


class MessageMode(StrEnum):
    """What a message is for, as the original message log names it."""

    INTRO = "intro"
    REPLY = "reply"
    APPOINTMENT = "appointment"
    MISSED_CALL = "missed_call"
    MANUAL = "manual"


class PauseKind(StrEnum):
    """Why a thread is paused, which decides what lifts the pause."""

    REVIEWER = "reviewer"  # a reviewer paused it; a reviewer resumes it
    ESCALATION = "escalation"  # handed to a human; a reviewer resumes it
    OPT_OUT = "opt_out"  # STOP, or Twilio's 21610 on a send; the customer's opt-in lifts it
    COUNTERS = "counters"  # two soft refusals or two confused texts; a reviewer resumes it
    # an opt-out in plain words: a reviewer confirms it (it becomes OPT_OUT) or says it is not
    OPT_OUT_REQUEST = "opt_out_request"


class Sentiment(StrEnum):
    POSITIVE = "POSITIVE"
    NEUTRAL = "NEUTRAL"
    NEGATIVE = "NEGATIVE"
    UNKNOWN = "UNKNOWN"


class Channel(StrEnum):
    """How a customer's thread travels: as Twilio addresses it."""

    SMS = "sms"
    WHATSAPP = "whatsapp"


class DecisionChannel(StrEnum):
    """Where a reviewer made a decision."""

    WEB = "web"
    SMS = "sms"
    API = "api"


class ApprovalAction(StrEnum):
    APPROVE = "APPROVE"
    EDIT = "EDIT"
    REJECT = "REJECT"


class Actor(StrEnum):
    SYSTEM = "System"
    HUMAN = "Human"


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"


def iso(moment: datetime) -> str:
    """`moment` as ISO 8601 with microseconds: UTC times so written sort in time order."""
    return moment.isoformat(timespec="microseconds")


def utcnow() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """The current time as ISO 8601 UTC with microseconds; such strings sort in time order."""
    return iso(utcnow())


class SlaStep(StrEnum):
    """How far up the review-deadline ladder a pending reply has climbed."""

    NONE = "none"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    HOLDING_SENT = "holding_sent"
    HOLDING_UNAVAILABLE = "holding_unavailable"  # the holding step ran and could not send


class SlaEvent(StrEnum):
    """A step of the review-deadline ladder, as the audit log names it."""

    REMINDED = "Review Reminded"
    ESCALATED = "Review Escalated"
    HOLDING_SENT = "Holding Reply Sent"
    HOLDING_UNAVAILABLE = "Holding Reply Not Sent"
