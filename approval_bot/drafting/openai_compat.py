"""A drafter on any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM, llama.cpp).

The model answers with the reply and its understanding of the customer's text in one JSON
object: asked for with a JSON schema response format, and, where the server answers 400 to
that, with the same object described in the instructions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from ..facts import check_patch
from ..intents import Intent
from ..metrics import Metrics
from ..understanding import AppointmentIntent, Understanding, UnderstandingSource
from .base import DraftContext, Drafter, DraftResult, DraftUnavailable
from .builtin import customer_name, draft_offline, sentiment_of
from .checks import check_draft

log = logging.getLogger(__name__)

NAME = "openai"
TRIES = 2  # a malformed answer is asked for once more before the built-in drafter takes over
TEMPERATURE = 0.3
# Regenerate asks for another wording: the same model, less predictable
VARIANT_TEMPERATURE = 0.9
# the answer's length, in tokens (DRAFT_MAX_TOKENS): a reply of 1,600 characters is about
# 400, and the JSON around it and the understanding some 100 more
MAX_TOKENS = 600
# of the server's answer only so much is read, whatever the bound above: a server that
# ignores it (older OpenAI-compatible ones know only max_tokens) cannot fill memory or the
# database. 2,000 tokens (DRAFT_MAX_TOKENS' most) as JSON escapes fit in it.
MAX_ANSWER_BYTES = 64 * 1024

INSTRUCTIONS = """\
You draft SMS replies for a small business. A human reviews every draft before it is sent.
Write one short, friendly, plain-text reply to the customer's latest message, using the
conversation as context. Follow the business's directives. Use the FAQ answers for facts;
never invent prices, links, opening hours or promises that are not in them.
Say also what the customer's latest message means:
- appointment_intent: "specific" when it names a day and time to come ("9:30 on Saturday"),
  "vague" when it wishes for an appointment without a time ("sometime next week", "yeah
  interested"), else "none";
- appointment_at: for "specific" only, that time as ISO 8601 with its UTC offset in the
  business's time zone, read relative to when the message arrived; otherwise null;
- soft_no: a polite refusal that is not a wish to stop hearing from us ("no thanks", "maybe later");
- confused: the customer does not follow ("who is this?", "what?", "wrong number?");
- opt_out_request: the customer wants no more messages from us, in any words ("please stop
  texting me", "take me off your list"); not texts that merely contain such a word ("can you
  stop by at 3?");
- facts: things worth remembering about the customer (their name, a preferred time), as
  key and value pairs; an empty list when there are none.
Answer with one JSON object and nothing else:
{"reply": "<the text to send>", "intent": "<one of: %s>", "confidence": <0.0 to 1.0>,
 "understanding": {"appointment_intent": "none|vague|specific", "appointment_at": null,
  "soft_no": false, "confused": false, "opt_out_request": false},
 "facts": [{"key": "name", "value": "Sam"}]}
"""

# the latest text came with media (MMS, a WhatsApp photo), which the model is not shown
MEDIA_NOTE = "(The customer also sent a picture or file, which you cannot see.)"

_FLAG = {"type": "boolean"}
# the JSON schema response format; strict, so every key is required and no other is allowed
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reply", "intent", "confidence", "understanding", "facts"],
    "properties": {
        "reply": {"type": "string"},
        "intent": {"type": "string", "enum": [intent.value for intent in Intent]},
        "confidence": {"type": "number"},
        "understanding": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "appointment_intent",
                "appointment_at",
                "soft_no",
                "confused",
                "opt_out_request",
            ],
            "properties": {
                "appointment_intent": {
                    "type": "string",
                    "enum": [kind.value for kind in AppointmentIntent],
                },
                "appointment_at": {"type": ["string", "null"]},
                "soft_no": _FLAG,
                "confused": _FLAG,
                "opt_out_request": _FLAG,
            },
        },
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "value"],
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}
RESPONSE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {"name": "draft_reply", "strict": True, "schema": ANSWER_SCHEMA},
}


def profile_section(context: DraftContext) -> str:
    """The business profile for the system message, with the moment the text arrived in the
    business's own time zone (so "today" and "open now" can be read)."""
    profile = context.profile
    assert profile is not None
    local = profile.local(context.received_at or datetime.now(UTC))
    facts = profile.model_dump(mode="json", exclude={"tone", "sign_off"})
    lines = [
        f"\nBusiness profile (facts you may use; hours are local, {profile.timezone}):",
        json.dumps(facts, ensure_ascii=False),
        f"The customer's text arrived {local:%A %Y-%m-%d %H:%M} local time.",
        f"Tone: {profile.tone}.",
    ]
    if name := customer_name(context):
        lines.append(f"The customer's name is {name}.")
    if profile.sign_off:
        lines.append(f"End the reply with this sign-off on its own line: {profile.sign_off}")
    return "\n".join(lines)


class MalformedAnswer(Exception):
    """The model answered, but not with the JSON object it was asked for."""


class ServerFailed(Exception):
    """The server answered 200 with no chat completion: an error object, or another shape."""


class AnswerTooLong(Exception):
    """The server's answer went on past MAX_ANSWER_BYTES; the rest was not read."""


class _Capped(httpx2.AsyncByteStream):
    """A response body that stops with AnswerTooLong past `limit` bytes."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        self._stream, self._limit = stream, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        taken = 0
        async for chunk in self._stream:
            taken += len(chunk)
            if taken > self._limit:
                raise AnswerTooLong(f"the answer was over {self._limit // 1024} KiB")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


async def _cap_answer(response: httpx2.Response) -> None:
    """Read at most MAX_ANSWER_BYTES of `response`: a hook run before its body is read, so
    the client keeps its own transports (and the proxies the environment names)."""
    assert isinstance(response.stream, httpx2.AsyncByteStream)
    response.stream = _Capped(response.stream, MAX_ANSWER_BYTES)


def _server_failure(completion: Any) -> str | None:
    """Why a 200 answer is no chat completion at all (vLLM, LiteLLM and proxies put
    `{"error": {...}}` there); None for a completion, even one with no choices."""
    if not hasattr(completion, "choices"):
        return "the server's answer is not a chat completion"
    extra = getattr(completion, "model_extra", None) or {}
    error = extra.get("error") if not completion.choices else None
    if error is None:
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return f"the server answered with an error: {str(message)[:200]}"


class _Understood(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_intent: AppointmentIntent
    appointment_at: str | None
    soft_no: StrictBool
    confused: StrictBool
    opt_out_request: StrictBool


class _Fact(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    value: str = Field(max_length=500)


class _Answer(BaseModel):
    """The model's answer; lenient on intent and confidence, as the drafter always was."""

    reply: str
    intent: str = Intent.OTHER
    confidence: float = 0.5
    understanding: _Understood
    facts: list[_Fact] = Field(default_factory=list, max_length=20)

    @field_validator("intent", mode="before")
    @classmethod
    def _known_intent(cls, value: object) -> str:
        return value if isinstance(value, str) and value in set(Intent) else Intent.OTHER

    @field_validator("confidence", mode="before")
    @classmethod
    def _bounded_confidence(cls, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0.5
        return min(1.0, max(0.0, float(value)))


@dataclass(frozen=True)
class Answer:
    """A validated answer: the reply, and what the model understood of the customer's text."""

    reply: str
    intent: str
    confidence: float
    understanding: Understanding
    facts: dict[str, object]


def build_messages(
    context: DraftContext, received_at: datetime | None = None
) -> list[ChatCompletionMessageParam]:
    """The chat: instructions, directives and FAQ as the system message, then the thread."""
    system = INSTRUCTIONS % ", ".join(intent.value for intent in Intent)
    if received_at is not None and not context.missed_call:
        local = received_at.astimezone(context.zone)
        system += (
            f"\nThe latest message arrived on {local:%A} {local.isoformat(timespec='minutes')}; "
            f"the business's time zone is {context.zone.key}.\n"
        )
    if context.directives:
        system += "\nDirectives from the business:\n" + "\n".join(
            f"- {line}" for line in context.directives
        )
    if context.faq:
        system += "\nFAQ (keywords: answer):\n" + "\n".join(
            f"- {', '.join(entry.keywords)}: {entry.answer}" for entry in context.faq
        )
    if context.profile is not None:
        system += profile_section(context)
    if context.facts:
        # reviewers' and drafters' notes on the customer, as JSON so nesting reads plainly
        system += "\nKnown about the customer: " + json.dumps(context.facts, sort_keys=True)
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
    for turn in context.history:
        if turn.from_customer:
            messages.append({"role": "user", "content": turn.body})
        else:
            messages.append({"role": "assistant", "content": turn.body})
    if context.has_media and len(messages) > 1 and messages[-1]["role"] == "user":
        # the picture is not sent: without a word the model reads an empty or odd text
        said = str(messages[-1].get("content") or "")
        messages[-1] = {"role": "user", "content": f"{said}\n{MEDIA_NOTE}".lstrip("\n")}
    if context.missed_call:
        messages.append(
            {
                "role": "user",
                "content": "(The customer just called and nobody answered. "
                "Draft a short text-back asking how we can help.)",
            }
        )
    return messages


def _appointment_at(understood: _Understood, zone: ZoneInfo) -> str | None:
    """The model's time for a specific appointment, in `zone`; MalformedAnswer if unusable."""
    if understood.appointment_intent is not AppointmentIntent.SPECIFIC:
        return None  # a time given with a vague wish is not one the customer named
    if understood.appointment_at is None:
        raise MalformedAnswer("the model's answer is specific but gives no appointment_at")
    try:
        moment = datetime.fromisoformat(understood.appointment_at)
    except ValueError:
        raise MalformedAnswer("the model's appointment_at is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)  # a wall-clock time in the business's zone
    return moment.astimezone(zone).isoformat()


def parse_answer(content: str | None, zone: ZoneInfo) -> Answer:
    """The model's answer validated; MalformedAnswer saying what is wrong otherwise."""
    if not content:
        raise MalformedAnswer("the model answered with no content")
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedAnswer("the model's answer is not JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("reply"), str):
        raise MalformedAnswer('the model\'s answer has no "reply" text')
    try:
        answer = _Answer.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MalformedAnswer(
            f"the model's answer does not fit the schema: {where}: {first['msg']}"
        ) from None
    facts = {fact.key: fact.value for fact in answer.facts}
    try:
        check_patch(facts)
    except ValueError as error:
        raise MalformedAnswer(f"the model's facts are not usable: {error}") from None
    understood = answer.understanding
    return Answer(
        reply=answer.reply.strip(),
        intent=answer.intent,
        confidence=answer.confidence,
        understanding=Understanding(
            intent=answer.intent,
            appointment_intent=understood.appointment_intent,
            appointment_at=_appointment_at(understood, zone),
            soft_no=understood.soft_no,
            confused=understood.confused,
            opt_out_request=understood.opt_out_request,
            source=UnderstandingSource.MODEL,
        ),
        facts=dict(facts),
    )


class OpenAICompatDrafter:
    """Drafts with a chat model; errors and timeouts are raised for the caller to fall back."""

    name = NAME

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        # no retries: a slow or failing model falls back to the built-in drafter at once
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",  # local servers take any key
            timeout=timeout,
            max_retries=0,
            # the client's own defaults, reading a bounded answer
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"response": [_cap_answer]}),
        )
        # until the server answers 400 to the JSON schema response format
        self.json_schema = True

    async def aclose(self) -> None:
        await self._client.close()

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], temperature: float
    ) -> Any:
        refused: openai.BadRequestError | None = None
        if self.json_schema:
            try:
                return await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=temperature,
                    max_completion_tokens=self.max_tokens,
                    response_format=RESPONSE_FORMAT,
                )
            except openai.BadRequestError as error:
                refused = error  # the format, or something else of this request?
        # a request refused for itself (a thread over the model's context) raises here, and
        # the schema is asked for again next time
        completion = await self._client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=temperature,
            max_completion_tokens=self.max_tokens,
        )
        if refused is not None:
            # llama.cpp's and older servers refuse it; the instructions describe the JSON
            log.info("%s refused the JSON schema response format: %s", NAME, refused)
            self.json_schema = False
        return completion

    async def draft(self, context: DraftContext) -> DraftResult:
        if not context.missed_call and not context.latest.strip() and not context.has_media:
            raise DraftUnavailable("the message has no text to answer")
        received = context.received_at or datetime.now(UTC)
        messages = build_messages(context, received)
        temperature = VARIANT_TEMPERATURE if context.variant else TEMPERATURE
        for attempt in range(1, TRIES + 1):
            completion = await self._complete(messages, temperature)
            if (failure := _server_failure(completion)) is not None:
                raise ServerFailed(failure)  # not the model's wording: asking again won't help
            try:
                if not completion.choices:
                    raise MalformedAnswer("the model answered with no choices")
                message = completion.choices[0].message
                answer = parse_answer(message.content if message else None, context.zone)
                break
            except MalformedAnswer as error:
                if attempt == TRIES:
                    raise MalformedAnswer(f"{error} ({TRIES} tries)") from None
                log.info("%s answer malformed (%s); asking again", NAME, error)
        return DraftResult(
            body=answer.reply,
            confidence=answer.confidence,
            intent=answer.intent,
            sentiment=sentiment_of(context.latest),
            findings=check_draft(answer.reply, context.known_text),
            drafter=NAME,
            model=completion.model or self.model,
            understanding=None if context.missed_call else answer.understanding,
            facts=answer.facts,
        )


class FallbackDrafter:
    """The configured drafter, falling back to the built-in one on a timeout or an error."""

    def __init__(self, primary: Drafter, timeout: float, metrics: Metrics) -> None:
        self.primary = primary
        self.name = primary.name
        self.timeout = timeout
        self.metrics = metrics

    async def draft(self, context: DraftContext) -> DraftResult:
        try:
            return await asyncio.wait_for(self.primary.draft(context), self.timeout)
        except DraftUnavailable:
            raise
        except (TimeoutError, openai.APITimeoutError):
            kind, reason = "timeout", f"{self.primary.name} took over {self.timeout:g} s"
        except (MalformedAnswer, AnswerTooLong) as error:
            kind, reason = "malformed", f"{self.primary.name}: {error}"
        except ServerFailed as error:
            kind, reason = "error", f"{self.primary.name}: {error}"
        except Exception as error:  # any failure of a remote model: the built-in one answers
            log.warning("drafter %s failed; falling back", self.primary.name, exc_info=True)
            kind, reason = "error", f"{self.primary.name} failed: {type(error).__name__}"
        self.metrics.draft_fallbacks.labels(reason=kind).inc()
        # the built-in understanding comes with the built-in draft
        result = await asyncio.to_thread(draft_offline, context)
        return dataclasses.replace(result, fallback_reason=reason)
