"""The OpenAI-compatible drafter through the real `openai` client against a loopback server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from approval_bot.config import Settings
from approval_bot.drafting import DraftContext, FallbackDrafter, FaqEntry, Turn
from approval_bot.drafting.openai_compat import MalformedAnswer, OpenAICompatDrafter, parse_answer
from approval_bot.metrics import Metrics

from .fake_openai import FakeOpenAI, fake_openai
from .twilio_client import CUSTOMER, PUBLIC, running

pytestmark = pytest.mark.anyio

CONTEXT = DraftContext(
    thread_id=CUSTOMER,
    latest="Are you open today?",
    history=(
        Turn(True, "hi"),
        Turn(False, "Hello! How can we help?"),
        Turn(True, "Are you open today?"),
    ),
    directives=("Sign off as Dana's Bakery.",),
    faq=(FaqEntry(("hours", "open"), "We are open 9 to 5, Monday to Saturday."),),
)


async def draft_with(fake: FakeOpenAI, timeout: float = 5.0):
    remote = OpenAICompatDrafter(
        model="fake-model", base_url=fake.base_url, api_key=None, timeout=timeout
    )
    metrics = Metrics()
    try:
        return await FallbackDrafter(remote, timeout, metrics).draft(CONTEXT), metrics
    finally:
        await remote.aclose()


def fallbacks(metrics: Metrics, reason: str) -> float:
    return (
        metrics.registry.get_sample_value("approval_bot_draft_fallbacks_total", {"reason": reason})
        or 0.0
    )


async def test_a_model_answer_becomes_the_draft_with_thread_and_guidance_as_context():
    with fake_openai() as fake:
        result, metrics = await draft_with(fake)

    assert result.body == "Yes, we are open 9 to 5."
    assert (result.drafter, result.model, result.intent) == ("openai", "fake-model", "hours")
    assert result.confidence == 0.9
    assert result.fallback_reason is None
    (request,) = fake.requests
    assert request["model"] == "fake-model"
    system, *turns = request["messages"]
    assert "Sign off as Dana's Bakery." in system["content"]
    assert "hours, open: We are open 9 to 5" in system["content"]
    assert [(m["role"], m["content"]) for m in turns] == [
        ("user", "hi"),
        ("assistant", "Hello! How can we help?"),
        ("user", "Are you open today?"),
    ]
    assert fallbacks(metrics, "timeout") == 0


async def test_a_model_slower_than_the_timeout_falls_back_to_the_builtin_drafter():
    with fake_openai(FakeOpenAI(mode="slow")) as fake:
        result, metrics = await draft_with(fake, timeout=0.3)

    assert result.drafter == "builtin"
    assert result.body == "We are open 9 to 5, Monday to Saturday."  # from the FAQ
    assert "took over 0.3 s" in result.fallback_reason
    assert fallbacks(metrics, "timeout") == 1


@pytest.mark.parametrize(
    ("fake", "reason", "kind"),
    [
        (FakeOpenAI(content="Sure! We're open 9-5."), "not JSON", "malformed"),
        (FakeOpenAI(content='{"answer": "hi"}'), 'no "reply"', "malformed"),
        (FakeOpenAI(content=""), "no content", "malformed"),
        (FakeOpenAI(mode="garbage"), "failed", "error"),
        (FakeOpenAI(mode="error"), "InternalServerError", "error"),
    ],
)
async def test_a_malformed_or_failed_answer_falls_back_and_says_why(fake, reason, kind):
    with fake_openai(fake) as served:
        result, metrics = await draft_with(served)

    assert result.drafter == "builtin"
    assert reason in result.fallback_reason
    assert fallbacks(metrics, kind) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"reply": " Hi! ", "intent": "greeting", "confidence": 0.7}', ("Hi!", "greeting", 0.7)),
        ('```json\n{"reply": "Hi", "confidence": 3}\n```', ("Hi", "other", 1.0)),
        ('{"reply": "Hi", "intent": "made-up", "confidence": "high"}', ("Hi", "other", 0.5)),
        ('{"reply": "Hi", "confidence": true}', ("Hi", "other", 0.5)),
    ],
)
def test_answers_are_parsed_leniently_but_never_guessed(content, expected):
    assert parse_answer(content) == expected


@pytest.mark.parametrize("content", [None, "", "[]", '{"reply": 5}', "plain text"])
def test_answers_without_a_reply_are_malformed(content):
    with pytest.raises(MalformedAnswer):
        parse_answer(content)


def test_the_app_drafts_with_the_model_after_the_webhook_has_answered(
    make_settings: Callable[..., Settings],
):
    with fake_openai(FakeOpenAI(mode="slow")) as fake:
        settings = make_settings(
            PUBLIC_BASE_URL=PUBLIC,
            DRAFTER="openai",
            OPENAI_MODEL="fake-model",
            OPENAI_BASE_URL=fake.base_url,
            DRAFT_TIMEOUT_SECONDS="20",
        )
        with running(settings) as twilio:
            response = twilio.text("Are you open today?", wait=False)
            # the model has not answered yet, and the webhook already has
            assert response.status_code == 200
            assert [row["status"] for row in twilio.messages()] == ["RECEIVED"]

            fake.release.set()
            twilio.settle()

            inbound, draft = twilio.messages()
            assert draft["body"] == "Yes, we are open 9 to 5."
            assert '"drafter": "openai"' in draft["draft_meta"]
            assert '"model": "fake-model"' in draft["draft_meta"]
