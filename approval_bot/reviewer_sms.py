"""Reviewers deciding by text: draft codes, and the answer to every command they send.

Decisions go through review.py like the web's; this module only finds the draft a code
names, explains codes that no longer name an open draft, and words the answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import audit, claims, draft_notices, review, sending_gate, workflow
from .accounts import Reviewer
from .keywords import Keyword
from .models import Actor, DecisionChannel, MessageStatus, PauseKind
from .phrases import DECISION_DONE
from .scheduler import wake_sender
from .sms_commands import (
    CODE_LENGTH,
    HELP_TEXT,
    Approve,
    Command,
    ConfirmOptOut,
    Edit,
    Help,
    ListOpen,
    NeedsCode,
    NeedsText,
    NotOptOut,
    PastedNotice,
    Pause,
    Reject,
    Several,
    Unknown,
    parse,
)
from .sms_text import shorten
from .store import Priority, Store
from .store import approvals as approval_rows
from .store import audit as audit_rows
from .store import codes as code_rows
from .store import conversations as conversation_rows
from .store import reviewers as reviewer_rows

S = MessageStatus
# at most this many refusals are answered per reviewer in the window; then silence
ERROR_REPLY_LIMIT, ERROR_REPLY_WINDOW = 3, timedelta(minutes=10)
REFUSED = "SMS Command Refused"


@dataclass(frozen=True)
class Answer:
    """What to text back (None: say nothing), and whether something was approved to send."""

    text: str | None
    approved: bool = False


def _clock(timestamp: str) -> str:
    return datetime.fromisoformat(timestamp).strftime("%H:%M UTC")


async def _draft_for(db: Store, code: str) -> dict[str, Any] | None:
    return await code_rows.draft_for_code(db, code)


async def open_codes(db: Store, limit: int = 5) -> list[code_rows.OpenCode]:
    """Codes of drafts waiting for a decision, oldest first."""
    return await code_rows.open_codes(db, limit)


async def _open_list(db: Store) -> str:
    codes = [row.code for row in await open_codes(db)]
    return f"Open: {', '.join(codes)}." if codes else "No drafts are waiting."


_DECIDED = (S.APPROVED_TO_SEND, S.SENT, S.FAILED_SEND, S.REJECTED)


async def explain(db: Store, code: str) -> str:
    """Why `code` names no open draft: who decided it, what replaced it, or that it is unknown."""
    draft = await _draft_for(db, code)
    if draft is None:
        return f"No draft {code}. {await _open_list(db)}"
    return await _explain_draft(db, code, draft)


# how a draft stands when no decision or replacement says more, after "7F3K "
_STANDS = {
    S.DRAFT_PENDING_APPROVAL: "is waiting for approval",
    S.APPROVED_TO_SEND: "is approved and about to be sent",
    S.SENT: "was sent",
    S.FAILED_SEND: "could not be sent",
    S.REJECTED: "was rejected",
}
# how a customer's text stands (one held as an opt-out in plain words has a code)
_TEXT_STANDS = {
    S.RECEIVED: "its reply is being drafted",
    S.NEEDS_REVIEW: "it needs a reply written on the web",
    S.DRAFT_PENDING_APPROVAL: "its draft reply waits in the web queue",
}


def _customer(message: dict[str, Any]) -> str:
    """Who a code's message is to or from: a customer's text is from them."""
    return str(message["sender"] if message["type"] == "INBOUND" else message["receiver"])


async def _explain_draft(db: Store, code: str, draft: dict[str, Any]) -> str:
    status = S(draft["status"])
    if draft["type"] == "INBOUND":
        return await _explain_text(db, code, draft)
    if status == S.SUPERSEDED and draft["superseded_by"] is None:
        # nothing replaced it: a close withdraws a conversation's open replies
        return (
            f"{code} was withdrawn: the conversation with {draft['receiver']} was closed. "
            f"{await _open_list(db)}"
        )
    if status == S.SUPERSEDED:
        newer = await code_rows.replacement(db, draft["superseded_by"])
        if newer is not None and newer.code:
            replaced = f"{code} was replaced by {newer.code}"
            newest = await _draft_for(db, newer.code)
            if newest is not None and S(newest["status"]) in _DECIDED:
                # an edit approved at once: who decided it, not a code that is taken too
                return f"{replaced}; {await _explain_draft(db, newer.code, newest)}"
            return f"{replaced}."
        if newer is not None and newer.type == "OUTBOUND":
            return f"{code} was replaced by a reply {newer.name or 'a reviewer'} wrote."
        return f"{code} was replaced by a newer draft. {await _open_list(db)}"
    if status in _DECIDED:
        decision = await approval_rows.latest_decision(db, draft["id"])
        if decision is not None:
            return (
                f"{code} was {DECISION_DONE[decision.action]} "
                f"by {decision.name} "
                f"at {_clock(decision.timestamp)}."
            )
    if status == S.PAUSED_THREAD:
        return f"{code} is on hold: the thread with {draft['receiver']} is paused."
    return f"{code} {_STANDS[status]}. {await _open_list(db)}"


async def _explain_text(db: Store, code: str, text: dict[str, Any]) -> str:
    """What became of a customer's text that has a code, and what to send about it."""
    status, said = S(text["status"]), f"{code} is the text from {text['sender']}"
    if status == S.PAUSED_THREAD:
        thread = await conversation_rows.read_thread(db, text["thread_id"])
        if thread is not None and thread.pause_kind == PauseKind.OPT_OUT_REQUEST:
            return (
                f"{said}, who may want to stop: reply OPTOUT {code} to opt them out, "
                f"KEEP {code} if it is not an opt-out."
            )
        if thread is not None and thread.opted_out:
            return f"{said}, who has opted out."
        return f"{said}: it is on hold, the thread is paused."
    if status == S.DRAFT_PENDING_APPROVAL:
        # held for an opt-out decision, then drafted: its reply is what a reviewer decides on
        reply = await code_rows.waiting_reply(db, text["id"])
        if reply is not None and reply.code is None:
            return f"{said}. Its draft reply waits in the web queue."
        if reply is not None:
            return (
                f"{said}. Its draft reply is {reply.code}: "
                f"reply A {reply.code} to send, R {reply.code} to reject."
            )
    return f"{said}: {_TEXT_STANDS[status]}. {await _open_list(db)}"


def claimed_answer(code: str, claim: claims.Claim | claims.Holder) -> str:
    """Why an approval by text waits: who is editing the draft (or has its thread), and how
    to go ahead anyway.

    A text cannot show a confirm button, so the override is a word: A CODE ANYWAY.
    """
    if isinstance(claim, claims.Holder):
        who = f"{claim.words()}."
    else:
        who = f"{claim.reviewer_name} is editing {code} (until {claim.until})."
    return f"{who} Text A {code} ANYWAY to approve it as it stands, or leave it to them."


async def _refuse(db: Store, reviewer: Reviewer, text: str, reply: str) -> Answer:
    """Audit a refused command; answer it unless this reviewer was refused often just now."""
    since = (datetime.now(UTC) - ERROR_REPLY_WINDOW).isoformat(timespec="microseconds")
    recent = await audit_rows.answered_refusals(db, REFUSED, reviewer.id, since)
    answered = recent < ERROR_REPLY_LIMIT
    refused = audit.AuditEvent(
        REFUSED,
        actor=Actor.HUMAN,
        actor_id=reviewer.id,
        metadata={"text": text, "reply": reply, "answered": answered},
    )
    await db.write(lambda conn: audit.record(conn, refused), priority=Priority.DECISION)
    return Answer(reply if answered else None)


async def answer(
    db: Store,
    reviewer: Reviewer,
    text: str,
    schedule_draft: Callable[[str], None] | None = None,
) -> Answer:
    """Carry out one text from a reviewer's phone and say what happened.

    `schedule_draft(thread_id)` asks for a thread to be drafted (KEEP or RESUME resumes one).
    """
    if not reviewer.active:
        return await _refuse(
            db, reviewer, text, "Your approval-bot account is disabled; ask an admin."
        )
    command = parse(text)
    try:
        return await _carry_out(db, reviewer, command, schedule_draft)
    except (workflow.Conflict, workflow.TransitionRefused):
        return await _refuse(db, reviewer, text, await explain(db, getattr(command, "code", "")))
    except review.ThreadClosed as closed:
        return await _refuse(db, reviewer, text, f"Not sent: {closed}.")
    except _Refusal as refusal:
        return await _refuse(db, reviewer, text, str(refusal))


class _Refusal(Exception):
    """A command that cannot be carried out; its message is the answer."""


# the characters left out of codes, so that none is misread: a code typed with one is wrong
_LOOK_ALIKES = set("0O1IL")

_SHORT_VERBS = {
    "APPROVE": "A",
    "EDIT": "E",
    "REJECT": "R",
    "PAUSE": "P",
    "RESUME": "RESUME",
    "OPTOUT": "OPTOUT",
    "KEEP": "KEEP",
}


async def _when_it_goes(db: Store, now: str) -> str:
    """An approval's answer: it goes now, or it waits for the closed sending gate."""
    because = (await sending_gate.fetch(db)).closed_because
    return now if because is None else f"it waits, {because}"


async def _opt_out_answer(
    db: Store,
    reviewer: Reviewer,
    command: ConfirmOptOut | NotOptOut,
    held: Any,
    schedule_draft: Callable[[str], None] | None,
) -> Answer:
    """OPTOUT or KEEP on the code of a text held as an opt-out in plain words."""
    thread_id = held["thread_id"]
    try:
        if isinstance(command, ConfirmOptOut):
            await review.confirm_opt_out(db, thread_id, reviewer.id)
            return Answer(f"Opted out {thread_id}: nothing is sent to them until they text START.")
        await review.not_opt_out(db, thread_id, reviewer.id)
    except review.NoOptOutRequest:
        raise _Refusal(
            f"{command.code} is not a text waiting for an opt-out decision "
            f"({thread_id} is not held for one)."
        ) from None
    if schedule_draft is not None:
        schedule_draft(thread_id)
    return Answer(f"Kept {thread_id}: the thread is resumed and a reply is being drafted.")


async def _carry_out(
    db: Store,
    reviewer: Reviewer,
    command: Command,
    schedule_draft: Callable[[str], None] | None = None,
) -> Answer:
    if isinstance(command, Help):
        return Answer(HELP_TEXT)
    if isinstance(command, ListOpen):
        rows = await open_codes(db)
        if not rows:
            return Answer("No drafts are waiting.")
        lines = [f"{r.code} {r.receiver}: {shorten(r.body, 30)}" for r in rows]
        return Answer("Open, oldest first:\n" + "\n".join(lines))
    if isinstance(command, NeedsCode):
        # a code is 4 characters: what stood in its place is said back no longer than 12
        given = ""
        if command.given:
            typo = len(command.given) == CODE_LENGTH and _LOOK_ALIKES & set(command.given.upper())
            lacks = " (codes have no 0, O, 1, I or L)" if typo else ""
            given = f" {shorten(command.given, 12)!r} is not a draft code{lacks}."
        short = _SHORT_VERBS[command.verb]
        raise _Refusal(f"Which draft?{given} Reply {short} CODE. {await _open_list(db)}")
    if isinstance(command, NeedsText):
        raise _Refusal(f"Edit needs the new text: E {command.code} your reply.")
    if isinstance(command, PastedNotice):
        raise _Refusal(
            f"Not sent: your text holds lines of the draft notice. "
            f"Send E {command.code} and only the words for the customer."
        )
    if isinstance(command, Several):
        # a pasted list could name dozens: the answer names a few, each once
        codes = list(dict.fromkeys(command.codes))
        shown = codes[:-1] if len(codes) <= 4 else codes[:3]
        last = codes[-1] if len(codes) <= 4 else "others"
        named = f"{', '.join(shown)} and {last}" if shown else last
        raise _Refusal(f"Nothing was done: send one command per text. This one named {named}.")
    if isinstance(command, Unknown):
        raise _Refusal(f"Not understood. {HELP_TEXT}. {await _open_list(db)}")

    draft = await _draft_for(db, command.code)
    if draft is None:
        raise _Refusal(await explain(db, command.code))
    if isinstance(command, ConfirmOptOut | NotOptOut):
        return await _opt_out_answer(db, reviewer, command, draft, schedule_draft)
    if draft["type"] == "INBOUND" and isinstance(command, Approve | Edit | Reject):
        raise _Refusal(await explain(db, command.code))  # a customer's text is not a draft
    customer = _customer(draft)
    decision = review.Decision(
        reviewer.id,
        DecisionChannel.SMS,
        reviewer_phone=reviewer.phone,
        notes=command.reason if isinstance(command, Reject) else None,
    )
    try:
        if isinstance(command, Approve):
            await review.approve(db, draft["id"], decision, override_claim=command.anyway)
            goes = await _when_it_goes(db, f"the reply to {customer} goes out now")
            return Answer(f"Approved {command.code}: {goes}.", True)
        if isinstance(command, Edit):
            await review.edit(db, draft["id"], command.text, decision, approve=True)
            goes = await _when_it_goes(db, f"your text goes to {customer} now")
            return Answer(f"Edited and approved {command.code}: {goes}.", True)
    except claims.ClaimedByOther as claimed:
        raise _Refusal(claimed_answer(command.code, claimed.claim)) from None
    if isinstance(command, Reject):
        await review.reject(db, draft["id"], decision)
        return Answer(
            f"Rejected {command.code}. {customer}'s message waits for a reply in the web queue."
        )
    try:
        if isinstance(command, Pause):
            await review.pause_thread(db, draft["thread_id"], "paused by SMS", reviewer.id)
            return Answer(
                f"Paused {customer}: nothing is drafted or sent until RESUME {command.code}."
            )
        if await review.resume_thread(db, draft["thread_id"], reviewer.id) and schedule_draft:
            schedule_draft(draft["thread_id"])  # the texts the pause held, as the web's Resume
        return Answer(f"Resumed {customer}; held replies are back for review.")
    except workflow.Conflict as conflict:
        # PAUSE on a paused thread: "paused already"; RESUME on one that is not: "not paused"
        already = " already" if conflict.expected == f"not {conflict.actual}" else ""
        raise _Refusal(f"{customer} is {conflict.actual}{already}.") from None


async def respond(
    db: Store,
    scheduler: AsyncIOScheduler,
    reviewer_id: int,
    text: str,
    schedule_draft: Callable[[str], None] | None = None,
    keyword: Keyword | None = None,
) -> None:
    """Carry out a reviewer's text and queue the answer; wake the sender to deliver it.

    `keyword` is the STOP or START the webhook acted on (`inbound.handle_reviewer_text`):
    STOP gets no answer (Twilio blocks texts to them until START); START is acknowledged.
    Any other text is a command.
    """
    if keyword is Keyword.OPT_OUT:
        return
    reviewer = await reviewer_rows.by_id(db, reviewer_id)
    if reviewer is None:
        return  # removed between the webhook and now: nobody to answer
    if keyword is Keyword.OPT_IN:
        result = Answer("Draft texts are on again. Reply H for the commands.")
    else:
        result = await answer(db, reviewer, text, schedule_draft)
    if result.text is not None:
        text_back = result.text
        await db.write(
            lambda conn: draft_notices.queue_answer(conn, reviewer.id, text_back),
            priority=Priority.DECISION,
        )
    wake_sender(scheduler)
