"""A drafter on any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from .base import DraftContext, DraftResult, DraftUnavailable, Intent
from .builtin import sentiment_of
from .checks import check_draft

NAME = "openai"
TEMPERATURE = 0.3
# Regenerate asks for another wording: the same model, less predictable
VARIANT_TEMPERATURE = 0.9

INSTRUCTIONS = """\
You draft SMS replies for a small business. A human reviews every draft before it is sent.
Write one short, friendly, plain-text reply to the customer's latest message, using the
conversation as context. Follow the business's directives. Use the FAQ answers for facts;
never invent prices, links, opening hours or promises that are not in them.
Answer with one JSON object and nothing else:
{"reply": "<the text to send>", "intent": "<one of: %s>", "confidence": <0.0 to 1.0>}
"""


def profile_section(context: DraftContext) -> str:
    """The business profile for the system message, with the moment the text arrived in the
    business's own time zone (so "today" and "open now" can be read)."""
    profile = context.profile
    assert profile is not None
    local = profile.local(context.received_at)
    facts = profile.model_dump(mode="json", exclude={"tone", "sign_off"})
    lines = [
        f"\nBusiness profile (facts you may use; hours are local, {profile.timezone}):",
        json.dumps(facts, ensure_ascii=False),
        f"The customer's text arrived {local:%A %Y-%m-%d %H:%M} local time.",
        f"Tone: {profile.tone}.",
    ]
    if context.customer_name:
        lines.append(f"The customer's name is {context.customer_name}.")
    if profile.sign_off:
        lines.append(f"End the reply with this sign-off on its own line: {profile.sign_off}")
    return "\n".join(lines)


class MalformedAnswer(Exception):
    """The model answered, but not with the JSON object it was asked for."""


def build_messages(context: DraftContext) -> list[ChatCompletionMessageParam]:
    """The chat: instructions, directives and FAQ as the system message, then the thread."""
    system = INSTRUCTIONS % ", ".join(intent.value for intent in Intent)
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
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
    for turn in context.history:
        if turn.from_customer:
            messages.append({"role": "user", "content": turn.body})
        else:
            messages.append({"role": "assistant", "content": turn.body})
    if context.missed_call:
        messages.append(
            {
                "role": "user",
                "content": "(The customer just called and nobody answered. "
                "Draft a short text-back asking how we can help.)",
            }
        )
    return messages


def parse_answer(content: str | None) -> tuple[str, str, float]:
    """(reply, intent, confidence) from the model's answer; MalformedAnswer otherwise."""
    if not content:
        raise MalformedAnswer("the model answered with no content")
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        answer: Any = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedAnswer("the model's answer is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("reply"), str):
        raise MalformedAnswer('the model\'s answer has no "reply" text')
    intent = answer.get("intent")
    intent = intent if isinstance(intent, str) and intent in set(Intent) else Intent.OTHER
    confidence = answer.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        confidence = 0.5
    return answer["reply"].strip(), intent, min(1.0, max(0.0, float(confidence)))


class OpenAICompatDrafter:
    """Drafts with a chat model; errors and timeouts are raised for the caller to fall back."""

    name = NAME

    def __init__(
        self, *, model: str, base_url: str | None, api_key: str | None, timeout: float
    ) -> None:
        self.model = model
        # no retries: a slow or failing model falls back to the built-in drafter at once
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",  # local servers take any key
            timeout=timeout,
            max_retries=0,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def draft(self, context: DraftContext) -> DraftResult:
        if not context.missed_call and not context.latest.strip() and not context.has_media:
            raise DraftUnavailable("the message has no text to answer")
        completion = await self._client.chat.completions.create(
            model=self.model,
            messages=build_messages(context),
            temperature=VARIANT_TEMPERATURE if context.variant else TEMPERATURE,
        )
        if not completion.choices:
            raise MalformedAnswer("the model answered with no choices")
        reply, intent, confidence = parse_answer(completion.choices[0].message.content)
        return DraftResult(
            body=reply,
            confidence=confidence,
            intent=intent,
            sentiment=sentiment_of(context.latest),
            findings=check_draft(reply, context.known_text),
            drafter=NAME,
            model=completion.model or self.model,
        )
