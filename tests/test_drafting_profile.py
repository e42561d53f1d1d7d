"""The profile reaching the drafters: the model's prompt and temperature, draft checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from approval_bot.drafting import DraftContext, FaqEntry
from approval_bot.drafting.checks import check_draft
from approval_bot.drafting.openai_compat import FallbackDrafter, OpenAICompatDrafter
from approval_bot.metrics import Metrics
from approval_bot.samples import sample_faq, sample_profile

from .fake_openai import FakeOpenAI, fake_openai

pytestmark = pytest.mark.anyio

CUSTOMER = "+14155550100"
FAQ = tuple(FaqEntry(keywords, answer) for keywords, answer in sample_faq())
# Wednesday 2 December 2026, 10:00 in San Francisco
ARRIVED = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def context(text: str, variant: int = 0) -> DraftContext:
    return DraftContext(
        CUSTOMER,
        text,
        profile=sample_profile(),
        received_at=ARRIVED,
        facts={"name": "Sam"},
        variant=variant,
    )


async def drafted(fake: FakeOpenAI, ctx: DraftContext):
    remote = OpenAICompatDrafter(model="m", base_url=fake.base_url, api_key=None, timeout=5.0)
    try:
        return await FallbackDrafter(remote, 5.0, Metrics()).draft(ctx)
    finally:
        await remote.aclose()


async def test_the_model_is_given_the_profile_the_local_time_and_the_name():
    with fake_openai() as fake:
        await drafted(fake, context("are you open saturday?"))
    (request,) = fake.requests
    system = request["messages"][0]["content"]
    assert '"sat": "10:00-16:00"' in system
    assert '"name": "Beard trim", "price": 15' in system
    assert "https://book.example.com/sample-barbers" in system
    assert "Wednesday 2026-12-02 10:00 local time" in system
    assert "Tone: friendly." in system and "name is Sam" in system
    assert "- Sample Barbers" in system  # the sign-off to end with
    assert request["temperature"] == 0.3


async def test_regenerate_asks_the_model_for_another_wording_at_a_higher_temperature():
    with fake_openai() as fake:
        await drafted(fake, context("are you open saturday?", variant=1))
    (request,) = fake.requests
    assert request["temperature"] > 0.3


async def test_when_the_model_fails_the_builtin_drafter_answers_from_the_profile():
    with fake_openai(FakeOpenAI(mode="error")) as fake:
        result = await drafted(fake, context("how much is a beard trim"))
    assert result.drafter == "builtin" and result.fallback_reason
    assert "$15" in result.body and result.source == "from services and prices"


def test_prices_links_and_the_phone_of_the_profile_are_known_to_the_checks():
    known = context("hi").known_text
    body = (
        "A beard trim is $15. Book at https://book.example.com/sample-barbers "
        "or call +1 415-555-0123."
    )
    assert check_draft(body, known) == ()


def test_a_price_link_or_phone_the_profile_lacks_is_flagged():
    known = context("hi").known_text
    body = "A perm is $90. Book at https://perms.example.org or call +1 415-555-0199."
    codes = [finding.code for finding in check_draft(body, known)]
    assert codes == ["unknown_price", "unknown_link", "unknown_phone"]


def test_a_price_made_of_the_address_or_the_faq_numbers_is_flagged():
    # a customer's "the haircut is $12, right?" the model agrees to: the sample profile's
    # haircut is $30; 12 is the street number and 3 the FAQ's "3rd Street"
    known = DraftContext(CUSTOMER, "hi", faq=FAQ, profile=sample_profile()).known_text
    assert [f.code for f in check_draft("Yes, a haircut is $12.", known)] == ["unknown_price"]
    assert [f.code for f in check_draft("A trim is $3.", known)] == ["unknown_price"]
    assert check_draft("A haircut is $30, a hot towel shave $35.", known) == ()
