"""The JSON API under /api/v1: the third door into the same review actions as the web and SMS.

Each request carries `Authorization: Bearer <token>` and acts as the token's reviewer.
Handlers validate with the pydantic models of `api_schema`, call `review`, `drafting` or
`directives` (never a rule of their own), and answer JSON; every error is
`{"error": {"code", "message", "field"?}}` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import (
    claims,
    directives,
    drafting,
    facts,
    message_templates,
    review,
    sending_gate,
    webhooks,
    whatsapp_window,
    workflow,
)
from .. import profile as business
from ..accounts import Reviewer, reviewer_for_token
from ..config import Settings
from ..models import DecisionChannel, MessageStatus, MessageType, Role
from ..phrases import decided_words, via_words
from ..scheduler import wake_sender
from ..sms_text import nul_field
from ..store import Priority, Store
from ..store.views import queue as queue_rows
from ..store.views import threads as thread_rows
from ..store.views.audit import AuditFilter, audit_page
from ..store.views.common import decode_cursor
from ..store.views.guidance import guidance
from . import api_schema as schema
from .api_schema import Operation
from .auth import nul_in_address
from .common import row_id, short_time
from .metrics_endpoint import bearer_token
from .pages import conflict_message, withdrawn_words

PREFIX = "/api/v1"


@dataclass
class ApiError(Exception):
    status: int
    message: str
    field: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    sending_status: str | None = None
    sending_stopped: bool | None = None
    claimed_by: str | None = None
    claimed_until: str | None = None
    held_by: str | None = None
    held_since: str | None = None
    # a reply someone else moved first: who decided is looked up before answering
    conflict_on: str | None = None

    def response(self) -> JSONResponse:
        detail: dict[str, Any] = {"code": self.status, "message": self.message}
        for name in (
            "field",
            "decided_by",
            "decided_at",
            "sending_status",
            "sending_stopped",
            "claimed_by",
            "claimed_until",
            "held_by",
            "held_since",
        ):
            if getattr(self, name) is not None:
                detail[name] = getattr(self, name)
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"error": detail}, status_code=self.status, headers=headers)


def _claimed(error: claims.ClaimedByOther, how: str) -> ApiError:
    """Another reviewer's claim, or takeover of the thread, refused the request: who,
    until or since when, and what to send."""
    if isinstance(error.claim, claims.Holder):
        return ApiError(
            409, f"{error}; {how}", held_by=error.claim.reviewer_name, held_since=error.claim.since
        )
    return ApiError(
        409,
        f"{error}; {how}",
        claimed_by=error.claim.reviewer_name,
        claimed_until=error.claim.expires_at,
    )


@contextmanager
def review_errors() -> Iterator[None]:
    """The review module's refusals as API errors; each one changed nothing."""
    try:
        yield
    except workflow.Conflict as error:
        on = error.subject.split(" ", 1)[1] if error.subject.startswith("message ") else None
        raise ApiError(
            409,
            conflict_message(error),
            decided_by=error.changed_by,
            decided_at=error.changed_at,
            conflict_on=on,
        ) from None
    except claims.ClaimedByOther as error:
        raise _claimed(error, "send override_claim: true to go ahead anyway") from None
    except review.UnsendableText as error:
        raise ApiError(422, str(error), field="body") from None
    except (review.ThreadClosed, review.NoOptOutRequest) as error:
        raise ApiError(409, str(error)) from None
    except (review.HeldByOther, review.NothingToDo, review.KeyReused) as error:
        raise ApiError(409, str(error)) from None
    except sending_gate.SendingClosed as error:
        raise ApiError(
            403,
            str(error),
            sending_status=error.gate.status,
            sending_stopped=error.gate.stopped,
        ) from None
    except workflow.TransitionRefused as error:
        raise ApiError(409, str(error)) from None
    except drafting.NotRegenerable as error:
        raise ApiError(409, str(error)) from None
    except workflow.UnknownRecord as error:
        raise ApiError(404, str(error)) from None
    except drafting.DraftUnavailable as error:
        raise ApiError(503, f"no draft could be made: {error}") from None
    except message_templates.InvalidTemplate as error:
        raise ApiError(422, str(error), error.field) from None
    except message_templates.UnknownTemplate as error:
        raise ApiError(404, str(error)) from None
    except message_templates.NotAdmin as error:
        raise ApiError(403, str(error)) from None
    except review.NotAContentTemplate as error:
        raise ApiError(422, str(error), "key") from None


async def _name_the_decision(db: Store, error: ApiError, message_id: str) -> None:
    """Say who decided a reply, not who touched it last (the sender may have sent it since)."""
    for outcome in await queue_rows.outcomes(db, [message_id]):
        if outcome.withdrawn is not None:  # a close withdrew it: who closed, and why
            done = withdrawn_words(outcome.withdrawn)
        else:
            words, via = decided_words(outcome.status), via_words(outcome.channel)
            done = f"{words} by {outcome.actor}{via} at {short_time(outcome.timestamp)} UTC"
        error.message = f"Already {done}; nothing was changed."
        error.decided_by, error.decided_at = outcome.actor, outcome.timestamp


def _field_of(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    # a validator's own ValueError reads as its message, without pydantic's prefix
    return where, f"{where}: {str(first['msg']).removeprefix('Value error, ')}"


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        where, message = _field_of(error)
        raise ApiError(422, message, where) from None


async def _read_json(request: Request, required: bool) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > schema.MAX_BODY_BYTES:
        raise ApiError(413, f"the body is over {schema.MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > schema.MAX_BODY_BYTES:
            raise ApiError(413, f"the body is over {schema.MAX_BODY_BYTES} bytes")
    if not body.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        return {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "send the body as application/json")
    try:
        data = json.loads(body)
    except RecursionError:
        raise ApiError(400, "the body's JSON is nested too deeply") from None
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise ApiError(400, f"the body is not valid JSON: {error}") from None
    field = nul_field(data)
    if field is not None:
        raise ApiError(422, "text cannot contain a NUL character (\\u0000)", field=field or None)
    return data


async def authenticate(request: Request) -> Reviewer:
    """The active reviewer the request's live token acts as; 401 otherwise."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "send Authorization: Bearer <token> (approval-bot token create)")
    reviewer = await reviewer_for_token(request.state.db, token)
    if reviewer is None:
        raise ApiError(401, "this token is unknown or revoked, or its reviewer is disabled")
    return reviewer


@dataclass
class Call:
    """What a handler gets: the request, its reviewer, and the validated body and query."""

    request: Request
    reviewer: Reviewer
    body: Any
    query: Any

    @property
    def db(self) -> Store:
        db: Store = self.request.state.db
        return db

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def decision(self, notes: str | None = None) -> review.Decision:
        return review.Decision(
            reviewer_id=self.reviewer.id,
            channel=DecisionChannel.API,
            reviewer_phone=self.reviewer.phone,
            notes=notes or None,
        )


Handler = Callable[[Call], Awaitable[Any]]
OPERATIONS: list[Operation] = []
_ROUTES: list[BaseRoute] = []


def _single_values(request: Request) -> dict[str, str]:
    """The query string's parameters; 400 for one given twice (which value was meant?)."""
    seen: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in seen:
            raise ApiError(400, f"the query parameter {name} is given more than once", name)
        seen[name] = value
    return seen


def endpoint(op: Operation) -> Callable[[Handler], Handler]:
    """Register a handler for a documented operation; its answer is checked against the model."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def run(request: Request) -> Response:
            try:
                reviewer = await authenticate(request)
                refused = nul_in_address(request)
                if refused is not None:
                    raise ApiError(*refused)
                body = None
                if op.body is not None:
                    body = _validate(op.body, await _read_json(request, op.body_required))
                query = None
                if op.query is not None:
                    query = _validate(op.query, _single_values(request))
                result = await handler(Call(request, reviewer, body, query))
            except ApiError as error:
                if error.conflict_on is not None:
                    await _name_the_decision(request.state.db, error, error.conflict_on)
                return error.response()
            answer = op.response.model_validate(result)
            return JSONResponse(answer.model_dump(mode="json"), status_code=op.status)

        OPERATIONS.append(op)
        _ROUTES.append(Route(op.path, run, methods=[op.method]))
        return handler

    return wrap


def _cursor(value: str | None, field: str = "cursor") -> str | None:
    try:
        decode_cursor(value)
    except ValueError as error:
        raise ApiError(400, str(error), field) from None
    return value


async def _message(call: Call, message_id: str) -> dict[str, Any]:
    found = await thread_rows.message(call.db, message_id)
    if found is None:
        raise ApiError(404, f"no message {message_id}")
    if found["status"] == MessageStatus.APPROVED_TO_SEND:
        found["held_by_sending_gate"] = not (await sending_gate.fetch(call.db)).open
    return found


async def _draft(call: Call) -> str:
    """The path's draft id, once it names a reply (not a customer's message)."""
    draft_id = call.path("draft_id")
    kind = await thread_rows.message_type(call.db, draft_id)
    if kind is None or kind == MessageType.INBOUND:
        raise ApiError(404, f"no draft {draft_id}")
    return draft_id


async def _summary(call: Call, conversation: dict[str, Any]) -> dict[str, Any]:
    closes = await whatsapp_window.closes_at_for(
        call.db, conversation["thread_id"], conversation["channel"]
    )
    return {
        "conversation": {**conversation, "whatsapp_window_closes_at": _iso(closes)},
        "controls": {
            "paused": conversation["paused"],
            "paused_reason": conversation["paused_reason"],
            "pause_kind": conversation["pause_kind"],
            "last_updated": conversation["control_updated"],
            "taken_over_by": conversation["taken_over_by"],
            "taken_over_at": conversation["taken_over_at"],
        },
    }


async def _thread(call: Call, thread_id: str, before: str | None = None) -> dict[str, Any]:
    found = await thread_rows.thread(call.db, thread_id, before)
    if found is None:
        raise ApiError(404, f"no conversation with {thread_id}")
    return {
        **await _summary(call, found.conversation),
        "messages": found.messages,
        "earlier_cursor": found.earlier_cursor,
    }


# --- drafts and messages -------------------------------------------------------------------

DRAFT_ERRORS = (404, 409, 413, 415, 422)


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/drafts",
        "Replies in a status (pending by default), oldest first, with their context",
        schema.DraftList,
        query=schema.DraftsQuery,
        errors=(422,),
    )
)
async def list_drafts(call: Call) -> dict[str, Any]:
    q: schema.DraftsQuery = call.query
    page = await queue_rows.drafts(call.db, q.status, q.thread_id, _cursor(q.cursor), q.limit)
    items = [
        {
            **item,
            "claimed_by": item["claim"]["name"] if item["claim"] else None,
            "claimed_until": item["claim"]["expires_at"] if item["claim"] else None,
            "held_by": item["holder_name"],
            "held_since": item["held_since"],
            "whatsapp_window_closes_at": _iso(
                await whatsapp_window.closes_at_for(
                    call.db, item["thread_id"], item["thread_channel"]
                )
            ),
            "due_at": item["sla"]["due_at"] if item["sla"] else None,
            "sla_step": item["sla"]["step"] if item["sla"] else "none",
        }
        for item in page.rows
    ]
    return {"items": items, "next_cursor": page.next_cursor}


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/messages/{{message_id}}",
        "One message (customer text, draft or reply) with the decisions on it",
        schema.Message,
        errors=(404,),
        path_params=("message_id",),
    )
)
async def get_message(call: Call) -> dict[str, Any]:
    return await _message(call, call.path("message_id"))


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/approve",
        "Approve a pending reply for sending",
        schema.Message,
        body=schema.ApproveRequest,
        body_required=False,
        errors=DRAFT_ERRORS,
        path_params=("draft_id",),
    )
)
async def approve(call: Call) -> dict[str, Any]:
    draft_id = await _draft(call)
    body: schema.ApproveRequest = call.body
    with review_errors():
        await review.approve(
            call.db, draft_id, call.decision(body.notes), override_claim=body.override_claim
        )
    wake_sender(call.request.state.scheduler)
    return await _message(call, draft_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/reject",
        "Reject a pending reply; the customer's message then needs a written reply",
        schema.Message,
        body=schema.DecisionRequest,
        body_required=False,
        errors=DRAFT_ERRORS,
        path_params=("draft_id",),
    )
)
async def reject(call: Call) -> dict[str, Any]:
    draft_id = await _draft(call)
    with review_errors():
        await review.reject(call.db, draft_id, call.decision(call.body.notes))
    return await _message(call, draft_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/edit",
        "Save a new version of a pending reply (approved when `approve`); returns it",
        schema.Message,
        body=schema.EditRequest,
        errors=DRAFT_ERRORS,
        path_params=("draft_id",),
    )
)
async def edit(call: Call) -> dict[str, Any]:
    draft_id = await _draft(call)
    body: schema.EditRequest = call.body
    with review_errors():
        new_id = await review.edit(
            call.db,
            draft_id,
            body.body,
            call.decision(body.notes),
            approve=body.approve,
            override_claim=body.override_claim,
        )
    if body.approve:
        wake_sender(call.request.state.scheduler)
    return await _message(call, new_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/claim",
        "Claim a pending reply while you work on it: others must confirm to approve or edit it",
        schema.Claim,
        body=schema.ClaimRequest,
        body_required=False,
        errors=DRAFT_ERRORS,
        path_params=("draft_id",),
    )
)
async def claim(call: Call) -> dict[str, Any]:
    draft_id = await _draft(call)
    minutes = call.request.state.settings.claim_minutes
    with review_errors():
        try:
            held = await review.claim(
                call.db, draft_id, call.reviewer.id, minutes, take_over=call.body.take_over
            )
        except claims.ClaimedByOther as error:
            raise _claimed(error, "send take_over: true to take it over") from None
    return {
        "draft_id": draft_id,
        "claimed_by": held.reviewer_name,
        "claimed_at": held.claimed_at,
        "claimed_until": held.expires_at,
    }


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/release",
        "Release your claim on a pending reply (an admin may release anyone's)",
        schema.Claim,
        errors=(404, 409),
        path_params=("draft_id",),
    )
)
async def release_claim(call: Call) -> dict[str, Any]:
    draft_id = await _draft(call)
    with review_errors():
        try:
            await review.release_claim(call.db, draft_id, call.reviewer.id)
        except claims.ClaimedByOther as error:
            raise _claimed(error, "only they or an admin can release it") from None
    return {"draft_id": draft_id, "claimed_by": None, "claimed_at": None, "claimed_until": None}


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/drafts/{{draft_id}}/regenerate",
        "A new draft for a pending draft or a customer message that needs review; returns it",
        schema.Message,
        errors=(404, 409, 503),
        path_params=("draft_id",),
    )
)
async def regenerate(call: Call) -> dict[str, Any]:
    with review_errors():
        new_id = await drafting.regenerate(
            call.request.state.drafting, call.path("draft_id"), call.reviewer.id
        )
    return await _message(call, new_id)


# --- threads -------------------------------------------------------------------------------

THREAD_ERRORS = (404, 409, 413, 415, 422)


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/threads",
        "Conversations, newest activity first, by state, phone number or who holds them",
        schema.ThreadList,
        query=schema.ThreadsQuery,
        errors=(422,),
    )
)
async def list_threads(call: Call) -> dict[str, Any]:
    q: schema.ThreadsQuery = call.query
    page = await thread_rows.threads(
        call.db,
        state=q.state,
        phone=q.phone,
        taken_over_by=q.taken_over_by,
        after=_cursor(q.cursor),
        limit=q.limit,
    )
    items = [await _summary(call, row) for row in page.rows]
    return {"items": items, "next_cursor": page.next_cursor}


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/threads/{{thread_id}}/messages",
        "A thread's messages before the cursor (the latest without one), in time order",
        schema.MessageList,
        query=schema.MessagesQuery,
        errors=(404, 422),
        path_params=("thread_id",),
    )
)
async def thread_messages(call: Call) -> dict[str, Any]:
    q: schema.MessagesQuery = call.query
    thread_id = call.path("thread_id")
    found = await thread_rows.thread(call.db, thread_id, _cursor(q.before, "before"), q.limit)
    if found is None:
        raise ApiError(404, f"no conversation with {thread_id}")
    return {"items": found.messages, "earlier_cursor": found.earlier_cursor}


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/threads/{{thread_id}}",
        "A conversation, its controls, and its latest messages in order",
        schema.Thread,
        query=schema.ThreadQuery,
        errors=(404, 422),
        path_params=("thread_id",),
    )
)
async def get_thread(call: Call) -> dict[str, Any]:
    q: schema.ThreadQuery = call.query
    return await _thread(call, call.path("thread_id"), _cursor(q.before, "before"))


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/pause",
        "Pause a thread: nothing is drafted or sent on it until it is resumed",
        schema.Thread,
        body=schema.PauseRequest,
        body_required=False,
        errors=THREAD_ERRORS,
        path_params=("thread_id",),
    )
)
async def pause(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.pause_thread(
            call.db, thread_id, call.body.reason or "paused by a reviewer", call.reviewer.id
        )
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/resume",
        "Resume a thread; replies it held go back to review",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def resume(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        if await review.resume_thread(call.db, thread_id, call.reviewer.id):
            call.request.state.drafting.schedule(thread_id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/takeover",
        "Handle the thread yourself: the bot drafts nothing; new texts wait on Needs reply",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def takeover(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.take_over(call.db, thread_id, call.reviewer.id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/release",
        "Give the thread back to the bot; its latest unanswered text is drafted at once",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def release(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        if await review.release(call.db, thread_id, call.reviewer.id):
            call.request.state.drafting.schedule(thread_id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/close",
        "Close the conversation: open replies superseded, nothing drafted or sent",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def close(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.close(call.db, thread_id, call.reviewer.id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/dismiss",
        "The thread's texts waiting for a reply need none (default reason: No reply needed)",
        schema.Thread,
        body=schema.PauseRequest,
        body_required=False,
        errors=THREAD_ERRORS,
        path_params=("thread_id",),
    )
)
async def dismiss(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    reason = call.body.reason if call.body is not None else None
    with review_errors():
        await review.dismiss(call.db, thread_id, call.reviewer.id, reason or "")
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/opt-out",
        "Confirm an opt-out in plain words: the thread is then as a STOP leaves it",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def confirm_opt_out(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.confirm_opt_out(call.db, thread_id, call.reviewer.id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/not-opt-out",
        "Not an opt-out: resume the thread and draft the held text as usual",
        schema.Thread,
        errors=(404, 409),
        path_params=("thread_id",),
    )
)
async def not_opt_out(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.not_opt_out(call.db, thread_id, call.reviewer.id)
    call.request.state.drafting.schedule(thread_id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "PATCH",
        f"{PREFIX}/threads/{{thread_id}}/facts",
        "Merge facts about the customer: scalars replace, objects merge, lists append, "
        "null deletes",
        schema.Thread,
        body=schema.FactsPatch,
        errors=THREAD_ERRORS,
        path_params=("thread_id",),
    )
)
async def patch_facts(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    try:
        patch = facts.check_patch(call.body.root)
    except ValueError as error:
        raise ApiError(422, str(error), "facts") from None
    with review_errors():
        await review.edit_facts(call.db, thread_id, patch, call.reviewer.id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/escalate",
        "Hand a thread to a human: it pauses and needs attention, with the reason",
        schema.Thread,
        body=schema.ReasonRequest,
        errors=THREAD_ERRORS,
        path_params=("thread_id",),
    )
)
async def escalate(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    with review_errors():
        await review.escalate(call.db, thread_id, call.body.reason, call.reviewer.id)
    return await _thread(call, thread_id)


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/reply",
        "Send a reply you wrote; the thread's other open replies are superseded "
        "(403 while the sending gate is closed)",
        schema.Message,
        body=schema.ReplyRequest,
        errors=(403, *THREAD_ERRORS),
        path_params=("thread_id",),
        headers=(
            (
                "Idempotency-Key",
                "Send it again with the same key: the first reply is answered, nothing new is "
                "sent; the same key with another body is a 409. Kept 24 hours.",
            ),
        ),
    )
)
async def reply(call: Call) -> dict[str, Any]:
    thread_id = call.path("thread_id")
    body: schema.ReplyRequest = call.body
    in_reply_to = body.in_reply_to_id
    if in_reply_to is None:
        # the web's thread page answers the latest customer text the same way
        in_reply_to = await thread_rows.latest_inbound(call.db, thread_id)
    elif await thread_rows.inbound_thread(call.db, in_reply_to) != thread_id:
        raise ApiError(
            422, "in_reply_to_id is not a customer message of this thread", "in_reply_to_id"
        )
    key = call.request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key.strip()) <= 255:
        raise ApiError(422, "Idempotency-Key must be 1 to 255 characters", "Idempotency-Key")
    with review_errors():
        reply_id = await review.write_reply(
            call.db,
            thread_id,
            body.body,
            call.reviewer.id,
            in_reply_to_id=in_reply_to,
            idempotency_key=key.strip() if key is not None else None,
        )
    wake_sender(call.request.state.scheduler)
    return await _message(call, reply_id)


# --- the sending gate ----------------------------------------------------------------------


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/sending",
        "The sending gate: compliance status and emergency stop",
        schema.SendingGate,
    )
)
async def get_sending(call: Call) -> dict[str, Any]:
    return (await sending_gate.fetch(call.db)).answer()


@endpoint(
    Operation(
        "PUT",
        f"{PREFIX}/sending",
        "Change the sending gate (admins only); reopening sends stale approvals back to review",
        schema.SendingGate,
        body=schema.SendingUpdate,
        errors=(403, 413, 415, 422),
    )
)
async def put_sending(call: Call) -> dict[str, Any]:
    if call.reviewer.role is not Role.ADMIN:
        raise ApiError(403, "only an admin can change the sending gate")
    body: schema.SendingUpdate = call.body
    settings: Settings = call.request.state.settings
    try:
        result = await call.db.write(
            lambda conn: sending_gate.change(
                conn,
                actor_id=call.reviewer.id,
                via=sending_gate.ChangedVia.API,
                stale_after=settings.gate_stale_after,
                status=body.status,
                stopped=body.stopped,
                reason=body.reason,
            ),
            priority=Priority.DECISION,
        )
    except sending_gate.InvalidGateChange as error:
        raise ApiError(422, str(error), error.field) from None
    if result.released:
        wake_sender(call.request.state.scheduler)
    return result.gate.answer()


# --- audit and directives ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _filter_time(value: datetime | None, name: str) -> str | None:
    try:
        return _iso(value)
    except OverflowError:  # a time at either end of the calendar that UTC puts past it
        raise ApiError(422, f"{name}: the time is out of range in UTC", name) from None


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/audit",
        "The audit log, newest first, filtered; `actor` is a reviewer id or `system`",
        schema.AuditList,
        query=schema.AuditQuery,
        errors=(422,),
    )
)
async def audit_log(call: Call) -> dict[str, Any]:
    q: schema.AuditQuery = call.query
    before = None
    if q.cursor is not None:
        before = row_id(q.cursor)
        if before is None:
            raise ApiError(400, f"not an audit cursor: {q.cursor!r}", "cursor")
    where = AuditFilter(
        thread_id=q.thread_id,
        actor_id=int(q.actor) if q.actor not in (None, "system") else None,
        system_only=q.actor == "system",
        event=q.event,
        since=_filter_time(q.since, "since"),
        until=_filter_time(q.until, "until"),
    )
    page = await audit_page(call.db, where, before, q.limit)
    items = [{**row, "metadata": json.loads(row["metadata"] or "{}")} for row in page.rows]
    return {"items": items, "next_cursor": page.next_cursor}


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/directives",
        "Directives and FAQ entries the drafters follow, of every scope or of one",
        schema.Directives,
        query=schema.DirectivesQuery,
        errors=(422,),
    )
)
async def get_directives(call: Call) -> dict[str, Any]:
    q: schema.DirectivesQuery = call.query
    return await guidance(call.db, q.scope)


@endpoint(
    Operation(
        "PUT",
        f"{PREFIX}/directives",
        "Set a scope's directive and/or replace its FAQ entries (the global scope: admins)",
        schema.Directives,
        body=schema.DirectivesUpdate,
        errors=(403, 413, 415, 422),
    ),
)
async def put_directives(call: Call) -> dict[str, Any]:
    body: schema.DirectivesUpdate = call.body
    if not directives.may_change(call.reviewer.role, body.scope):
        raise ApiError(403, directives.ADMINS_ONLY)
    faq = None
    if body.faq is not None:
        faq = [(tuple(entry.keywords), entry.answer) for entry in body.faq]
    try:
        await directives.replace_guidance(
            call.db, body.scope, call.reviewer.id, directive=body.directive, faq=faq
        )
    except directives.InvalidGuidance as error:
        field = "scope" if str(error).startswith("scope") else "faq"
        raise ApiError(422, str(error), field) from None
    return await guidance(call.db, body.scope)


# --- templates -------------------------------------------------------------------------------


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/templates",
        "The message templates: greeting, help, fallback, missed call, holding, opt-out, WhatsApp",
        schema.TemplateList,
    )
)
async def list_templates(call: Call) -> dict[str, Any]:
    return {"items": [t.as_dict() for t in await message_templates.list_all(call.db)]}


@endpoint(
    Operation(
        "PUT",
        f"{PREFIX}/templates/{{key}}",
        "Create or change a template; `pre_approved` needs an admin, and an edit clears it",
        schema.Template,
        body=schema.TemplateUpdate,
        errors=(403, 413, 415, 422),
        path_params=("key",),
    )
)
async def put_template(call: Call) -> dict[str, Any]:
    body: schema.TemplateUpdate = call.body
    change = message_templates.Change(
        body.body, body.channel, body.content_sid, pre_approved=body.pre_approved
    )
    with review_errors():
        saved = await message_templates.save(
            call.db, call.path("key"), change, call.reviewer.id, call.reviewer.role
        )
    return saved.as_dict()


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/threads/{{thread_id}}/template",
        "Send a WhatsApp Content template (the way to answer after the 24-hour window closed)",
        schema.Message,
        body=schema.TemplateSend,
        errors=(403, 404, 409, 413, 415, 422),
        path_params=("thread_id",),
    )
)
async def send_template(call: Call) -> dict[str, Any]:
    body: schema.TemplateSend = call.body
    with review_errors():
        reply_id = await review.send_template(
            call.db, call.path("thread_id"), body.key, dict(body.variables), call.reviewer.id
        )
    wake_sender(call.request.state.scheduler)
    return await _message(call, reply_id)


# --- business profile ------------------------------------------------------------------------

NO_PROFILE = "there is no business profile yet; an admin can PUT one"


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/profile",
        "The business profile the drafters answer from",
        business.Profile,
        errors=(404,),
    )
)
async def get_profile(call: Call) -> dict[str, Any]:
    found = await business.get(call.db)
    if found is None:
        raise ApiError(404, NO_PROFILE)
    return business.document(found)


@endpoint(
    Operation(
        "PUT",
        f"{PREFIX}/profile",
        "Replace the business profile (admins)",
        business.Profile,
        body=business.Profile,
        errors=(403, 413, 415, 422),
    ),
)
async def put_profile(call: Call) -> dict[str, Any]:
    if call.reviewer.role is not Role.ADMIN:
        raise ApiError(403, "only an admin can change the business profile")
    await business.put(call.db, call.body, call.reviewer.id)
    return business.document(call.body)


# --- webhook subscriptions (admins) --------------------------------------------------------

ADMINS_ONLY = "only an admin may manage webhooks"


def _admin(call: Call) -> None:
    if call.reviewer.role != Role.ADMIN:
        raise ApiError(403, ADMINS_ONLY)


@endpoint(
    Operation(
        "GET",
        f"{PREFIX}/webhooks",
        "The webhook subscriptions (admins); secrets are never shown again",
        schema.WebhookList,
        errors=(403,),
    )
)
async def list_webhooks(call: Call) -> dict[str, Any]:
    _admin(call)
    return {"items": [item.public() for item in await webhooks.list_all(call.db)]}


@endpoint(
    Operation(
        "POST",
        f"{PREFIX}/webhooks",
        "Subscribe a URL to events (admins); the answer holds its secret, shown only then",
        schema.WebhookCreated,
        body=schema.WebhookRequest,
        errors=(403, 413, 415, 422),
        status=201,
    )
)
async def add_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    body: schema.WebhookRequest = call.body
    settings = call.request.state.settings
    try:
        added, secret = await webhooks.add(
            call.db,
            body.url,
            body.events,
            by=call.reviewer.id,
            check_address=settings.production and not settings.webhook_allow_private,
        )
    except webhooks.BadSubscription as error:
        field = "events" if "event type" in str(error) else "url"
        raise ApiError(422, str(error), field) from None
    return {**added.public(), "secret": secret}


@endpoint(
    Operation(
        "DELETE",
        f"{PREFIX}/webhooks/{{webhook_id}}",
        "Remove a subscription and its deliveries (admins); answers what was removed",
        schema.Webhook,
        errors=(403, 404),
        path_params=("webhook_id",),
    )
)
async def remove_webhook(call: Call) -> dict[str, Any]:
    _admin(call)
    raw = call.path("webhook_id")
    found = [item for item in await webhooks.list_all(call.db) if str(item.id) == raw]
    if not found:
        raise ApiError(404, f"no webhook subscription {raw}")
    try:
        await webhooks.remove(call.db, found[0].id, by=call.reviewer.id)
    except webhooks.UnknownSubscription as error:
        raise ApiError(404, str(error)) from None
    return found[0].public()


async def openapi_json(request: Request) -> Response:
    """The OpenAPI description of every endpoint above; it needs no token."""
    return JSONResponse(schema.openapi(OPERATIONS))


def routes() -> list[BaseRoute]:
    return [Route(f"{PREFIX}/openapi.json", openapi_json), *_ROUTES]
