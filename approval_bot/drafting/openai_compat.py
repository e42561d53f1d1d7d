"""A drafter on any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from ..intents import Intent
from .base import DraftContext, DraftResult, DraftUnavailable
from .builtin import sentiment_of
from .checks import check_draft

NAME = "openai"

INSTRUCTIONS = """\
You draft SMS replies for a small business. A human reviews every draft before it is sent.
Write one short, friendly, plain-text reply to the customer's latest message, using the
conversation as context. Follow the business's directives. Use the FAQ answers for facts;
never invent prices, links, opening hours or promises that are not in them.
Answer with one JSON object and nothing else:
{"reply": "<the text to send>", "intent": "<one of: %s>", "confidence": <0.0 to 1.0>}
"""


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
    if context.facts:
        # reviewers' and drafters' notes on the customer, as JSON so nesting reads plainly
        system += "\nKnown about the customer: " + json.dumps(context.facts, sort_keys=True)
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
            model=self.model, messages=build_messages(context), temperature=0.3
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
