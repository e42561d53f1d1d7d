"""The one funnel for state: transition tables as data, and the functions that apply them.

Every status change of a message, every conversation state change and every pause,
resume, opt-out and opt-in goes through a function of this module, which checks the
table and the expected current state, writes the change and its audit row in the caller's
write transaction. No other module writes a status column.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from . import audit, claims, events, review_clocks, rollups
from .conversation_rules import AppointmentStatus, Contact, new_contact
from .facts import merge_facts
from .models import (
    Actor,
    Channel,
    ContactEvent,
    ConversationEvent,
    ConversationState,
    Event,
    MessageMode,
    MessageStatus,
    MessageType,
    PauseKind,
    SenderRole,
    ThreadEvent,
    now_iso,
)
from .store import Tx, conversations
from .store import audit as audit_rows
from .store import messages as message_rows
from .store.notify import notify_senders
from .understanding import Understanding

INBOUND, DRAFT, OUTBOUND = MessageType.INBOUND, MessageType.DRAFT, MessageType.OUTBOUND
S = MessageStatus


@dataclass(frozen=True)
class Transition:
    type: MessageType
    source: MessageStatus | None  # None: the row is being created
    event: Event
    target: MessageStatus


def _rows(
    types: tuple[MessageType, ...], source: MessageStatus | None, event: Event, target: S
) -> list[Transition]:
    return [Transition(t, source, event, target) for t in types]


REPLIES = (DRAFT, OUTBOUND)  # what can be reviewed and sent

# DESIGN §4, with the holds, releases and supersessions the flows need spelled out.
MESSAGE_TRANSITIONS: frozenset[Transition] = frozenset(
    [
        # a customer's message
        *_rows((INBOUND,), None, Event.STORED, S.RECEIVED),
        *_rows((INBOUND,), None, Event.HELD, S.PAUSED_THREAD),
        *_rows((INBOUND,), S.RECEIVED, Event.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
        *_rows((INBOUND,), S.RECEIVED, Event.DRAFT_FAILED, S.NEEDS_REVIEW),
        *_rows((INBOUND,), S.RECEIVED, Event.HELD, S.PAUSED_THREAD),
        *_rows((INBOUND,), S.DRAFT_PENDING_APPROVAL, Event.DRAFT_REJECTED, S.NEEDS_REVIEW),
        *_rows((INBOUND,), S.NEEDS_REVIEW, Event.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
        # a thread a human holds, or one a human answered moments ago: no draft, a human's
        # to-do; a resume or a release gives held and left texts back to drafting
        *_rows((INBOUND,), None, Event.FOR_HUMAN, S.NEEDS_REVIEW),
        *_rows((INBOUND,), S.RECEIVED, Event.FOR_HUMAN, S.NEEDS_REVIEW),
        *_rows((INBOUND,), S.PAUSED_THREAD, Event.FOR_HUMAN, S.NEEDS_REVIEW),
        # marked as dealt with: a text whose reply failed to send waits for a human's
        *_rows((INBOUND,), S.DRAFT_PENDING_APPROVAL, Event.FOR_HUMAN, S.NEEDS_REVIEW),
        *_rows((INBOUND,), S.PAUSED_THREAD, Event.BACK_TO_DRAFTING, S.RECEIVED),
        *_rows((INBOUND,), S.NEEDS_REVIEW, Event.BACK_TO_DRAFTING, S.RECEIVED),
        # a reply: drafted by the machine, or written by a human
        *_rows((DRAFT,), None, Event.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
        *_rows(REPLIES, None, Event.EDIT, S.DRAFT_PENDING_APPROVAL),
        *_rows((OUTBOUND,), None, Event.HUMAN_REPLY, S.APPROVED_TO_SEND),
        *_rows((OUTBOUND,), None, Event.AUTO_REPLY, S.APPROVED_TO_SEND),
        *_rows((OUTBOUND,), None, Event.TEMPLATE_REPLY, S.APPROVED_TO_SEND),
        *_rows(REPLIES, S.DRAFT_PENDING_APPROVAL, Event.APPROVE, S.APPROVED_TO_SEND),
        *_rows(REPLIES, S.DRAFT_PENDING_APPROVAL, Event.REJECT, S.REJECTED),
        *_rows(REPLIES, S.DRAFT_PENDING_APPROVAL, Event.EDIT, S.SUPERSEDED),
        *_rows(REPLIES, S.DRAFT_PENDING_APPROVAL, Event.SUPERSEDED, S.SUPERSEDED),
        *_rows(REPLIES, S.DRAFT_PENDING_APPROVAL, Event.HELD, S.PAUSED_THREAD),
        *_rows(REPLIES, S.PAUSED_THREAD, Event.RELEASED, S.DRAFT_PENDING_APPROVAL),
        # a manager's reply on a paused thread, or a close, replaces the replies it held
        *_rows(REPLIES, S.PAUSED_THREAD, Event.SUPERSEDED, S.SUPERSEDED),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.SEND_ACCEPTED, S.SENT),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.SEND_FAILED, S.FAILED_SEND),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.HELD, S.PAUSED_THREAD),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.SUPERSEDED, S.SUPERSEDED),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.CUSTOMER_WROTE_AGAIN, S.DRAFT_PENDING_APPROVAL),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.GATE_RETURNED, S.DRAFT_PENDING_APPROVAL),
        *_rows(REPLIES, S.APPROVED_TO_SEND, Event.WINDOW_CLOSED, S.DRAFT_PENDING_APPROVAL),
    ]
)

# how a message starts life: (type, event) -> its first status
_CREATIONS = {(t.type, t.event): t.target for t in MESSAGE_TRANSITIONS if t.source is None}

C = ConversationState
CONVERSATION_TRANSITIONS: frozenset[tuple[C | None, ConversationEvent, C]] = frozenset(
    [
        (None, ConversationEvent.OPENED, C.ACTIVE),
        (C.ACTIVE, ConversationEvent.FLAGGED, C.NEEDS_ATTENTION),
        (C.NEEDS_ATTENTION, ConversationEvent.FLAGGED, C.NEEDS_ATTENTION),
        (C.ARCHIVED, ConversationEvent.FLAGGED, C.NEEDS_ATTENTION),
        (C.NEEDS_ATTENTION, ConversationEvent.RESOLVED, C.ACTIVE),
        (C.ACTIVE, ConversationEvent.ARCHIVED, C.ARCHIVED),
        (C.ARCHIVED, ConversationEvent.REACTIVATED, C.ACTIVE),
        # a close is a human's (or the customer's STOP); a new text opens the next contact,
        # exactly as on an archived conversation
        (C.ACTIVE, ConversationEvent.CLOSED, C.CLOSED),
        (C.NEEDS_ATTENTION, ConversationEvent.CLOSED, C.CLOSED),
        (C.ARCHIVED, ConversationEvent.CLOSED, C.CLOSED),
        (C.CLOSED, ConversationEvent.REACTIVATED, C.ACTIVE),
        # a send claimed before the close can still fail afterwards
        (C.CLOSED, ConversationEvent.FLAGGED, C.NEEDS_ATTENTION),
    ]
)

# message columns a transition may set together with the status
_TRANSITION_FIELDS = frozenset(
    {
        "provider_sid",
        "delivery_status",
        "error_code",
        "error_message",
        "send_attempts",
        "next_attempt_at",
        "claimed_at",
        "superseded_by",
    }
)
_CREATE_FIELDS = _TRANSITION_FIELDS | {
    "in_reply_to_id",
    "draft_version",
    "sentiment",
    "understanding",
    "sender_role",
    "mode",
    "template_key",
    "ab_variant",
    "content_sid",
    "content_variables",
}
# who writes a message of each type, and what it is for, unless the caller says otherwise
_DEFAULT_ROLE = {INBOUND: SenderRole.CUSTOMER, DRAFT: SenderRole.BOT, OUTBOUND: SenderRole.HUMAN}
_DEFAULT_MODE = {INBOUND: MessageMode.REPLY, DRAFT: MessageMode.REPLY, OUTBOUND: MessageMode.MANUAL}


class TransitionRefused(Exception):
    """The transition table has no such move."""

    def __init__(self, kind: str, source: str | None, target: str, event: str) -> None:
        start = source or "(new)"
        super().__init__(f"{kind} cannot go from {start} to {target} on event {event!r}")
        self.source, self.target, self.event = source, target, event


class Conflict(Exception):
    """Someone else changed the row first: the optimistic check lost the race."""

    def __init__(
        self,
        subject: str,
        expected: str,
        actual: str,
        changed_by: str,
        changed_at: str | None,
        channel: str | None = None,
        withdrawn: audit_rows.Withdrawal | None = None,
    ) -> None:
        when = f" at {changed_at}" if changed_at else ""
        via = f" via {channel}" if channel else ""
        state = f"already {actual}" if expected == f"not {actual}" else f"{actual}, not {expected}"
        super().__init__(f"{subject} is {state}: changed by {changed_by}{via}{when}")
        self.subject, self.expected, self.actual = subject, expected, actual
        self.changed_by, self.changed_at, self.channel = changed_by, changed_at, channel
        # set when a close withdrew the reply (SUPERSEDED, and no newer version replaced it)
        self.withdrawn = withdrawn


class UnknownRecord(LookupError):
    """No message or conversation with that id."""


def _check_message(type_: MessageType, source: S | None, event: Event, target: S) -> None:
    if Transition(type_, source, event, target) not in MESSAGE_TRANSITIONS:
        raise TransitionRefused(f"{type_} message", source, target, event)


def _last_change(conn: Tx, column: str, value: str) -> tuple[str, str | None, str | None]:
    """Who made the latest audited change to a message or thread, when, and through which
    door; for a message the latest human decision wins over the sender's later steps."""
    change = audit_rows.last_change(conn, column, value)
    if change is None:
        return "nobody on record", None, None
    return (change.name or "the system"), change.timestamp, change.channel


def _message_conflict(
    conn: Tx, message_id: str, expected: S, row: message_rows.MessageState | None
) -> Conflict:
    """The Conflict of a message found in another status than `expected`: who changed it
    and when; for a reply a close withdrew, who closed the conversation and why."""
    actual = row.status if row else "gone"
    withdrawn = None
    if row is not None and row.status == S.SUPERSEDED and row.superseded_by is None:
        withdrawn = audit_rows.withdrawal(conn, message_id)
    subject = f"message {message_id}"
    if withdrawn is not None:
        who = withdrawn.name or "the system"
        return Conflict(subject, expected, actual, who, withdrawn.timestamp, None, withdrawn)
    last_by, last_at, via = _last_change(conn, "message_id", message_id)
    return Conflict(subject, expected, actual, last_by, last_at, via)


def _count_queue_move(conn: Tx, type_: MessageType, source: S | None, target: S) -> None:
    """Keep the stats' queue depth: a reply into or out of DRAFT_PENDING_APPROVAL."""
    delta = (target == S.DRAFT_PENDING_APPROVAL) - (source == S.DRAFT_PENDING_APPROVAL)
    if type_ != INBOUND and delta:
        rollups.queue_moved(conn, delta)


def _start_clock(conn: Tx, type_: MessageType, target: S, message_id: str) -> None:
    """A reply that becomes pending gets its review clock (or keeps its reply's running one)."""
    if type_ != INBOUND and target == S.DRAFT_PENDING_APPROVAL:
        review_clocks.started(conn, message_id)


def settle_answered(conn: Tx, thread_id: str, reply_id: str) -> None:
    """Mark the thread's texts waiting for a written reply before `reply_id` as settled.

    A sent reply answers them for good (worklists), so the open "Needs reply" index
    (migration 0017) lets them go; their status, and so their history, is unchanged.
    """
    message_rows.settle_answered(conn, thread_id, reply_id, now_iso())


def _actor(actor_id: int | None) -> Actor:
    return Actor.SYSTEM if actor_id is None else Actor.HUMAN


def create_message(
    conn: Tx,
    *,
    type: MessageType,
    event: Event,
    thread_id: str,
    sender: str,
    receiver: str,
    body: str,
    channel: Channel = Channel.SMS,
    media: list[dict[str, str]] | None = None,
    actor_id: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    draft_meta: Mapping[str, Any] | None = None,
    **fields: Any,
) -> str:
    """Insert a message in the status its creating event gives it; returns its id."""
    target = _CREATIONS.get((type, event))
    if target is None:
        raise TransitionRefused(f"{type} message", None, "(any)", event)
    unknown = set(fields) - _CREATE_FIELDS
    if unknown:
        raise ValueError(f"create_message cannot set {sorted(unknown)}")
    message_id = str(uuid.uuid4())
    now = now_iso()
    correlation_id = _correlation_of(conn, type, fields)
    row: dict[str, Any] = {
        "id": message_id,
        "thread_id": thread_id,
        "sender": sender,
        "receiver": receiver,
        "body": body,
        "media": json.dumps(media or []),
        "status": target,
        "type": type,
        "timestamp": now,
        "channel": channel,
        "draft_meta": json.dumps(draft_meta) if draft_meta is not None else None,
        "updated_at": now,
        "correlation_id": correlation_id,
        "sender_role": _DEFAULT_ROLE[type],
        "mode": _DEFAULT_MODE[type],
        **fields,
    }
    message_rows.insert_message(conn, row)
    _count_queue_move(conn, type, None, target)
    _start_clock(conn, type, target, message_id)
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            message_id=message_id,
            metadata={"from": None, "to": target, "type": type, **(metadata or {})},
        ),
    )
    _emit_created(conn, row, event, actor_id, metadata or {})
    if target == S.APPROVED_TO_SEND:
        notify_senders(conn)  # every instance's sender, not only this one's
    return message_id


def _correlation_of(conn: Tx, type_: MessageType, fields: Mapping[str, Any]) -> str | None:
    """A customer's message starts its chain (its MessageSid); a reply joins its message's."""
    if type_ is INBOUND:
        sid: str | None = fields.get("provider_sid")
        return sid
    answered = fields.get("in_reply_to_id")
    if answered is None:
        return None
    return message_rows.correlation_id(conn, answered)


def _emit_created(
    conn: Tx,
    row: Mapping[str, Any],
    event: Event,
    actor_id: int | None,
    metadata: Mapping[str, Any],
) -> None:
    """message.received for a customer's message, draft.created for a new reply version."""
    if row["type"] == INBOUND:
        events.emit(
            conn,
            "message.received",
            thread_id=row["thread_id"],
            correlation_id=row["correlation_id"],
            data={
                "message_id": row["id"],
                "message_sid": row["correlation_id"],
                "channel": row["channel"],
                "from": row["sender"],
                "to": row["receiver"],
                "body": row["body"],
                "media": json.loads(row["media"]),
                "status": row["status"],
                "keyword": metadata.get("keyword"),
            },
        )
    elif event in (Event.DRAFT_CREATED, Event.EDIT):
        events.emit(
            conn,
            "draft.created",
            thread_id=row["thread_id"],
            correlation_id=row["correlation_id"],
            data={
                "draft_id": row["id"],
                "in_reply_to_id": row.get("in_reply_to_id"),
                "version": row.get("draft_version", 1),
                "body": row["body"],
                "written_by": "reviewer" if event is Event.EDIT else "drafter",
                "reviewer": events.reviewer(conn, actor_id),
                "previous_version": metadata.get("previous_version"),
            },
        )


def _emit_send_outcome(conn: Tx, message_id: str, event: Event) -> None:
    """message.sent when Twilio took a reply, message.failed when it never will."""
    if event not in (Event.SEND_ACCEPTED, Event.SEND_FAILED):
        return
    row = message_rows.send_outcome(conn, message_id)
    data: dict[str, Any] = {"message_id": row.id, "to": row.receiver}
    if event is Event.SEND_ACCEPTED:
        data |= {
            "provider_sid": row.provider_sid,
            "delivery_status": row.delivery_status,
            "body": row.body,
        }
    else:
        data |= {"error_code": row.error_code, "error_message": row.error_message}
    events.emit(
        conn,
        "message.sent" if event is Event.SEND_ACCEPTED else "message.failed",
        thread_id=row.thread_id,
        correlation_id=row.correlation_id,
        data=data,
    )


def change_status(
    conn: Tx,
    message_id: str,
    *,
    expected: MessageStatus,
    target: MessageStatus,
    event: Event,
    actor_id: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Move a message from `expected` to `target`, with its audit row.

    Raises TransitionRefused when the table has no such move, Conflict when the row is no
    longer in `expected` (naming who changed it and when), UnknownRecord when it is gone.
    """
    unknown = set(fields) - _TRANSITION_FIELDS
    if unknown:
        raise ValueError(f"a transition cannot set {sorted(unknown)}")
    row = message_rows.state(conn, message_id)
    if row is None:
        raise UnknownRecord(f"no message {message_id}")
    _check_message(MessageType(row.type), expected, event, target)
    if row.status != expected:
        raise _message_conflict(conn, message_id, expected, row)
    moved = message_rows.set_status(
        conn, message_id, expected=expected, target=target, now=now_iso(), fields=fields
    )
    if not moved:  # another writer moved it since the read (PostgreSQL runs writers at once)
        raise _message_conflict(conn, message_id, expected, message_rows.state(conn, message_id))
    _count_queue_move(conn, MessageType(row.type), expected, target)
    _start_clock(conn, MessageType(row.type), target, message_id)

    if target == S.SENT and row.type != INBOUND:
        settle_answered(conn, row.thread_id, message_id)
    if expected == S.DRAFT_PENDING_APPROVAL and row.type != INBOUND:
        claims.end(conn, message_id)  # a claim lasts only while its draft waits in the queue
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=row.thread_id,
            message_id=message_id,
            metadata={"from": expected, "to": target, **(metadata or {})},
        ),
    )
    _emit_send_outcome(conn, message_id, event)
    if target == S.APPROVED_TO_SEND:
        notify_senders(conn)  # every instance's sender, not only this one's


def open_conversation(
    conn: Tx, thread_id: str, channel: Channel, *, actor_id: int | None = None
) -> bool:
    """Create a conversation, ACTIVE and unpaused, with its thread controls; audited.

    False, with nothing written, when another write transaction created it first (on
    PostgreSQL: committed while this one ran); the caller then takes the thread as it is.
    """
    if not conversations.insert(conn, thread_id, channel, ConversationState.ACTIVE, now_iso()):
        return False
    audit.record(
        conn,
        audit.AuditEvent(
            event=ConversationEvent.OPENED,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            metadata={"from": None, "to": ConversationState.ACTIVE, "channel": channel},
        ),
    )
    events.emit(conn, "conversation.started", thread_id=thread_id, data={"channel": str(channel)})
    return True


def _thread_row(conn: Tx, thread_id: str) -> conversations.Thread:
    row = conversations.thread(conn, thread_id)
    if row is None:
        raise UnknownRecord(f"no conversation {thread_id}")
    return row


def _locked_thread(conn: Tx, thread_id: str) -> conversations.Thread:
    """The thread read under its lock (`conversations.lock`): free when the caller took it
    first, as a write transaction deciding on the thread should."""
    row = conversations.lock(conn, thread_id)
    if row is None:
        raise UnknownRecord(f"no conversation {thread_id}")
    return row


def thread_conflict(conn: Tx, thread_id: str, *, expected: str, actual: str) -> Conflict:
    """The Conflict of a thread found `actual` instead of `expected`, naming who changed it
    last and when."""
    who, when, _ = _last_change(conn, "thread_id", thread_id)
    return Conflict(f"thread {thread_id}", expected, actual, who, when)


def change_conversation_state(
    conn: Tx,
    thread_id: str,
    *,
    expected: ConversationState,
    target: ConversationState,
    event: ConversationEvent,
    reason: str | None = None,
    actor_id: int | None = None,
) -> None:
    """Move a conversation between ACTIVE, NEEDS_ATTENTION, ARCHIVED and CLOSED, audited."""
    if (expected, event, target) not in CONVERSATION_TRANSITIONS:
        raise TransitionRefused("conversation", expected, target, event)
    row = _thread_row(conn, thread_id)
    if row.state != expected:
        who, when, _ = _last_change(conn, "thread_id", thread_id)
        raise Conflict(f"conversation {thread_id}", expected, row.state, who, when)
    moved = conversations.set_state(
        conn,
        thread_id,
        expected=expected,
        target=target,
        attention_reason=reason if target is ConversationState.NEEDS_ATTENTION else None,
    )
    if not moved:  # another writer moved it since the read (PostgreSQL runs writers at once)
        who, when, _ = _last_change(conn, "thread_id", thread_id)
        actual = _thread_row(conn, thread_id).state
        raise Conflict(f"conversation {thread_id}", expected, actual, who, when)
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            metadata={"from": expected, "to": target, "reason": reason},
        ),
    )
    if target is ConversationState.NEEDS_ATTENTION:
        events.emit(
            conn,
            "conversation.needs_attention",
            thread_id=thread_id,
            data={"reason": reason, "previous_state": str(expected)},
        )
    elif target is ConversationState.CLOSED:
        events.emit(
            conn,
            "conversation.closed",
            thread_id=thread_id,
            data={
                "reason": reason,
                "previous_state": str(expected),
                "by": events.reviewer(conn, actor_id),
            },
        )


def set_paused(
    conn: Tx,
    thread_id: str,
    *,
    paused: bool,
    kind: PauseKind,
    reason: str | None = None,
    actor_id: int | None = None,
) -> None:
    """Pause a thread with a kind, or lift a pause of that kind; audited.

    Pausing a paused thread is a Conflict, and so is lifting a pause of another kind. The
    thread is read under its lock, and the UPDATE expects what was read: a writer that
    skipped the lock and changed the pause meanwhile makes it a Conflict too.
    """
    event = ThreadEvent.PAUSED if paused else ThreadEvent.RESUMED
    refused = _pause_refused(conn, _locked_thread(conn, thread_id), paused, kind)
    if refused is not None:
        raise refused
    now = now_iso()
    moved = (
        conversations.set_pause(conn, thread_id, reason=reason, kind=kind, now=now)
        if paused
        else conversations.lift_pause(conn, thread_id, kind=kind, now=now)
    )
    if not moved:  # another writer changed the pause since the read
        current = _thread_row(conn, thread_id)
        raise _pause_refused(conn, current, paused, kind) or thread_conflict(
            conn, thread_id, expected="unchanged", actual="changed meanwhile"
        )
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            metadata={"reason": reason, "kind": kind},
        ),
    )
    events.emit(
        conn,
        "thread.paused" if paused else "thread.resumed",
        thread_id=thread_id,
        data={
            "kind": str(kind),
            "reason": reason if paused else None,
            "by": events.reviewer(conn, actor_id),
        },
    )


def _pause_refused(
    conn: Tx, row: conversations.Thread, paused: bool, kind: PauseKind
) -> Conflict | None:
    """Why the thread in `row` cannot be paused (`paused`) or have its `kind` pause lifted."""
    if row.paused and paused:
        return thread_conflict(conn, row.thread_id, expected="not paused", actual="paused")
    if not row.paused and not paused:
        expected = f"paused ({kind})"
        return thread_conflict(conn, row.thread_id, expected=expected, actual="not paused")
    if not paused and row.pause_kind != kind:
        return thread_conflict(
            conn, row.thread_id, expected=f"paused ({kind})", actual=f"paused ({row.pause_kind})"
        )
    return None


def set_opted_out(
    conn: Tx,
    thread_id: str,
    *,
    opted_out: bool,
    source: str,
    actor_id: int | None = None,
) -> None:
    """Record a customer's opt-out or opt-in (`source` says how we learned it), audited."""
    event = ThreadEvent.OPTED_OUT if opted_out else ThreadEvent.OPTED_IN
    state = "opted out" if opted_out else "opted in"
    if _locked_thread(conn, thread_id).opted_out == opted_out or not (
        conversations.set_opted_out(conn, thread_id, opted_out)  # 0: changed meanwhile
    ):
        raise thread_conflict(conn, thread_id, expected=f"not {state}", actual=state)
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            metadata={"source": source},
        ),
    )
    events.emit(
        conn,
        "conversation.opted_out" if opted_out else "conversation.opted_in",
        thread_id=thread_id,
        data={"source": source},
    )


def flag_conversation(
    conn: Tx, thread_id: str, reason: str, *, actor_id: int | None = None
) -> None:
    """Mark a conversation NEEDS_ATTENTION with `reason`, whatever state it is in."""
    row = _thread_row(conn, thread_id)
    change_conversation_state(
        conn,
        thread_id,
        expected=ConversationState(row.state),
        target=ConversationState.NEEDS_ATTENTION,
        event=ConversationEvent.FLAGGED,
        reason=reason,
        actor_id=actor_id,
    )


def record_understanding(
    conn: Tx,
    thread_id: str,
    message_id: str,
    understanding: Understanding,
    *,
    soft_no_count: int,
    confusion_count: int,
) -> None:
    """Keep a conversation's counters after an understood text, with its audit row."""
    conversations.set_counters(
        conn, thread_id, soft_no_count=soft_no_count, confusion_count=confusion_count
    )
    audit.record(
        conn,
        audit.AuditEvent(
            event=ContactEvent.UNDERSTOOD,
            thread_id=thread_id,
            message_id=message_id,
            metadata={
                "understanding": json.loads(understanding.to_json()),
                "soft_no_count": soft_no_count,
                "confusion_count": confusion_count,
            },
        ),
    )


def set_appointment(
    conn: Tx,
    thread_id: str,
    *,
    expected: AppointmentStatus,
    status: AppointmentStatus,
    at: str | None,
    message_id: str | None = None,
) -> None:
    """Move a conversation's appointment (NONE, INVITED, BOOKED and its time), audited."""
    changed = conversations.set_appointment(
        conn, thread_id, expected=expected, status=status, at=at
    )
    if changed != 1:
        row = _thread_row(conn, thread_id)
        who, when, _ = _last_change(conn, "thread_id", thread_id)
        raise Conflict(f"appointment of {thread_id}", expected, row.appointment_status, who, when)
    audit.record(
        conn,
        audit.AuditEvent(
            event=ContactEvent.APPOINTMENT_CHANGED,
            thread_id=thread_id,
            # a change of the conversation: the text that moved it is named in the metadata
            metadata={"from": expected, "to": status, "appointment_at": at, "text": message_id},
        ),
    )
    events.emit(
        conn,
        "appointment.changed",
        thread_id=thread_id,
        data={
            "from": str(expected),
            "to": str(status),
            "appointment_at": at,
            "message_id": message_id,
        },
    )


def start_contact(conn: Tx, thread_id: str, now: datetime) -> Contact:
    """A text on an archived conversation: the next contact begins, audited.

    Its counters and a past appointment reset; facts, opt-out and directives stay.
    """
    row = _thread_row(conn, thread_id)
    before = Contact(
        contact_count=row.contact_count,
        soft_no_count=row.soft_no_count,
        confusion_count=row.confusion_count,
        appointment_status=AppointmentStatus(row.appointment_status),
        appointment_at=row.appointment_at,
    )
    after = new_contact(before, now)
    conversations.set_contact(
        conn,
        thread_id,
        contact_count=after.contact_count,
        soft_no_count=after.soft_no_count,
        confusion_count=after.confusion_count,
        appointment_status=after.appointment_status,
        appointment_at=after.appointment_at,
    )
    audit.record(
        conn,
        audit.AuditEvent(
            event=ContactEvent.CONTACT_STARTED,
            thread_id=thread_id,
            metadata={"from": asdict(before), "to": asdict(after)},
        ),
    )
    return after


def change_facts(
    conn: Tx,
    thread_id: str,
    patch: dict[str, object],
    *,
    actor_id: int | None = None,
    source: str,
) -> dict[str, object]:
    """Merge `patch` into a conversation's facts (never overwritten whole), audited.

    `source` says where the patch came from (a drafter, a reviewer's edit). Returns the
    facts after the merge; a patch that changes nothing writes nothing. The facts are read
    under the thread's lock, so a concurrent patch is merged after this one, never lost.
    """
    row = _locked_thread(conn, thread_id)
    before: dict[str, object] = json.loads(row.facts)
    after = merge_facts(before, patch)
    if after == before:
        return before
    conversations.set_facts(conn, thread_id, json.dumps(after, sort_keys=True))
    audit.record(
        conn,
        audit.AuditEvent(
            event=ContactEvent.FACTS_CHANGED,
            actor=_actor(actor_id),
            actor_id=actor_id,
            thread_id=thread_id,
            metadata={"patch": patch, "facts": after, "source": source},
        ),
    )
    events.emit(
        conn,
        "facts.changed",
        thread_id=thread_id,
        data={
            "patch": patch,
            "facts": after,
            "source": source,
            "by": events.reviewer(conn, actor_id),
        },
    )
    return after
