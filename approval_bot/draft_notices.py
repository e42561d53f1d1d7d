"""Telling reviewers by text: a code and a notification for each new draft, and answers.

Texts to reviewers go into the `notifications` outbox, which the sender sends; they are
never mixed into customer threads and never wait for approval themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from . import claims
from .draft_codes import CODE_QUIET_PERIOD, quiet_since
from .drafting.checks import unknown_values
from .models import MessageStatus, MessageType, PauseKind, now_iso
from .outbox import NotificationEvent, NotificationStatus, change_notification_status
from .quiet_hours import QuietHours, digest
from .sms_commands import CODE_ALPHABET, CODE_LENGTH, draw_code
from .sms_text import (
    draft_notification,
    holder_call_notification,
    holder_notification,
    opt_out_request_notification,
)
from .store import Priority, Store, Tx
from .store import codes as code_rows
from .store import messages as message_rows
from .store import notifications as notification_rows
from .store import reviewers as reviewer_rows
from .store.reviewers import TextedReviewer

# tries before giving up: with half of all codes taken, 32 collide in a row once in 4 billion
CODE_TRIES = 32


class NoFreeCode(Exception):
    """Every candidate drawn was taken: nearly all codes are open or in their quiet period."""


def issue_code(conn: Tx, message_id: str, draw: Callable[[], str] = draw_code) -> str:
    """Bind a new code to a draft version, inside the caller's write transaction.

    Each candidate is one write through the codes' unique index; a taken one (by a draft
    still waiting, in its quiet period, or being announced by another writer right now) is
    drawn again, CODE_TRIES times.
    """
    since = quiet_since()
    for _ in range(CODE_TRIES):
        code = draw()
        if code_rows.claim(conn, code, message_id, now_iso(), since):
            return code
    raise NoFreeCode(
        f"no free draft code in {CODE_TRIES} tries: nearly all "
        f"{len(CODE_ALPHABET) ** CODE_LENGTH:,} codes are open or were issued in the last "
        f"{CODE_QUIET_PERIOD.days} days"
    )


def quiet_now(reviewer: TextedReviewer, moment: datetime) -> bool:
    """Whether a reviewer's quiet hours hold at `moment`."""
    if not reviewer.quiet_start or not reviewer.quiet_end:
        return False
    hours = QuietHours.parse(reviewer.quiet_start, reviewer.quiet_end, reviewer.time_zone)
    return hours.contains(moment)


def _queue(conn: Tx, reviewers: list[TextedReviewer], message_id: str, text: str) -> None:
    """Queue `text` about a message to each reviewer; HELD for those in their quiet hours."""
    now = datetime.now(UTC)
    for reviewer in reviewers:
        status = "HELD" if quiet_now(reviewer, now) else "PENDING"
        notification_rows.insert_notification(
            conn, reviewer.id, text, status, now_iso(), draft_id=message_id
        )


def announce(conn: Tx, draft_id: str) -> str:
    """Give a new pending draft its code and queue a text to every reviewer who wants one.

    Reviewers in their quiet hours get theirs HELD, for the digest when the hours end.
    Returns the code.
    """
    code = issue_code(conn, draft_id)
    draft = code_rows.notice_facts(conn, draft_id)
    reviewers = reviewer_rows.texted_reviewers(conn)
    if not reviewers:
        return code  # nobody to text: the notification is not even composed
    claim = claims.live(conn, draft_id, claims.clock())  # a claimer's edit keeps its claim
    editing = (claim.reviewer_name, claim.until) if claim is not None else None
    holder = claims.holder_of(conn, draft.thread_id)  # a reviewer's edit on their thread
    text = draft_notification(
        code,
        draft.receiver,
        draft.last_inbound or "",
        draft.body,
        editing,
        unknown=unknown_values(draft.findings),
        holder=holder.words() if holder is not None else None,
    )
    _queue(conn, reviewers, draft_id, text)
    return code


def announce_opt_out_request(conn: Tx, message_id: str) -> str:
    """Give a text held as an opt-out in plain words a code and tell every reviewer who
    takes texts, so OPTOUT CODE or KEEP CODE answers it; returns the code.

    The code stays taken while the text is held (PAUSED_THREAD), as a draft's does.
    """
    code = issue_code(conn, message_id)
    held = message_rows.row(conn, message_id)
    assert held is not None, message_id
    thread_id, body = held["thread_id"], held["body"]
    reviewers = reviewer_rows.texted_reviewers(conn)
    if not reviewers:
        return code
    text = opt_out_request_notification(code, thread_id, body)
    _queue(conn, reviewers, message_id, text)
    return code


def queue_answer(conn: Tx, reviewer_id: int, text: str) -> None:
    """Queue the answer to a reviewer's command: it goes at once, quiet hours or not."""
    notification_rows.insert_notification(conn, reviewer_id, text, "PENDING", now_iso())


def reachable(reviewer: TextedReviewer) -> bool:
    """Whether a reviewer takes draft texts at all (quiet hours aside)."""
    return bool(
        reviewer.active and reviewer.phone and reviewer.notify_sms and not reviewer.sms_opted_out
    )


async def send_digests(db: Store) -> int:
    """Fold each reachable reviewer's held texts into one digest, once their quiet hours end.

    The digest names the drafts still waiting and the customers still held for an opt-out
    decision (with OPTOUT and KEEP); held texts about what was decided meanwhile, and held
    answers, are folded in without a word. Returns how many digests were queued.
    """
    now = datetime.now(UTC)
    reviewers = await reviewer_rows.with_held_texts(db)
    queued = 0
    for reviewer in reviewers:
        if not reachable(reviewer) or quiet_now(reviewer, now):
            continue
        if await db.write(partial(_fold_held, reviewer.id), priority=Priority.BULK):
            queued += 1
    return queued


def _fold_held(reviewer_id: int, conn: Tx) -> bool:
    """Fold a reviewer's held texts into one digest; whether a digest was queued."""
    held = notification_rows.held_of(conn, reviewer_id)
    # a draft's notice and its reminder may both have waited: the digest names it once
    waiting = list(
        dict.fromkeys(
            (row.code, row.receiver or "", row.body or "")
            for row in held
            if row.code
            and row.type != MessageType.INBOUND
            and row.status == MessageStatus.DRAFT_PENDING_APPROVAL
        )
    )
    # a customer's text still held for OPTOUT or KEEP: the reviewer must learn of it
    stopping = list(
        dict.fromkeys(
            (row.code, row.sender or "")
            for row in held
            if row.code
            and row.type == MessageType.INBOUND
            and row.status == MessageStatus.PAUSED_THREAD
            and row.pause_kind == PauseKind.OPT_OUT_REQUEST
        )
    )
    digest_id = None
    if waiting or stopping:
        digest_id = notification_rows.insert_notification(
            conn, reviewer_id, digest(waiting, stopping), "PENDING", now_iso()
        )
    for row in held:
        change_notification_status(
            conn,
            row.id,
            expected=NotificationStatus.HELD,
            target=NotificationStatus.DIGESTED,
            event=NotificationEvent.DIGESTED,
            metadata={"digest": digest_id},
        )
    return digest_id is not None


def tell_holder(conn: Tx, reviewer_id: int, customer: str, text: str | None) -> None:
    """Text a reviewer that a customer wrote on the thread they hold (when they take texts),
    or, with no `text`, that the customer's call went unanswered.

    Nothing is composed for a reviewer who cannot be texted; quiet hours hold it.
    """
    reviewer = reviewer_rows.texted(conn, reviewer_id)
    assert reviewer is not None, reviewer_id  # the thread's holder
    if not reachable(reviewer):
        return
    status = "HELD" if quiet_now(reviewer, datetime.now(UTC)) else "PENDING"
    notice = (
        holder_call_notification(customer) if text is None else holder_notification(customer, text)
    )
    notification_rows.insert_notification(conn, reviewer_id, notice, status, now_iso())
