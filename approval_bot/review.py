"""Review actions: the decisions a human makes, shared by the web, SMS and API doors.

Each action is one write transaction: the status changes through the workflow funnel,
the `approvals` row where it is a draft decision, and the audit rows.

On PostgreSQL write transactions run side by side, so an action that reads a thread's
pause, holder or opt-out, or a draft's claim, and then writes takes a lock first: the
thread's (`conversations.lock`) or the draft's row (`messages.lock`), before any other
row lock and before its first audit row (which locks the audit head until the commit).
A second action on the same thread or draft waits, then reads what the first left, as
it would after the first on SQLite's one writer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from . import (
    audit,
    claims,
    draft_notices,
    events,
    message_templates,
    review_clocks,
    rollups,
    sending_gate,
    stats,
    whatsapp_window,
    workflow,
    worklists,
)
from . import profile as business
from .models import (
    Actor,
    ApprovalAction,
    Channel,
    ClaimEvent,
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
    ThreadEvent,
    now_iso,
)
from .phrases import phrase
from .sms_text import NUL
from .store import Priority, Store, Tx, conversations, missed_calls
from .store import approvals as approval_rows
from .store import messages as message_rows
from .store import reviewers as reviewer_rows
from .store.conversations import Thread

S = MessageStatus
OPEN_REPLY_STATUSES = (S.DRAFT_PENDING_APPROVAL, S.APPROVED_TO_SEND)
OPT_OUT_REASON = "opt-out"  # the reason shown on a thread paused by the customer's STOP
OPTED_OUT_MESSAGE = "Conversation is opted out (DNC); no further messages allowed."
NO_REPLY_NEEDED = "No reply needed"
TAKEN_OVER = "the thread was taken over"  # why the bot's approved replies are held
# the pauses a human's own reply lifts: the customer's opt-out is never one of them
REPLY_LIFTS = (PauseKind.REVIEWER, PauseKind.ESCALATION)


class ThreadClosed(Exception):
    """The thread is paused or opted out, so nothing may be approved or sent on it."""


class WindowClosed(ThreadClosed):
    """WhatsApp's 24-hour window has closed: a free-form reply would be refused (63016).

    Every door that shows ThreadClosed shows this message; the reviewer is offered the
    WhatsApp templates instead.
    """

    def __init__(self, closes_at: datetime | None) -> None:
        super().__init__(whatsapp_window.closed_message(closes_at))
        self.closes_at = closes_at


class OptedOut(ThreadClosed):
    """The customer opted out: nothing at all may be sent to them."""

    def __init__(self) -> None:
        super().__init__(OPTED_OUT_MESSAGE)


class HeldByOther(Exception):
    """Another reviewer has taken the thread over; the message names them and since when."""

    def __init__(self, holder: str, since: str) -> None:
        super().__init__(f"{holder} has this thread since {since[11:16]} UTC")
        self.holder, self.since = holder, since


class NothingToDo(Exception):
    """The action has nothing to act on (no takeover to release, no text to dismiss)."""


class EmptyReply(ValueError):
    """A reply must have some text."""


class UnsendableText(EmptyReply):
    """A reply holding a NUL character: no SMS carries one, and PostgreSQL's text columns
    refuse it, so it is refused here, the same on both backends."""


def _require_text(body: str) -> None:
    if not body.strip():
        raise EmptyReply("a reply needs some text")
    if NUL in body:
        raise UnsendableText("a reply cannot contain a NUL character (\\x00)")


@dataclass(frozen=True)
class Decision:
    """Who decides, where, and why."""

    reviewer_id: int
    channel: DecisionChannel
    reviewer_phone: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class DecisionMade:
    """A decision on a draft that was committed: what, where, by whom, after how long.

    `waited_seconds` runs from the creation of the version the reviewer decided on (for
    an edit, the version they edited) to the decision.
    """

    draft_id: str
    action: ApprovalAction
    channel: DecisionChannel
    reviewer_id: int
    waited_seconds: float


DecisionListener = Callable[[DecisionMade], None]
_listeners: WeakKeyDictionary[Store, list[DecisionListener]] = WeakKeyDictionary()
# takeovers, releases and closes: (action, by) once committed
ThreadListener = Callable[[str, str], None]
_thread_listeners: WeakKeyDictionary[Store, list[ThreadListener]] = WeakKeyDictionary()


def listen_threads(db: Store, listener: ThreadListener) -> None:
    """Call `listener(action, by)` after each takeover, release or close on `db` commits.

    `action` is takeover, release or close; `by` is reviewer, admin (a forced takeover)
    or opt_out (a STOP's close, told by the webhook through `closed`). A close that ends
    a takeover is told as a close and a release.
    """
    _thread_listeners.setdefault(db, []).append(listener)


def thread_changed(db: Store, action: str, by: str) -> None:
    """Tell the thread listeners of a committed takeover, release or close."""
    for listener in _thread_listeners.get(db, ()):
        listener(action, by)


def listen(db: Store, listener: DecisionListener) -> None:
    """Call `listener` after each decision on `db` commits, whichever door it came through.

    Decisions are approve, reject and edit-and-approve (the ones that write an
    `approvals` row); a saved edit left pending is not one.
    """
    _listeners.setdefault(db, []).append(listener)


_confirmations: WeakKeyDictionary[Store, list[Callable[[], None]]] = WeakKeyDictionary()


def listen_opt_out_confirmed(db: Store, listener: Callable[[], None]) -> None:
    """Call `listener` after each confirmed opt-out in plain words on `db` commits."""
    _confirmations.setdefault(db, []).append(listener)


def _made(draft: Any, action: ApprovalAction, decision: Decision) -> DecisionMade:
    waited = datetime.now(UTC) - datetime.fromisoformat(draft["timestamp"])
    return DecisionMade(
        draft["id"],
        action,
        decision.channel,
        decision.reviewer_id,
        max(0.0, waited.total_seconds()),
    )


def _announce(db: Store, made: DecisionMade) -> None:
    for listener in _listeners.get(db, ()):
        listener(made)


def _message(conn: Tx, message_id: str) -> Any:
    row = message_rows.row(conn, message_id)
    if row is None:
        raise workflow.UnknownRecord(f"no message {message_id}")
    return row


def _record_approval(
    conn: Tx,
    draft_id: str,
    action: ApprovalAction,
    decision: Decision,
    since: str,
    previous_version: str | None = None,
) -> None:
    """The decision's `approvals` row, its rollups and its draft.decided event; `since`: the
    decided version's creation; `previous_version`: the version an edit replaced."""
    at = now_iso()
    approval_rows.insert_approval(
        conn,
        draft_id=draft_id,
        action=action,
        at=at,
        reviewer_id=decision.reviewer_id,
        channel=decision.channel,
        reviewer_phone=decision.reviewer_phone,
        notes=decision.notes,
    )
    rollups.decided(
        conn,
        at=at,
        since=since,
        action=action,
        channel=decision.channel,
        reviewer_id=decision.reviewer_id,
        reviewer_phone=decision.reviewer_phone,
    )
    draft = _message(conn, draft_id)
    review_clocks.decided(
        conn, draft["thread_id"], at=at, action=action, reviewer_id=decision.reviewer_id
    )
    events.emit(
        conn,
        "draft.decided",
        thread_id=draft["thread_id"],
        correlation_id=draft["correlation_id"],
        data={
            "draft_id": draft_id,
            "action": action.lower(),
            "reviewer": events.reviewer(conn, decision.reviewer_id),
            "channel": str(decision.channel),
            "notes": decision.notes,
            "body": draft["body"],
            "status": draft["status"],
            "previous_version": previous_version,
        },
    )


def _require_open_thread(conn: Tx, thread_id: str) -> None:
    row = thread_controls(conn, thread_id)
    if row.opted_out:
        raise ThreadClosed(f"{thread_id} has opted out; nothing can be sent until they text START")
    if row.paused:
        reason = f" ({row.paused_reason})" if row.paused_reason else ""
        raise ThreadClosed(f"thread {thread_id} is paused{reason}; resume it first")


def _require_free_form(conn: Tx, thread_id: str) -> None:
    """Refuse a free-form reply on a WhatsApp thread whose 24-hour window has closed."""
    thread = conversations.thread(conn, thread_id)
    if thread is None or thread.channel != Channel.WHATSAPP:
        return
    last = whatsapp_window.last_inbound(conn, thread_id)
    if not whatsapp_window.is_open(last, datetime.now(UTC)):
        raise WindowClosed(whatsapp_window.closes_at(last))


async def approve(
    db: Store, draft_id: str, decision: Decision, *, override_claim: bool = False
) -> None:
    """Approve a pending reply for sending.

    Claimed by another reviewer, or on a thread another reviewer has taken over:
    claims.ClaimedByOther, unless `override_claim` (audited).
    """

    def decide(conn: Tx) -> Any:
        _require_unclaimed(
            conn, draft_id, decision.reviewer_id, override_claim, "approve", sends=True
        )
        return _approve(conn, draft_id, decision, ApprovalAction.APPROVE)

    draft = await db.write(decide, priority=Priority.DECISION)
    _announce(db, _made(draft, ApprovalAction.APPROVE, decision))


def _require_unclaimed(
    conn: Tx, draft_id: str, reviewer_id: int, override: bool, action: str, *, sends: bool
) -> None:
    """Another reviewer's claim, or (when the action sends) another reviewer's takeover of
    the thread, refuses the action unless `override` (claims.ClaimedByOther)."""
    # a decision waits for a STOP, a pause, a takeover or a claim being written, then reads it
    message_rows.lock(conn, draft_id)
    draft = _message(conn, draft_id)
    if draft["status"] != S.DRAFT_PENDING_APPROVAL:
        return  # the funnel names who decided it first
    holder = claims.holder_of(conn, draft["thread_id"]) if sends else None
    claims.require_unclaimed(
        conn,
        draft_id,
        draft["thread_id"],
        reviewer_id,
        override=override,
        action=action,
        holder=holder,
    )


def _approve(
    conn: Tx,
    draft_id: str,
    decision: Decision,
    action: ApprovalAction,
    since: str | None = None,
    previous_version: str | None = None,
) -> Any:
    """Approve `draft_id`; `since`: when the version decided on was made (default: this one)."""
    draft = _message(conn, draft_id)
    _require_open_thread(conn, draft["thread_id"])
    if draft["content_sid"] is None:
        _require_free_form(conn, draft["thread_id"])
    metadata: dict[str, Any] = {"channel": decision.channel, "notes": decision.notes}
    fresh: dict[str, Any] = {}
    # a reply back from the sender gets the whole retry budget again, its earlier attempts
    # kept on record; not one that may be at Twilio: that stays to be reconciled first
    if draft["send_attempts"] and draft["unconfirmed_since"] is None:
        metadata["earlier_send_attempts"] = draft["send_attempts"]
        fresh["send_attempts"] = 0
    workflow.change_status(
        conn,
        draft_id,
        expected=S.DRAFT_PENDING_APPROVAL,
        target=S.APPROVED_TO_SEND,
        event=Event.APPROVE,
        actor_id=decision.reviewer_id,
        metadata=metadata,
        **fresh,
    )
    _record_approval(
        conn, draft_id, action, decision, since or draft["timestamp"], previous_version
    )
    return draft


async def reject(db: Store, draft_id: str, decision: Decision) -> None:
    """Reject a pending reply; the customer's message goes back to NEEDS_REVIEW."""
    draft = await db.write(
        lambda conn: _reject(conn, draft_id, decision), priority=Priority.DECISION
    )
    _announce(db, _made(draft, ApprovalAction.REJECT, decision))


def _reject(conn: Tx, draft_id: str, decision: Decision) -> Any:
    message_rows.lock(conn, draft_id)
    draft = _message(conn, draft_id)
    workflow.change_status(
        conn,
        draft_id,
        expected=S.DRAFT_PENDING_APPROVAL,
        target=S.REJECTED,
        event=Event.REJECT,
        actor_id=decision.reviewer_id,
        metadata={"channel": decision.channel, "notes": decision.notes},
    )
    _record_approval(conn, draft_id, ApprovalAction.REJECT, decision, draft["timestamp"])
    if draft["in_reply_to_id"]:
        inbound = _message(conn, draft["in_reply_to_id"])
        if inbound["status"] == S.DRAFT_PENDING_APPROVAL:
            workflow.change_status(
                conn,
                inbound["id"],
                expected=S.DRAFT_PENDING_APPROVAL,
                target=S.NEEDS_REVIEW,
                event=Event.DRAFT_REJECTED,
                actor_id=decision.reviewer_id,
            )
    return draft


async def edit(
    db: Store,
    draft_id: str,
    body: str,
    decision: Decision,
    *,
    approve: bool,
    override_claim: bool = False,
) -> str:
    """Save a new version of a pending reply, approved or left pending; returns its id.

    The original is kept as SUPERSEDED, pointing at the new version. Claimed by another
    reviewer, or approved on a thread another reviewer has taken over: claims.ClaimedByOther,
    unless `override_claim`; the editor's own claim moves
    to a version left pending, so the notice of it names them.
    """
    _require_text(body)
    # measured before the write transaction: a message's text never changes
    draft = await message_rows.read_row(db, draft_id)
    if draft is None:
        raise workflow.UnknownRecord(f"no message {draft_id}")
    before = str(draft["body"])
    size = stats.edit_size(before, body)

    def change(conn: Tx) -> tuple[Any, str]:
        old = _message(conn, draft_id)
        _require_unclaimed(
            conn, draft_id, decision.reviewer_id, override_claim, "edit", sends=approve
        )
        mine = claims.live(conn, draft_id, claims.clock())
        if approve:
            _require_open_thread(conn, old["thread_id"])
        new_id = workflow.create_message(
            conn,
            type=MessageType(old["type"]),
            event=Event.EDIT,
            thread_id=old["thread_id"],
            sender=old["sender"],
            receiver=old["receiver"],
            body=body,
            channel=old["channel"],
            actor_id=decision.reviewer_id,
            in_reply_to_id=old["in_reply_to_id"],
            draft_version=old["draft_version"] + 1,
            metadata={"previous_version": draft_id, "channel": decision.channel},
            sender_role=SenderRole.HUMAN,
            mode=old["mode"] or MessageMode.REPLY,
        )
        rollups.edited(conn, size)
        workflow.change_status(
            conn,
            draft_id,
            expected=S.DRAFT_PENDING_APPROVAL,
            target=S.SUPERSEDED,
            event=Event.EDIT,
            actor_id=decision.reviewer_id,
            superseded_by=new_id,
            metadata={"new_version": new_id},
        )
        if approve:
            _approve(
                conn,
                new_id,
                decision,
                ApprovalAction.EDIT,
                since=old["timestamp"],
                previous_version=draft_id,
            )
            draft_notices.issue_code(conn, new_id)  # so its old code can name it
        else:
            if mine is not None and mine.reviewer_id == decision.reviewer_id:
                claims.carry(conn, mine, new_id)
            draft_notices.announce(conn, new_id)
        return old, new_id

    old, new_id = await db.write(change, priority=Priority.DECISION)
    if approve:
        _announce(db, _made(old, ApprovalAction.EDIT, decision))
    return new_id


# -- claims: who is working on a pending draft


def _claimable(conn: Tx, draft_id: str) -> Any:
    message_rows.lock(conn, draft_id)  # one claim or release of the draft at a time
    draft = _message(conn, draft_id)
    if draft["type"] == MessageType.INBOUND:
        raise workflow.UnknownRecord(f"no draft {draft_id}")
    if draft["status"] != S.DRAFT_PENDING_APPROVAL:
        raise NothingToDo(
            f"this reply is {phrase(draft['status'], 'MessageStatus').lower()}: "
            "nobody works on it any more"
        )
    return draft


async def claim(
    db: Store, draft_id: str, reviewer_id: int, minutes: float, *, take_over: bool = False
) -> claims.Claim:
    """A reviewer works on a pending draft: it is theirs for `minutes` (again: extended).

    Claimed by someone else: claims.ClaimedByOther, unless `take_over` (audited as a
    takeover). Not pending: NothingToDo. A new claim is audited; an extension is not.
    """

    def take(conn: Tx) -> claims.Claim:
        draft = _claimable(conn, draft_id)
        now = claims.clock()
        current = claims.live(conn, draft_id, now)
        if current is not None and current.reviewer_id == reviewer_id:
            claims.hold(conn, draft_id, reviewer_id, now, minutes, since=current.claimed_at)
        else:
            if current is not None and not take_over:
                raise claims.ClaimedByOther(current)
            claims.hold(conn, draft_id, reviewer_id, now, minutes)
            if current is None:
                claims.record(conn, ClaimEvent.CLAIMED, draft_id, draft["thread_id"], reviewer_id)
            else:
                claims.record(
                    conn,
                    ClaimEvent.TAKEN_OVER,
                    draft_id,
                    draft["thread_id"],
                    reviewer_id,
                    from_reviewer=current.reviewer_id,
                    expires_at=current.expires_at,
                    by="claim",
                )
        held = claims.live(conn, draft_id, now)
        assert held is not None  # just written, expiring after now
        return held

    return await db.write(take, priority=Priority.DECISION)


async def release_claim(db: Store, draft_id: str, reviewer_id: int) -> None:
    """The reviewer stops working on the draft; others may approve it without confirming.

    Only the claimer or an admin releases (claims.ClaimedByOther); no live claim: NothingToDo.
    """

    def let_go(conn: Tx) -> None:
        draft = _claimable(conn, draft_id)
        current = claims.live(conn, draft_id, claims.clock())
        if current is None:
            raise NothingToDo("nobody is editing this draft")
        if current.reviewer_id != reviewer_id and not _is_admin(conn, reviewer_id):
            raise claims.ClaimedByOther(current)
        claims.end(conn, draft_id)
        claims.record(
            conn,
            ClaimEvent.RELEASED,
            draft_id,
            draft["thread_id"],
            reviewer_id,
            holder=current.reviewer_id,
        )

    await db.write(let_go, priority=Priority.DECISION)


class KeyReused(Exception):
    """An idempotency key already sent a reply with another text."""


class _KeyStoredMeanwhile(Exception):
    """Another request stored the same idempotency key while this one wrote its reply: this
    one's reply is rolled back, and the request answered as a repeat of that one."""


IDEMPOTENCY_KEPT = timedelta(hours=24)


def _body_hash(thread_id: str, body: str) -> str:
    return hashlib.sha256(json.dumps([thread_id, body]).encode()).hexdigest()


def _replayed(conn: Tx, reviewer_id: int, key: str, digest: str, now: datetime) -> str | None:
    """The reply an unexpired key already sent (KeyReused for another text), else None."""
    row = approval_rows.key_use(conn, reviewer_id, key)
    if row is None:
        return None
    if datetime.fromisoformat(row.created_at) <= now - IDEMPOTENCY_KEPT:
        approval_rows.forget_key(conn, reviewer_id, key)
        return None
    if row.body_hash != digest:
        raise KeyReused(f"Idempotency-Key {key!r} was used for a reply with another text")
    return str(row.message_id)


async def prune_idempotency_keys(db: Store) -> int:
    """Forget idempotency keys older than 24 hours; returns how many."""
    cutoff = (datetime.now(UTC) - IDEMPOTENCY_KEPT).isoformat(timespec="microseconds")
    return await db.write(
        lambda conn: approval_rows.prune_keys(conn, cutoff),
        priority=Priority.BULK,
    )


async def write_reply(
    db: Store,
    thread_id: str,
    body: str,
    reviewer_id: int,
    *,
    in_reply_to_id: str | None,
    idempotency_key: str | None = None,
) -> str:
    """Queue a reply a human wrote; the thread's other open replies are superseded by it.

    Refused with SendingClosed while the sending gate is closed. On a thread a reviewer
    paused or escalated the reply is the resolution: in the same
    transaction it lifts that pause, clears the attention, and leaves the thread taken
    over by its author. An opted-out customer gets nothing (OptedOut).

    With an `idempotency_key` the same key again returns the first reply's id and sends
    nothing new; with another text it is KeyReused. Keys are kept 24 hours.
    """
    _require_text(body)
    digest = _body_hash(thread_id, body)

    def send(conn: Tx) -> str:
        now = datetime.now(UTC)
        if idempotency_key is not None:
            # a repeat on the same thread waits here for the first request, then replays it
            _locked(conn, thread_id)
            first = _replayed(conn, reviewer_id, idempotency_key, digest, now)
            if first is not None:
                return first
        reply_id = human_reply(conn, thread_id, body, reviewer_id, in_reply_to_id)
        if idempotency_key is not None and not approval_rows.insert_key(
            conn, reviewer_id, idempotency_key, digest, reply_id, now.isoformat()
        ):
            raise _KeyStoredMeanwhile()  # (the key on another thread: no lock in common)
        return reply_id

    try:
        return await db.write(send, priority=Priority.DECISION)
    except _KeyStoredMeanwhile:
        # the other request has committed its key (the insert waited for it): this is
        # its repeat, replayed, or KeyReused for another text
        return await db.write(send, priority=Priority.DECISION)


def human_reply(
    conn: Tx,
    thread_id: str,
    body: str,
    reviewer_id: int,
    in_reply_to_id: str | None,
) -> str:
    """`write_reply` inside the caller's transaction; returns the reply's id."""
    controls = _locked(conn, thread_id)
    if controls.opted_out:
        raise OptedOut()
    if controls.state == ConversationState.CLOSED:
        raise ThreadClosed(f"the conversation with {thread_id} is closed")
    # a new text is a send attempt, refused while the gate is closed; decisions on drafts
    # are still taken, and the approved replies wait for the gate
    sending_gate.require_open(conn)
    _require_free_form(conn, thread_id)
    resolves = False
    if controls.paused:
        if controls.pause_kind not in REPLY_LIFTS:
            _require_open_thread(conn, thread_id)  # says why it stays refused
        assert controls.pause_kind is not None  # a paused thread has its kind
        workflow.set_paused(
            conn,
            thread_id,
            paused=False,
            kind=controls.pause_kind,
            reason="a reviewer replied",
            actor_id=reviewer_id,
        )
        resolves = True
    if controls.state == ConversationState.NEEDS_ATTENTION:
        workflow.change_conversation_state(
            conn,
            thread_id,
            expected=ConversationState.NEEDS_ATTENTION,
            target=ConversationState.ACTIVE,
            event=ConversationEvent.RESOLVED,
            reason="a reviewer replied",
            actor_id=reviewer_id,
        )
        resolves = True
    last_inbound = message_rows.last_inbound(conn, thread_id)
    if last_inbound is None:
        raise workflow.UnknownRecord(f"thread {thread_id} has no customer message to answer")
    reply_id = workflow.create_message(
        conn,
        type=MessageType.OUTBOUND,
        event=Event.HUMAN_REPLY,
        thread_id=thread_id,
        sender=last_inbound.receiver,
        receiver=thread_id,
        body=body,
        channel=last_inbound.channel,
        actor_id=reviewer_id,
        in_reply_to_id=in_reply_to_id,
    )
    supersede_open_replies(
        conn,
        thread_id,
        reply_id,
        "a reviewer wrote their own reply",
        reviewer_id,
        statuses=(*OPEN_REPLY_STATUSES, S.PAUSED_THREAD),
    )
    approval_rows.human_replied(conn, thread_id, reviewer_id, now_iso())
    if resolves and controls.taken_over_by is None:
        _hold_for(conn, controls, reviewer_id)
    return reply_id


class NotAContentTemplate(ValueError):
    """Only a WhatsApp template with a content_sid can be sent outside the window."""


async def send_template(
    db: Store, thread_id: str, key: str, values: dict[str, str], reviewer_id: int
) -> str:
    """Send a WhatsApp Content template a reviewer chose, with the variables they filled.

    Twilio gets its content_sid and content_variables ({"1": …, "2": …}, in the order the
    body names them); the rendered body is kept as the message's text. The thread's other
    open replies are superseded by it. Refused with SendingClosed while the sending gate is
    closed, like a reviewer's new reply.
    """

    def queue(conn: Tx) -> str:
        template = message_templates.get(conn, key)
        if template is None:
            raise message_templates.UnknownTemplate(f"no template {key!r}")
        if template.content_sid is None:
            raise NotAContentTemplate(
                f"the template {key!r} has no content_sid: it is not a WhatsApp Content template"
            )
        unknown = sorted(set(values) - set(template.variables))
        if unknown:
            raise message_templates.InvalidTemplate(
                "variables", f"variables: the template {key!r} does not use {', '.join(unknown)}"
            )
        thread = _locked(conn, thread_id)  # a pause being made is read once it is committed
        _require_open_thread(conn, thread_id)
        # a template chosen now is a send attempt, refused like a new reply
        sending_gate.require_open(conn)
        last = message_rows.last_inbound(conn, thread_id)
        if last is None or last.channel != Channel.WHATSAPP:
            raise NotAContentTemplate(f"{thread_id} is not a WhatsApp thread")
        filled = {
            **message_templates.variable_values(
                business_phone=last.receiver,
                profile=business.load_now(conn),
                facts=json.loads(thread.facts),
            ),
            **values,
        }
        variables = message_templates.content_variables(template.variables, filled)
        reply_id = workflow.create_message(
            conn,
            type=MessageType.OUTBOUND,
            event=Event.TEMPLATE_REPLY,
            thread_id=thread_id,
            sender=last.receiver,
            receiver=thread_id,
            body=message_templates.render(template.body, filled),
            channel=Channel.WHATSAPP,
            actor_id=reviewer_id,
            in_reply_to_id=last.id,
            content_sid=template.content_sid,
            content_variables=json.dumps(variables, ensure_ascii=False),
            metadata={
                "template": key,
                "content_sid": template.content_sid,
                "content_variables": variables,
            },
        )
        supersede_open_replies(
            conn, thread_id, reply_id, "a reviewer sent a WhatsApp template", reviewer_id
        )
        return reply_id

    return await db.write(queue, priority=Priority.DECISION)


def _replies_in(conn: Tx, thread_id: str, statuses: tuple[S, ...]) -> list[message_rows.OpenReply]:
    # a reply the sender holds, or may already have handed to Twilio, is left to the
    # sender: it re-checks the thread before any further attempt
    return message_rows.replies_in(conn, thread_id, statuses)


def supersede_open_replies(
    conn: Tx,
    thread_id: str,
    newer_id: str | None,
    reason: str,
    actor_id: int | None,
    *,
    statuses: tuple[S, ...] = OPEN_REPLY_STATUSES,
) -> None:
    """Supersede every pending or approved-unsent reply of a thread but `newer_id`.

    A thread has at most one live reply: a new draft or a human's reply replaces the rest.
    """
    for row in _replies_in(conn, thread_id, statuses):
        if row.id == newer_id:
            continue
        workflow.change_status(
            conn,
            row.id,
            expected=S(row.status),
            target=S.SUPERSEDED,
            event=Event.SUPERSEDED,
            actor_id=actor_id,
            superseded_by=newer_id,
            metadata={"reason": reason},
        )


def hold_thread(
    conn: Tx,
    thread_id: str,
    reason: str,
    actor_id: int | None,
    *,
    kind: PauseKind,
) -> None:
    """Pause a thread inside the caller's transaction; its open replies are held."""
    workflow.set_paused(conn, thread_id, paused=True, kind=kind, reason=reason, actor_id=actor_id)
    for row in _replies_in(conn, thread_id, OPEN_REPLY_STATUSES):
        workflow.change_status(
            conn,
            row.id,
            expected=S(row.status),
            target=S.PAUSED_THREAD,
            event=Event.HELD,
            actor_id=actor_id,
            metadata={"reason": reason},
        )


async def pause_thread(db: Store, thread_id: str, reason: str, actor_id: int | None) -> None:
    """Pause a thread: nothing is drafted or sent on it until it is resumed."""
    await db.write(
        lambda conn: hold_thread(conn, thread_id, reason, actor_id, kind=PauseKind.REVIEWER),
        priority=Priority.DECISION,
    )


async def resume_thread(db: Store, thread_id: str, actor_id: int | None) -> bool:
    """Resume a paused thread; replies it held go back to review, never straight to sending.

    The customer texts it held come back: to drafting, or to Needs reply when a reviewer
    has taken the thread over. Returns whether the thread now wants drafting.
    """

    def resume(conn: Tx) -> bool:
        row = conversations.lock(conn, thread_id)
        if row is not None and row.opted_out:
            raise ThreadClosed(f"{thread_id} has opted out; only their START resumes it")
        # a reviewer lifts any pause of a thread whose customer takes texts
        kind = row.pause_kind if row and row.pause_kind else PauseKind.REVIEWER
        workflow.set_paused(conn, thread_id, paused=False, kind=kind, actor_id=actor_id)
        return release_held(conn, thread_id, actor_id)

    return await db.write(resume, priority=Priority.DECISION)


def release_held(conn: Tx, thread_id: str, actor_id: int | None) -> bool:
    """After a pause is lifted: its held replies go back to review, its held texts back to
    the bot (or to Needs reply on a taken-over thread); whether to draft. A release made
    during the pause gives back the texts it left for the holder too."""
    _release_replies(conn, thread_id, actor_id)
    held: tuple[S, ...] = (S.PAUSED_THREAD,)
    if approval_rows.take_deferred_release(conn, thread_id):
        held = (S.PAUSED_THREAD, S.NEEDS_REVIEW)
    return give_back_texts(conn, thread_id, held, actor_id)


def _release_replies(
    conn: Tx,
    thread_id: str,
    actor_id: int | None,
    metadata: dict[str, str] | None = None,
) -> None:
    """The replies a pause held go back to review, never straight to sending."""
    for held in _replies_in(conn, thread_id, (S.PAUSED_THREAD,)):
        workflow.change_status(
            conn,
            held.id,
            expected=S.PAUSED_THREAD,
            target=S.DRAFT_PENDING_APPROVAL,
            event=Event.RELEASED,
            actor_id=actor_id,
            metadata=metadata,
        )


def give_back_texts(
    conn: Tx, thread_id: str, statuses: tuple[S, ...], actor_id: int | None
) -> bool:
    """The thread's unanswered texts in `statuses` go back to the bot, or to Needs reply
    when the thread is taken over (or a human answered moments ago); whether to draft."""
    held_by = conversations.thread(conn, thread_id)
    for_human = held_by is not None and held_by.taken_over_by is not None
    wants_draft = False
    for text in worklists.unanswered(conn, thread_id):
        target = S.NEEDS_REVIEW if for_human else S.RECEIVED
        if text["status"] not in statuses or text["status"] == target:
            continue
        event = Event.FOR_HUMAN if for_human else Event.BACK_TO_DRAFTING
        workflow.change_status(
            conn,
            text["id"],
            expected=S(text["status"]),
            target=target,
            event=event,
            actor_id=actor_id,
        )
        wants_draft = wants_draft or not for_human
    return wants_draft


def opt_in_thread(conn: Tx, thread_id: str, *, source: str) -> bool:
    """A customer opted back in, inside the caller's transaction; whether to draft.

    The opt-out pause (a STOP, or Twilio's 21610) is lifted and the replies it held go
    back to review; a reviewer's or an escalation's pause stays. A release made during the
    pause gives back, now, the texts it left for the holder.
    """
    workflow.set_opted_out(conn, thread_id, opted_out=False, source=source)
    row = conversations.thread(conn, thread_id)
    if row is None or not row.paused or row.pause_kind != PauseKind.OPT_OUT:
        return False
    workflow.set_paused(conn, thread_id, paused=False, kind=PauseKind.OPT_OUT)
    _release_replies(conn, thread_id, None, {"reason": "the customer opted back in"})
    if not approval_rows.take_deferred_release(conn, thread_id):
        return False
    return give_back_texts(conn, thread_id, (S.NEEDS_REVIEW,), None)


async def escalate(db: Store, thread_id: str, reason: str, actor_id: int | None) -> None:
    """Hand a thread to a human: it pauses (if it was not) and NEEDS_ATTENTION with the reason.

    Both changes and their audit rows are one transaction.
    """
    if not reason.strip():
        raise EmptyReply("an escalation needs a reason")

    def hand_over(conn: Tx) -> None:
        row = _locked(conn, thread_id)  # a pause being made is read once it is committed
        if not row.paused:
            hold_thread(
                conn, thread_id, f"escalated: {reason}", actor_id, kind=PauseKind.ESCALATION
            )
        workflow.flag_conversation(conn, thread_id, reason, actor_id=actor_id)

    await db.write(hand_over, priority=Priority.DECISION)


async def resolve_attention(db: Store, thread_id: str, actor_id: int | None) -> None:
    """Mark a thread that NEEDS_ATTENTION as dealt with (ACTIVE again); a pause stays.

    The texts that were waiting on Attention (held by a pause, or whose reply failed to
    send) then wait on Needs reply, so none is left on no list.
    """

    def resolve(conn: Tx) -> None:
        _locked(conn, thread_id)
        workflow.change_conversation_state(
            conn,
            thread_id,
            expected=ConversationState.NEEDS_ATTENTION,
            target=ConversationState.ACTIVE,
            event=ConversationEvent.RESOLVED,
            actor_id=actor_id,
        )
        unanswered = {row["id"]: row for row in worklists.unanswered(conn, thread_id)}
        for text_id, where in worklists.place(conn, thread_id).items():
            status = S(unanswered[text_id]["status"])
            if where is None and status in (S.PAUSED_THREAD, S.DRAFT_PENDING_APPROVAL):
                workflow.change_status(
                    conn,
                    text_id,
                    expected=status,
                    target=S.NEEDS_REVIEW,
                    event=Event.FOR_HUMAN,
                    actor_id=actor_id,
                    metadata={"reason": "marked as dealt with"},
                )

    await db.write(resolve, priority=Priority.DECISION)


# -- takeover, release, close and dismiss


def thread_controls(conn: Tx, thread_id: str) -> Thread:
    """A thread's conversation and controls, with the name of who holds it."""
    row = conversations.thread(conn, thread_id)
    if row is None:
        raise workflow.UnknownRecord(f"no conversation {thread_id}")
    return row


def _locked(conn: Tx, thread_id: str) -> Thread:
    """As `thread_controls`, after taking the thread's lock (`conversations.lock`): the first
    statement of an action that decides on the thread's pause, holder or opt-out."""
    row = conversations.lock(conn, thread_id)
    if row is None:
        raise workflow.UnknownRecord(f"no conversation {thread_id}")
    return row


def _holder_words(thread: Thread) -> str:
    return "free" if thread.taken_over_by is None else f"taken over by {thread.holder_name}"


def _holder_changed(conn: Tx, before: Thread) -> workflow.Conflict:
    """The Conflict of a takeover or release whose thread changed hands since `before`."""
    now = thread_controls(conn, before.thread_id)
    return workflow.thread_conflict(
        conn, before.thread_id, expected=_holder_words(before), actual=_holder_words(now)
    )


def _is_admin(conn: Tx, reviewer_id: int) -> bool:
    reviewer = reviewer_rows.get(conn, reviewer_id)
    return reviewer is not None and reviewer.role == Role.ADMIN


def _hold_for(conn: Tx, before: Thread, reviewer_id: int) -> None:
    """The thread read as `before` is now handled by `reviewer_id`: audited (forced when
    someone held it); the bot's approved replies not yet sent are held, as a pause holds
    them, until the release; texts waiting for a draft go to Needs reply."""
    thread_id, forced_from = before.thread_id, before.taken_over_by
    if not approval_rows.take_over(conn, thread_id, reviewer_id, now_iso(), holder=forced_from):
        raise _holder_changed(conn, before)  # another writer changed hands since the read
    audit.record(
        conn,
        audit.AuditEvent(
            event=ThreadEvent.TAKEN_OVER,
            actor=Actor.HUMAN,
            actor_id=reviewer_id,
            thread_id=thread_id,
            metadata={"from_reviewer": forced_from, "forced": forced_from is not None},
        ),
    )
    events.emit(
        conn,
        "thread.taken_over",
        thread_id=thread_id,
        data={
            "by": events.reviewer(conn, reviewer_id),
            "previous_holder": events.reviewer(conn, forced_from),
            "forced": forced_from is not None,
        },
    )
    # a reply the sender may already have handed to Twilio is left to it: its re-check
    # holds it there, unless Twilio has it
    for row in _replies_in(conn, thread_id, (S.APPROVED_TO_SEND,)):
        if row.type == MessageType.DRAFT:
            workflow.change_status(
                conn,
                row.id,
                expected=S.APPROVED_TO_SEND,
                target=S.PAUSED_THREAD,
                event=Event.HELD,
                actor_id=reviewer_id,
                metadata={"reason": TAKEN_OVER},
            )
    give_back_texts(conn, thread_id, (S.RECEIVED,), reviewer_id)


async def take_over(db: Store, thread_id: str, reviewer_id: int) -> None:
    """A reviewer handles the thread: the bot drafts nothing on it until it is released.

    Held by someone else: HeldByOther, unless the reviewer is an admin (audited as forced).
    """

    def take(conn: Tx) -> str | None:
        controls = _locked(conn, thread_id)  # a second takeover waits, then sees the holder
        holder = controls.taken_over_by
        if holder == reviewer_id:
            return None
        if holder is not None and not _is_admin(conn, reviewer_id):
            raise HeldByOther(str(controls.holder_name), str(controls.taken_over_at))
        _hold_for(conn, controls, reviewer_id)
        return "reviewer" if holder is None else "admin"

    by = await db.write(take, priority=Priority.DECISION)
    if by is not None:
        thread_changed(db, "takeover", by)


def _record_release(
    conn: Tx, thread_id: str, holder: int, actor_id: int | None, ended_by: str | None = None
) -> None:
    """The audit row and thread.released event of a takeover that ended: a release, or
    `ended_by` a close or an opt-out (`actor_id` None: the customer's STOP)."""
    metadata: dict[str, Any] = {"holder": holder}
    if ended_by is not None:
        metadata["reason"] = f"ended by {ended_by}"
    audit.record(
        conn,
        audit.AuditEvent(
            event=ThreadEvent.RELEASED,
            actor=Actor.SYSTEM if actor_id is None else Actor.HUMAN,
            actor_id=actor_id,
            thread_id=thread_id,
            metadata=metadata,
        ),
    )
    events.emit(
        conn,
        "thread.released",
        thread_id=thread_id,
        data={"by": events.reviewer(conn, actor_id), "holder": events.reviewer(conn, holder)},
    )


async def release(db: Store, thread_id: str, reviewer_id: int) -> bool:
    """Give a taken-over thread back to the bot; returns whether it now wants drafting.

    The bot's replies the takeover held go back to review, and the latest unanswered
    customer text waiting on Needs reply is drafted at once. Only
    the holder or an admin releases (HeldByOther); not taken over: NothingToDo.
    """

    def give_back(conn: Tx) -> bool:
        controls = _locked(conn, thread_id)  # a second release waits, then finds it free
        holder = controls.taken_over_by
        if holder is None:
            raise NothingToDo(f"thread {thread_id} is not taken over")
        if holder != reviewer_id and not _is_admin(conn, reviewer_id):
            raise HeldByOther(str(controls.holder_name), str(controls.taken_over_at))
        paused = controls.paused or controls.opted_out
        if not approval_rows.give_back(conn, thread_id, now_iso(), holder=holder, deferred=paused):
            raise _holder_changed(conn, controls)  # another writer changed hands meanwhile
        _record_release(conn, thread_id, holder, reviewer_id)
        if paused:
            return False  # a pause keeps its texts and replies until the resume
        _release_replies(conn, thread_id, reviewer_id, {"reason": "the thread was released"})
        return give_back_texts(conn, thread_id, (S.NEEDS_REVIEW,), reviewer_id)

    wants_draft = await db.write(give_back, priority=Priority.DECISION)
    thread_changed(db, "release", "reviewer")
    return wants_draft


def close_conversation(
    conn: Tx,
    thread_id: str,
    reason: str,
    actor_id: int | None,
    *,
    keep_held: bool = False,
) -> bool:
    """Close a contact inside the caller's transaction: open (and held) replies superseded,
    its unanswered texts need no reply, nothing is drafted; a new text opens the next one.

    `keep_held`: a STOP's close leaves the replies its opt-out holds, which the customer's
    START sends back to review. A takeover ends with it, audited as released; returns
    whether one did (the caller tells `thread_changed` once committed).
    """
    controls = _locked(conn, thread_id)
    if controls.state == ConversationState.CLOSED:  # closed meanwhile: who did it, and when
        raise workflow.thread_conflict(
            conn, thread_id, expected=f"not {ConversationState.CLOSED}", actual=controls.state
        )
    supersede_open_replies(
        conn,
        thread_id,
        None,
        f"the conversation was closed ({reason})",
        actor_id,
        statuses=OPEN_REPLY_STATUSES if keep_held else (*OPEN_REPLY_STATUSES, S.PAUSED_THREAD),
    )
    texts = [text["id"] for text in worklists.unanswered(conn, thread_id)]
    worklists.dismiss(conn, texts, f"closed: {reason}", actor_id, now_iso())
    missed_calls.all_dropped(conn, thread_id)
    approval_rows.let_go(conn, thread_id)
    if controls.taken_over_by is not None:  # the takeover ends with the contact
        ended_by = "the opt-out" if keep_held else "the close"
        _record_release(conn, thread_id, controls.taken_over_by, actor_id, ended_by)
    workflow.change_conversation_state(
        conn,
        thread_id,
        expected=ConversationState(controls.state),
        target=ConversationState.CLOSED,
        event=ConversationEvent.CLOSED,
        reason=reason,
        actor_id=actor_id,
    )
    return controls.taken_over_by is not None


def closed(db: Store, by: str, *, released: bool) -> None:
    """Tell the thread listeners of a committed close, and of the release it made."""
    thread_changed(db, "close", by)
    if released:
        thread_changed(db, "release", by)


async def close(db: Store, thread_id: str, reviewer_id: int) -> None:
    """A reviewer closes the conversation (CLOSED): nothing more is drafted or sent in it."""
    released = await db.write(
        lambda conn: close_conversation(conn, thread_id, "closed by a reviewer", reviewer_id),
        priority=Priority.DECISION,
    )
    closed(db, "reviewer", released=released)


async def dismiss(db: Store, thread_id: str, reviewer_id: int, reason: str) -> list[str]:
    """The thread's texts on Needs reply or Attention need no reply; returns their ids.

    Texts with a draft in the queue are decided there instead; none to dismiss: NothingToDo.
    """
    reason = reason.strip() or NO_REPLY_NEEDED

    def settle(conn: Tx) -> list[str]:
        _locked(conn, thread_id)  # a second dismissal waits, then finds nothing to dismiss
        places = worklists.place(conn, thread_id)
        texts = [text for text, where in places.items() if where is not worklists.WorkList.QUEUE]
        if not texts:
            raise NothingToDo(f"thread {thread_id} has no text waiting for a reply")
        worklists.dismiss(conn, texts, reason, reviewer_id, now_iso())
        audit.record(
            conn,
            audit.AuditEvent(
                event=ThreadEvent.NO_REPLY_NEEDED,
                actor=Actor.HUMAN,
                actor_id=reviewer_id,
                thread_id=thread_id,
                metadata={"reason": reason, "messages": texts},
            ),
        )
        return texts

    return await db.write(settle, priority=Priority.DECISION)


class NoOptOutRequest(Exception):
    """The thread is not held for an opt-out in plain words, so there is nothing to decide."""


CONFIRMED_SOURCE = "plain words, confirmed by a reviewer"


def _require_opt_out_request(conn: Tx, thread_id: str) -> Thread:
    row = _locked(conn, thread_id)
    if row.pause_kind != PauseKind.OPT_OUT_REQUEST:
        raise NoOptOutRequest(f"{thread_id} is not held for an opt-out in plain words")
    return row


def _resolve(conn: Tx, thread_id: str, state: str, actor_id: int) -> None:
    if state == ConversationState.NEEDS_ATTENTION:
        workflow.change_conversation_state(
            conn,
            thread_id,
            expected=ConversationState.NEEDS_ATTENTION,
            target=ConversationState.ACTIVE,
            event=ConversationEvent.RESOLVED,
            actor_id=actor_id,
        )


async def confirm_opt_out(db: Store, thread_id: str, actor_id: int) -> None:
    """Confirm an opt-out in plain words: the thread is then exactly as a STOP leaves it.

    Opted out and paused (kind opt_out, so only the customer's START lifts it), its
    replies held; the attention it asked for is dealt with and the conversation CLOSED.
    Raises NoOptOutRequest.
    """

    def confirm(conn: Tx) -> bool:
        row = _require_opt_out_request(conn, thread_id)
        if not row.opted_out:  # a STOP may have come meanwhile
            workflow.set_opted_out(
                conn, thread_id, opted_out=True, source=CONFIRMED_SOURCE, actor_id=actor_id
            )
        workflow.set_paused(
            conn, thread_id, paused=False, kind=PauseKind.OPT_OUT_REQUEST, actor_id=actor_id
        )
        hold_thread(conn, thread_id, OPT_OUT_REASON, actor_id, kind=PauseKind.OPT_OUT)
        _resolve(conn, thread_id, row.state, actor_id)
        # as a STOP does: the contact ends, keeping the replies the opt-out holds
        if row.state == ConversationState.CLOSED:
            return False
        return close_conversation(
            conn, thread_id, "the customer opted out", actor_id, keep_held=True
        )

    released = await db.write(confirm, priority=Priority.DECISION)
    closed(db, "opt_out", released=released)
    for listener in _confirmations.get(db, ()):
        listener()


async def not_opt_out(db: Store, thread_id: str, actor_id: int) -> None:
    """Not an opt-out: resume the thread and let its held texts be drafted as usual.

    Replies it held go back to review; the texts it held are RECEIVED again, for the
    drafting service (the caller schedules it), or on Needs reply when a human holds the
    thread. Raises
    NoOptOutRequest, or ThreadClosed when the customer opted out meanwhile.
    """

    def keep(conn: Tx) -> None:
        row = _require_opt_out_request(conn, thread_id)
        if row.opted_out:
            raise ThreadClosed(f"{thread_id} has opted out since; only their START resumes it")
        workflow.set_paused(
            conn, thread_id, paused=False, kind=PauseKind.OPT_OUT_REQUEST, actor_id=actor_id
        )
        # the texts it held are drafted as usual; on a thread a human holds, theirs to answer
        release_held(conn, thread_id, actor_id)
        _resolve(conn, thread_id, row.state, actor_id)

    await db.write(keep, priority=Priority.DECISION)


async def edit_facts(
    db: Store, thread_id: str, patch: dict[str, object], actor_id: int
) -> dict[str, object]:
    """Merge a reviewer's patch into a thread's facts (audited); returns the facts after.

    The patch is checked by the caller (`facts.check_patch`).
    """
    return await db.write(
        lambda conn: workflow.change_facts(
            conn, thread_id, patch, actor_id=actor_id, source="a reviewer"
        ),
        priority=Priority.DECISION,
    )
