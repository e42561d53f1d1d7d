"""The JSON API's shapes: pydantic models for requests, responses and query strings, and the
OpenAPI 3.1 description built from them.

Every schema in /api/v1/openapi.json is generated from these models; none is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..conversation_rules import AppointmentStatus
from ..models import (
    ConversationState,
    MessageMode,
    MessageStatus,
    MessageType,
    PauseKind,
    SenderRole,
)
from ..sending_gate import ComplianceStatus
from .common import MAX_ROW_ID

MAX_BODY_BYTES = 64 * 1024  # a request body over this is refused with 413
MAX_TEXT = 1600  # one reply: the most a reviewer's text may be (ten SMS segments)
MAX_NOTE = 500
PAGE_LIMIT = 200

# text with at least one character that is not a space
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT, pattern=r"\S")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NOTE, pattern=r"\S")]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- requests -------------------------------------------------------------------------------


class DecisionRequest(_Request):
    """Approve or reject a pending reply; notes are kept with the decision."""

    notes: Note | None = None


class ApproveRequest(DecisionRequest):
    """Approve a pending reply; another reviewer's claim on it, or their takeover of its
    thread, needs `override_claim`."""

    override_claim: bool = Field(
        False,
        description="approve although another reviewer is editing it or has its thread (audited)",
    )


class EditRequest(_Request):
    """A new version of a pending reply, approved at once when `approve` is true."""

    body: Text
    approve: bool
    notes: Note | None = None
    override_claim: bool = Field(
        False,
        description=(
            "edit although another reviewer is editing it, or approve it although another "
            "reviewer has its thread (audited)"
        ),
    )


class ClaimRequest(_Request):
    take_over: bool = Field(
        False, description="take the claim from another reviewer who holds it (audited)"
    )


class ReasonRequest(_Request):
    reason: Reason


class PauseRequest(_Request):
    reason: Reason | None = None


class ReplyRequest(_Request):
    """A reply a reviewer wrote; it answers the thread's latest customer message unless told."""

    body: Text
    in_reply_to_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class SendingUpdate(_Request):
    """Change the sending gate (admins only): any of the status, the stop and the reason.

    Stopping needs a reason; a change that comes without one clears the old reason.
    """

    status: ComplianceStatus | None = None
    stopped: bool | None = None
    reason: Reason | None = None


class FactsPatch(RootModel[dict[str, Any]]):
    """Facts to merge: scalars replace, objects merge, lists gain new items, null deletes."""


class FaqInput(_Request):
    keywords: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]],
        Field(min_length=1, max_length=50),
    ]
    answer: Text


class DirectivesUpdate(_Request):
    """Set a scope's directive and/or replace its FAQ entries; what is left out stays."""

    scope: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "global"
    directive: Annotated[str, StringConstraints(max_length=4000)] | None = None
    faq: Annotated[list[FaqInput], Field(max_length=200)] | None = None


TemplateKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]


class TemplateUpdate(_Request):
    """A template's new text; `pre_approved` (admins only) approves this exact body for its
    trigger, or withdraws the approval. Editing the body clears a pre-approval."""

    # lengths are checked by the template rules, so the 422 names the limit in words
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_BYTES)]
    channel: Literal["sms", "whatsapp", "any"] = "any"
    content_sid: Annotated[str, StringConstraints(max_length=40)] | None = None
    pre_approved: bool | None = None


class TemplateSend(_Request):
    """Send a WhatsApp Content template on a thread, with its variables (by name)."""

    key: TemplateKey
    variables: Annotated[
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=40)],
            Annotated[str, StringConstraints(max_length=MAX_TEXT)],
        ],
        Field(max_length=20),
    ] = Field(default_factory=dict)


class WebhookRequest(_Request):
    """Subscribe a URL to events: `["*"]` for every type, or a list of types."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    events: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
        Field(min_length=1, max_length=50),
    ]


# --- query strings --------------------------------------------------------------------------


class Paging(_Request):
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT)] = 50


class DraftsQuery(Paging):
    status: MessageStatus = MessageStatus.DRAFT_PENDING_APPROVAL
    thread_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class AuditQuery(Paging):
    thread_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    actor: Annotated[str, StringConstraints(pattern=r"^(system|[0-9]{1,9})$")] | None = None
    event: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    since: datetime | None = None
    until: datetime | None = None


class ThreadsQuery(Paging):
    state: ConversationState | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$")] | None = Field(
        default=None, description="E.164: the number's SMS and WhatsApp threads"
    )
    taken_over_by: Annotated[int, Field(ge=1, le=MAX_ROW_ID)] | None = Field(
        default=None, description="a reviewer id: the threads they hold"
    )


class MessagesQuery(_Request):
    before: Annotated[str, StringConstraints(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT)] = 50


class ThreadQuery(_Request):
    before: Annotated[str, StringConstraints(max_length=200)] | None = None


class DirectivesQuery(_Request):
    scope: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


# --- responses ------------------------------------------------------------------------------


class ErrorDetail(_Response):
    code: int = Field(description="the HTTP status")
    message: str
    field: str | None = Field(
        None, description="the invalid field (422), or the query parameter given twice (400)"
    )
    decided_by: str | None = Field(None, description="who made the decision that won (409)")
    decided_at: str | None = None
    sending_status: ComplianceStatus | None = Field(
        None, description="the sending gate's status, when it refused a send (403)"
    )
    sending_stopped: bool | None = Field(None, description="whether sending is stopped (403)")
    claimed_by: str | None = Field(
        None, description="the reviewer who is editing the draft, when their claim refused (409)"
    )
    claimed_until: str | None = None
    held_by: str | None = Field(
        None, description="the reviewer who has taken the thread over, when that refused (409)"
    )
    held_since: str | None = None


class Error(_Response):
    error: ErrorDetail


class Approval(_Response):
    action: str
    reviewer_id: int | None
    reviewer_name: str | None
    channel: str
    notes: str | None
    timestamp: str


class Message(_Response):
    id: str
    thread_id: str
    type: MessageType
    status: MessageStatus
    body: str
    timestamp: str
    updated_at: str
    channel: str
    draft_version: int
    in_reply_to_id: str | None
    superseded_by: str | None
    sentiment: str | None
    media: list[Any]
    meta: dict[str, Any]
    provider_sid: str | None
    delivery_status: str | None
    error_code: int | None
    error_message: str | None
    encoding: Literal["GSM-7", "UCS-2"] = Field(description="how the body travels as SMS")
    segments: int = Field(description="SMS segments the body takes")
    held_by_sending_gate: bool = Field(
        False, description="approved, and waiting because the sending gate is closed"
    )
    sender_role: SenderRole | None = Field(description="who wrote it: customer, bot or human")
    mode: MessageMode | None = Field(description="what it is for, as the message log names it")
    template_key: str | None = Field(description="the template a built-in draft came from")
    ab_variant: str | None
    understanding: dict[str, Any] | None = Field(
        None, description="what an inbound customer text means (intent, flags, appointment)"
    )
    approvals: list[Approval] = []
    answered: bool | None = Field(
        default=None,
        description="a customer's text: whether a reply was approved or sent after it "
        "(its status stays that of its draft); null for replies",
    )


class CustomerText(_Response):
    id: str
    body: str
    timestamp: str
    media: list[Any]


class Draft(_Response):
    id: str
    thread_id: str
    type: MessageType
    status: MessageStatus
    body: str
    timestamp: str
    channel: str
    draft_version: int
    in_reply_to_id: str | None
    code: str | None = Field(description="the 4-character code reviewers text to decide it")
    findings: list[str]
    meta: dict[str, Any]
    encoding: Literal["GSM-7", "UCS-2"] = Field(description="how the body travels as SMS")
    segments: int = Field(description="SMS segments the body takes")
    conversation_state: ConversationState
    paused: bool
    paused_reason: str | None
    opted_out: bool
    recent: list[CustomerText] = Field(description="the customer's latest texts, oldest first")
    whatsapp_window_closes_at: str | None = Field(
        None, description="WhatsApp only: 24 hours after the customer's last message"
    )
    due_at: str | None = Field(
        None,
        description="a pending reply: when its next review-deadline step (reminder, "
        "escalation, holding reply) comes, counted in business hours; null when none is left",
    )
    sla_step: Literal["none", "reminded", "escalated", "holding_sent"] = Field(
        "none", description="the last review-deadline step taken on a pending reply"
    )
    claimed_by: str | None = Field(
        None, description="the name of the reviewer editing it now (a live claim), else null"
    )
    claimed_until: str | None = Field(None, description="when that claim expires")
    held_by: str | None = Field(
        None, description="the reviewer who has taken the thread over, else null"
    )
    held_since: str | None = Field(None, description="since when they have it")


class Claim(_Response):
    draft_id: str
    claimed_by: str | None = Field(description="who is editing the draft; null once released")
    claimed_at: str | None
    claimed_until: str | None = Field(description="when the claim expires unless renewed")


class DraftList(_Response):
    items: list[Draft]
    next_cursor: str | None


class Conversation(_Response):
    thread_id: str
    channel: str
    state: ConversationState
    sentiment: str | None
    attention_reason: str | None
    opted_out: bool
    last_activity_at: str
    soft_no_count: int = Field(description="polite refusals in the current contact")
    confusion_count: int = Field(description="confused texts in the current contact")
    appointment_status: AppointmentStatus
    appointment_at: str | None = Field(description="the booked time, ISO 8601")
    contact_count: int = Field(description="how many contacts this phone has made")
    facts: dict[str, Any] = Field(description="what is known of the customer, merged")
    whatsapp_window_closes_at: str | None = Field(
        None, description="WhatsApp only: 24 hours after the customer's last message"
    )


class Controls(_Response):
    paused: bool
    paused_reason: str | None
    pause_kind: PauseKind | None
    last_updated: str | None
    taken_over_by: str | None = Field(description="the name of the reviewer who holds it")
    taken_over_at: str | None


class Thread(_Response):
    conversation: Conversation
    controls: Controls
    messages: list[Message]
    earlier_cursor: str | None = Field(description="pass as `before` for older messages")


class ThreadSummary(_Response):
    conversation: Conversation
    controls: Controls


class ThreadList(_Response):
    items: list[ThreadSummary]
    next_cursor: str | None


class MessageList(_Response):
    items: list[Message] = Field(description="in time order")
    earlier_cursor: str | None = Field(description="pass as `before` for older messages")


class AuditEntry(_Response):
    id: int
    event: str
    actor: str
    actor_id: int | None
    actor_name: str | None
    thread_id: str | None
    message_id: str | None
    metadata: dict[str, Any]
    timestamp: str
    hash: str


class AuditList(_Response):
    items: list[AuditEntry]
    next_cursor: str | None


class Template(_Response):
    key: str
    body: str
    channel: str
    content_sid: str | None
    variables: list[str] = Field(
        description="the placeholders the body uses, in order (a Content template's 1, 2, …)"
    )
    pre_approved: bool
    trigger: str | None = Field(description="what sends it without a decision once pre-approved")
    pre_approved_by: str | None
    pre_approved_at: str | None
    updated_by: str | None
    updated_at: str


class TemplateList(_Response):
    items: list[Template]


class Directive(_Response):
    scope: str
    body: str
    updated_at: str
    updated_by: int | None


class FaqEntry(_Response):
    id: int
    scope: str
    keywords: list[str]
    answer: str


class Directives(_Response):
    directives: list[Directive]
    faq: list[FaqEntry]


class SendingGate(_Response):
    """The sending gate: while `status` is not approved, or `stopped`, no customer message
    leaves; approved replies wait."""

    status: ComplianceStatus
    stopped: bool
    reason: str | None
    changed_by: str | None = Field(
        description="an admin's name, `the command line` or `first start`"
    )
    changed_at: str | None


class Webhook(_Response):
    id: int
    url: str
    events: list[str] = Field(description='the event types, or ["*"] for every type')
    active: bool
    created_by: int | None
    created_at: str


class WebhookCreated(Webhook):
    secret: str = Field(description="the signing secret (whsec_…), shown only in this answer")


class WebhookList(_Response):
    items: list[Webhook]


# --- the OpenAPI description ----------------------------------------------------------------

ERROR_TEXT = {
    400: "Malformed request: a body that is not JSON, a bad cursor, a query parameter given "
    "more than once (`error.field` names it)",
    401: "No token, or a token that is unknown, revoked or of a disabled reviewer",
    403: "The token's reviewer may not do this, or the sending gate is closed (a send attempt)",
    404: "No such draft, message or thread, or no business profile yet",
    409: "Already decided (the message says by whom), the thread is paused or opted out, held by "
    "another reviewer, its WhatsApp window has closed (send a template), or an "
    "Idempotency-Key was used with another body",
    413: f"The body is over {MAX_BODY_BYTES} bytes",
    415: "The body is not application/json",
    422: "A field is invalid; `error.field` names it",
    503: "No draft could be made just now",
}


@dataclass(frozen=True)
class Operation:
    """One documented endpoint: what it takes, what it answers, and the errors it may give."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    summary: str
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    path_params: tuple[str, ...] = field(default=())
    status: int = 200  # the answer's status on success
    # optional request headers it reads: (name, description)
    headers: tuple[tuple[str, str], ...] = field(default=())


def _components(operations: list[Operation]) -> dict[str, Any]:
    models: set[type[BaseModel]] = {Error}
    for op in operations:
        models.add(op.response)
        if op.body is not None:
            models.add(op.body)
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation" if issubclass(model, _Request) else "serialization")
        for model in sorted(models, key=lambda m: m.__name__)
    ]
    _, schema = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    return dict(schema.get("$defs", {}))


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        # a query string cannot carry null: an optional parameter is one left out
        options = [p for p in prop.get("anyOf", []) if p != {"type": "null"}]
        if len(options) == 1:
            prop = {**options[0], **{k: v for k, v in prop.items() if k not in ("anyOf",)}}
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": prop}
        )
    return parameters


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`, with schemas generated from the models."""
    components = _components(operations)
    for op in operations:
        if op.query is not None:
            # enums used by query strings are referenced from the parameters
            defs = op.query.model_json_schema().get("$defs", {})
            components.update({k: v for k, v in defs.items() if k not in components})
    paths: dict[str, Any] = {}
    for op in operations:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in op.path_params
        ]
        if op.query is not None:
            parameters += _query_parameters(op.query)
        parameters += [
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": text,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
            for name, text in op.headers
        ]
        responses: dict[str, Any] = {
            str(op.status): {
                "description": "Created" if op.status == 201 else "OK",
                "content": {"application/json": {"schema": _ref(op.response)}},
            }
        }
        for status in sorted({400, 401, *op.errors}):
            responses[str(status)] = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": _ref(Error)}},
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path}".replace("/", "_")
            .replace("{", "")
            .replace("}", ""),
            "parameters": parameters,
            "responses": responses,
        }
        if op.body is not None:
            operation["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "approval-bot",
            "version": "1",
            "description": "Review AI-drafted replies: nothing reaches a customer until a "
            "reviewer approves it. Each token acts as its reviewer.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
