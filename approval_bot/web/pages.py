"""The reviewer's pages: the queue and its views, a thread's story, and every review action.

Handlers load, call `review` (the same actions the SMS and API doors use), then redirect
with a flash message; a call made by script (with the X-CSRF-Token header) gets JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import claims, drafting, facts, review, sending_gate, whatsapp_window, workflow
from ..accounts import Reviewer
from ..models import DecisionChannel, MessageStatus
from ..phrases import decided_words, event_phrase, phrase, via_words
from ..scheduler import wake_sender
from ..store import Store
from ..store.audit import Withdrawal
from ..store.views import lists, menu
from ..store.views import queue as queue_rows
from ..store.views import threads as thread_rows
from ..store.views.common import decode_cursor
from ..store.views.guidance import directive_body
from . import auth
from .common import render, short_time, text_field
from .worddiff import word_diff

MAX_WATCHED = 100

HELD_WORDS = "held by the sending gate until sending is back on"


async def on_its_way(db: Store, done_words: str) -> str:
    """What an approval's flash says: on its way, or held by the closed sending gate."""
    gate = await sending_gate.fetch(db)
    if gate.open:
        return f"{done_words}; it is on its way."
    return f"{done_words}; {HELD_WORDS} ({gate.closed_because})."


def withdrawn_words(withdrawal: Withdrawal) -> str:
    """'withdrawn: Bob closed the conversation at 14:07 UTC', or, closed by the system,
    'withdrawn: the conversation was closed (the customer opted out) at 14:07 UTC'."""
    when = f" at {short_time(withdrawal.timestamp)} UTC"
    if withdrawal.name:
        return f"withdrawn: {withdrawal.name} closed the conversation{when}"
    return f"withdrawn: {withdrawal.reason}{when}"


def conflict_message(error: workflow.Conflict) -> str:
    """A conflict told to a reviewer: what happened already, by whom and when."""
    when = f" at {short_time(error.changed_at)} UTC" if error.changed_at else ""
    if error.withdrawn is not None:
        return f"Already {withdrawn_words(error.withdrawn)}; nothing was changed."
    if error.subject.startswith("message "):
        words = decided_words(error.actual)
        via = via_words(error.channel)
        return f"Already {words} by {error.changed_by}{via}{when}; nothing was changed."
    what = error.subject.split(" ", 1)[0]  # "thread" or "conversation"
    state = phrase(error.actual, "ConversationState").lower()
    by = f"last change by {error.changed_by}{when}"
    return f"The {what} is already {state} ({by}); nothing was changed."


def refusal_message(error: workflow.TransitionRefused) -> str:
    """A move the workflow does not allow, said as what the reply is now."""
    now = phrase(error.source, "MessageStatus").lower() if error.source else "new"
    return f"Not possible now: this is {now} ({event_phrase(error.event).lower()} is not allowed)."


def claimed_message(error: claims.ClaimedByOther) -> str:
    """Another reviewer's claim, told beside the form with the way to go ahead anyway."""
    return f"{error}: confirm below to go ahead anyway, or leave it to them."


def claim_words(claim: dict[str, Any], reviewer: Reviewer) -> str:
    """A claim as the card says it to `reviewer`: 'Ana is editing (until 14:07 UTC)'."""
    who = (
        "You are editing this draft"
        if claim["reviewer_id"] == reviewer.id
        else (f"{claim['name']} is editing")
    )
    return f"{who} (until {claim['until']})"


@contextmanager
def review_errors() -> Iterator[None]:
    """Turn the review module's refusals into 4xx answers with a message for the reviewer."""
    try:
        yield
    except workflow.Conflict as error:
        raise HTTPException(409, conflict_message(error)) from None
    except (
        review.ThreadClosed,
        review.NoOptOutRequest,
        review.HeldByOther,
        review.NothingToDo,
        review.KeyReused,
    ) as error:
        raise HTTPException(409, str(error)) from None
    except claims.ClaimedByOther as error:
        raise HTTPException(409, claimed_message(error)) from None
    except review.EmptyReply as error:
        raise HTTPException(400, str(error)) from None
    except sending_gate.SendingClosed as error:
        raise HTTPException(403, str(error)) from None
    except workflow.UnknownRecord as error:
        raise HTTPException(404, str(error)) from None
    except workflow.TransitionRefused as error:
        raise HTTPException(409, refusal_message(error)) from None


def done(request: Request, form: FormData, message: str, default: str = "/") -> Response:
    """Answer a successful action: JSON to a script, else a flash and a redirect back."""
    if auth.CSRF_HEADER in request.headers:
        return JSONResponse({"ok": True, "message": message})
    auth.flash(request, message)
    target = form.get("next")
    return RedirectResponse(
        auth.safe_next(target if isinstance(target, str) else None, default), status_code=303
    )


def _cursor(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    try:
        decode_cursor(value)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    return value


def _decision(reviewer: Reviewer, notes: str | None = None) -> review.Decision:
    return review.Decision(
        reviewer_id=reviewer.id,
        channel=DecisionChannel.WEB,
        reviewer_phone=reviewer.phone,
        notes=notes or None,
    )


# --- pages -------------------------------------------------------------------------------


async def _with_window(db: Store, card: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp card gets its window (when it closes) and, once closed, the template offer."""
    card["whatsapp"] = await whatsapp_window.offer(
        db, card["thread_id"], card["thread_channel"], datetime.now(UTC)
    )
    return card


@auth.page()
async def queue_page(request: Request, reviewer: Reviewer) -> Response:
    page = await queue_rows.queue(request.state.db, _cursor(request, "after"))
    for card in page.rows:
        await _with_window(request.state.db, card)
    drafting = await queue_rows.awaiting_draft(request.state.db)
    sending = await sending_gate.fetch(request.state.db)
    context = {"page": page, "view": "queue", "drafting": drafting, "sending": sending}
    return render(request, "queue.html", context)


@auth.page()
async def needs_review_page(request: Request, reviewer: Reviewer) -> Response:
    page = await lists.needs_review(request.state.db, _cursor(request, "after"))
    sending = await sending_gate.fetch(request.state.db)
    context = {
        "page": page,
        "view": "needs_review",
        "form_key": uuid.uuid4().hex,
        "sending": sending,
    }
    return render(request, "needs_review.html", context)


@auth.page()
async def attention_page(request: Request, reviewer: Reviewer) -> Response:
    page = await lists.threads_needing_attention(request.state.db, _cursor(request, "after"))
    return render(request, "attention.html", {"page": page, "view": "attention"})


@auth.page()
async def paused_page(request: Request, reviewer: Reviewer) -> Response:
    page = await lists.paused_threads(request.state.db, _cursor(request, "after"))
    return render(request, "paused.html", {"page": page, "view": "paused"})


def _with_diffs(messages: list[dict[str, Any]]) -> None:
    """Give each reply that replaced an earlier version the word diff from that version."""
    replaced = {m["superseded_by"]: m for m in messages if m.get("superseded_by")}
    for message in messages:
        previous = replaced.get(message["id"])
        if previous is not None:
            message["previous_version"] = previous["draft_version"]
            message["diff"] = word_diff(previous["body"], message["body"])


@auth.page()
async def thread_page(request: Request, reviewer: Reviewer) -> Response:
    thread_id = request.path_params["thread_id"]
    thread = await thread_rows.thread(request.state.db, thread_id, _cursor(request, "before"))
    if thread is None:
        raise HTTPException(404, f"no conversation with {thread_id}")
    _with_diffs(thread.messages)
    pending = [
        m["id"]
        for m in thread.messages
        if m["status"] == MessageStatus.DRAFT_PENDING_APPROVAL and m["type"] != "INBOUND"
    ]
    held = await queue_rows.claims_on(request.state.db, pending)
    for message in thread.messages:
        message["claim"] = held.get(message["id"])
    last_inbound = next(
        (m["id"] for m in reversed(thread.messages) if m["type"] == "INBOUND"), None
    )
    directive = await directive_body(request.state.db, thread_id)
    window = await whatsapp_window.offer(
        request.state.db, thread_id, thread.conversation["channel"], datetime.now(UTC)
    )
    return render(
        request,
        "thread.html",
        {
            "thread": thread,
            "thread_id": thread_id,
            "reviewer": reviewer,
            "form_key": uuid.uuid4().hex,
            "last_inbound": last_inbound,
            "thread_directive": directive or "",
            "sending": await sending_gate.fetch(request.state.db),
            "whatsapp": window,
        },
    )


# --- fragments and live updates ----------------------------------------------------------


@auth.fragment
async def card_fragment(request: Request, reviewer: Reviewer) -> Response:
    card = await queue_rows.card(request.state.db, request.path_params["draft_id"])
    if card is None:
        raise HTTPException(404, "no such reply")
    return render(request, "_card.html", {"card": await _with_window(request.state.db, card)})


def _outcome_text(outcome: queue_rows.Outcome) -> str:
    """'Rejected by Bob by text at …', and what became of the reply when that says more."""
    if outcome.withdrawn is not None:
        words = withdrawn_words(outcome.withdrawn)
        return words[0].upper() + words[1:]
    text = f"{event_phrase(outcome.event)} by {outcome.actor}"
    if outcome.channel:
        text += f" {phrase(outcome.channel, 'DecisionChannel')}"
    text += f" at {short_time(outcome.timestamp)} UTC"
    now = decided_words(outcome.status)
    return text if now in text.lower() else f"{text}; {now}"


@auth.fragment
async def queue_updates(request: Request, reviewer: Reviewer) -> Response:
    """Which of the watched replies were decided (and by whom), and which arrived after."""
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if len(ids) > MAX_WATCHED:
        raise HTTPException(400, f"watch at most {MAX_WATCHED} replies at once")
    after = _cursor(request, "after")
    db: Store = request.state.db
    decided = await queue_rows.outcomes(db, ids)
    held = await queue_rows.claims_on(db, ids)
    arrived = await queue_rows.pending_after(db, after) if after else []
    gate_words = "" if (await sending_gate.fetch(db)).open else f" — {HELD_WORDS}"
    return JSONResponse(
        {
            "claims": {
                draft_id: {
                    "mine": claim["reviewer_id"] == reviewer.id,
                    "text": claim_words(claim, reviewer),
                }
                for draft_id, claim in held.items()
            },
            "decided": [
                {
                    "id": o.draft_id,
                    "status": o.status,
                    "text": _outcome_text(o)
                    + (gate_words if o.status == MessageStatus.APPROVED_TO_SEND else ""),
                }
                for o in decided
            ],
            "arrived": [id_ for id_, _ in arrived],
            "newest": arrived[-1][1] if arrived else after,
        }
    )


@auth.fragment
async def menu_counts(request: Request, reviewer: Reviewer) -> Response:
    """The menu's counts (queue, needs reply, attention), which every page refreshes."""
    return JSONResponse(await menu.menu_counts(request.state.db))


# --- review actions ------------------------------------------------------------------------


@auth.action()
async def approve_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    notes = text_field(form, "notes", required=False, limit=500)
    with review_errors():
        await review.approve(
            request.state.db,
            request.path_params["draft_id"],
            _decision(reviewer, notes),
            override_claim=form.get("override_claim") == "1",
        )
    wake_sender(request.state.scheduler)
    return done(request, form, await on_its_way(request.state.db, "Approved"))


@auth.action()
async def edit_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    body = text_field(form, "body")
    and_approve = form.get("approve") == "1"
    with review_errors():
        new_id = await review.edit(
            request.state.db,
            request.path_params["draft_id"],
            body,
            _decision(reviewer),
            approve=and_approve,
            override_claim=form.get("override_claim") == "1",
        )
    if and_approve:
        wake_sender(request.state.scheduler)
        return done(request, form, await on_its_way(request.state.db, "Edited and approved"))
    response = done(request, form, "Edit saved as a new version; it is still pending.")
    if isinstance(response, JSONResponse):
        return JSONResponse({"ok": True, "id": new_id, "message": "Edit saved."})
    return response


@auth.action()
async def reject_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    reason = text_field(form, "reason", limit=500)
    with review_errors():
        await review.reject(
            request.state.db, request.path_params["draft_id"], _decision(reviewer, reason)
        )
    return done(request, form, "Rejected; the customer's message now needs a written reply.")


@auth.action()
async def claim_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    """The reviewer works on this draft (its edit box opened, or `c`): theirs for a while."""
    draft_id = request.path_params["draft_id"]
    minutes = request.state.settings.claim_minutes
    scripted = auth.CSRF_HEADER in request.headers
    with review_errors():
        try:
            held = await review.claim(
                request.state.db,
                draft_id,
                reviewer.id,
                minutes,
                take_over=form.get("take_over") == "1",
            )
        except claims.ClaimedByOther as error:
            if not scripted:
                raise
            # the card shows who works on it: the script gets the claim, not only words
            assert isinstance(error.claim, claims.Claim)  # only a claim refuses a claim
            words = claim_words(_claim_dict(error.claim), reviewer)
            message = {"code": 409, "message": claimed_message(error)}
            claim = {"mine": False, "text": words}
            return JSONResponse({"error": message, "claim": claim}, status_code=409)
    words = claim_words(_claim_dict(held), reviewer)
    if scripted:
        return JSONResponse({"ok": True, "claim": {"mine": True, "text": words}})
    return done(request, form, f"{words}; others are asked to confirm before approving it.")


def _claim_dict(claim: claims.Claim) -> dict[str, Any]:
    return {"reviewer_id": claim.reviewer_id, "name": claim.reviewer_name, "until": claim.until}


@auth.action()
async def release_claim_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    with review_errors():
        try:
            await review.release_claim(
                request.state.db, request.path_params["draft_id"], reviewer.id
            )
        except claims.ClaimedByOther as error:
            raise HTTPException(409, f"{error}: only they or an admin can release it.") from None
    return done(request, form, "Released: anyone may approve or edit this draft.")


@auth.action()
async def regenerate_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    """Another draft for a pending draft or a customer's message waiting for a reply."""
    message_id = request.path_params["message_id"]
    with review_errors():
        try:
            await drafting.regenerate(request.state.drafting, message_id, reviewer.id)
        except drafting.NotRegenerable as error:
            raise HTTPException(409, str(error)) from None
        except drafting.DraftUnavailable as error:
            raise HTTPException(
                422, f"No new draft could be made ({error}); write your own reply."
            ) from None
    # the new version stays pending: nothing to send yet
    return done(request, form, "A new draft replaced the old one; it is pending approval.")


@auth.action()
async def reply_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    body = text_field(form, "body")
    in_reply_to = text_field(form, "in_reply_to_id", required=False, limit=100) or None
    # each rendered form carries its own key: a double submit sends one reply
    form_key = text_field(form, "form_key", required=False, limit=255) or None
    db: Store = request.state.db
    if in_reply_to is not None:
        if await thread_rows.inbound_thread(db, in_reply_to) != thread_id:
            raise HTTPException(400, "in_reply_to_id is not a customer message of this thread")
    with review_errors():
        await review.write_reply(
            db,
            thread_id,
            body,
            reviewer.id,
            in_reply_to_id=in_reply_to,
            idempotency_key=f"web:{form_key}" if form_key else None,
        )
    wake_sender(request.state.scheduler)
    return done(request, form, "Your reply is on its way.")


@auth.action()
async def pause_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    reason = text_field(form, "reason", required=False, limit=500) or "paused by a reviewer"
    with review_errors():
        await review.pause_thread(
            request.state.db, request.path_params["thread_id"], reason, reviewer.id
        )
    return done(request, form, "Thread paused: nothing is drafted or sent until it is resumed.")


@auth.action()
async def resume_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    with review_errors():
        if await review.resume_thread(request.state.db, thread_id, reviewer.id):
            request.state.drafting.schedule(thread_id)
    return done(request, form, "Thread resumed; replies it held are back in the queue.")


@auth.action()
async def takeover_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    with review_errors():
        await review.take_over(request.state.db, request.path_params["thread_id"], reviewer.id)
    return done(request, form, "You have this thread: the bot drafts nothing until you release it.")


@auth.action()
async def release_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    with review_errors():
        if await review.release(request.state.db, thread_id, reviewer.id):
            request.state.drafting.schedule(thread_id)
    return done(request, form, "Released: the bot drafts this thread again.")


@auth.action()
async def close_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    with review_errors():
        await review.close(request.state.db, request.path_params["thread_id"], reviewer.id)
    return done(request, form, "Closed: a new text from this customer opens the next contact.")


@auth.action()
async def dismiss_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    reason = text_field(form, "reason", required=False, limit=500)
    with review_errors():
        await review.dismiss(
            request.state.db, request.path_params["thread_id"], reviewer.id, reason
        )
    return done(request, form, "Marked: no reply needed.")


@auth.action()
async def escalate_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    reason = text_field(form, "reason", limit=500)
    with review_errors():
        await review.escalate(
            request.state.db, request.path_params["thread_id"], reason, reviewer.id
        )
    return done(request, form, "Escalated: the thread is paused and needs attention.")


@auth.action()
async def resolve_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    with review_errors():
        await review.resolve_attention(
            request.state.db, request.path_params["thread_id"], reviewer.id
        )
    return done(request, form, "Marked as dealt with.")


@auth.action()
async def confirm_opt_out_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    with review_errors():
        await review.confirm_opt_out(
            request.state.db, request.path_params["thread_id"], reviewer.id
        )
    return done(request, form, "Opted out: nothing is sent until the customer texts START.")


@auth.action()
async def not_opt_out_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    thread_id = request.path_params["thread_id"]
    with review_errors():
        await review.not_opt_out(request.state.db, thread_id, reviewer.id)
    request.state.drafting.schedule(thread_id)
    return done(request, form, "Not an opt-out: the thread is resumed and a reply is drafted.")


@auth.action()
async def facts_action(request: Request, reviewer: Reviewer, form: FormData) -> Response:
    key = text_field(form, "key", limit=facts.MAX_KEY_CHARS)
    value = text_field(form, "value", required=False, limit=500)
    try:
        patch = facts.check_patch({key: value or None})
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    with review_errors():
        await review.edit_facts(
            request.state.db, request.path_params["thread_id"], patch, reviewer.id
        )
    return done(request, form, f"Saved: {key}." if value else f"Removed: {key}.")


def routes() -> list[BaseRoute]:
    return [
        Route("/", queue_page, name="queue"),
        Route("/needs-review", needs_review_page, name="needs_review"),
        Route("/attention", attention_page, name="attention"),
        Route("/paused", paused_page, name="paused"),
        Route("/threads/{thread_id}", thread_page, name="thread"),
        Route("/fragments/cards/{draft_id}", card_fragment, name="card_fragment"),
        Route("/queue/updates", queue_updates, name="queue_updates"),
        Route("/fragments/menu-counts", menu_counts, name="menu_counts"),
        Route("/drafts/{draft_id}/approve", approve_action, methods=["POST"]),
        Route("/drafts/{draft_id}/edit", edit_action, methods=["POST"]),
        Route("/drafts/{draft_id}/reject", reject_action, methods=["POST"]),
        Route("/drafts/{draft_id}/claim", claim_action, methods=["POST"]),
        Route("/drafts/{draft_id}/release", release_claim_action, methods=["POST"]),
        Route("/messages/{message_id}/regenerate", regenerate_action, methods=["POST"]),
        Route("/threads/{thread_id}/reply", reply_action, methods=["POST"]),
        Route("/threads/{thread_id}/pause", pause_action, methods=["POST"]),
        Route("/threads/{thread_id}/resume", resume_action, methods=["POST"]),
        Route("/threads/{thread_id}/escalate", escalate_action, methods=["POST"]),
        Route("/threads/{thread_id}/resolve", resolve_action, methods=["POST"]),
        Route("/threads/{thread_id}/opt-out", confirm_opt_out_action, methods=["POST"]),
        Route("/threads/{thread_id}/not-opt-out", not_opt_out_action, methods=["POST"]),
        Route("/threads/{thread_id}/facts", facts_action, methods=["POST"]),
        Route("/threads/{thread_id}/takeover", takeover_action, methods=["POST"]),
        Route("/threads/{thread_id}/release", release_action, methods=["POST"]),
        Route("/threads/{thread_id}/close", close_action, methods=["POST"]),
        Route("/threads/{thread_id}/dismiss", dismiss_action, methods=["POST"]),
    ]
