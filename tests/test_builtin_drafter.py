"""The built-in drafter: FAQ answers, intents, templates and sentiment, offline."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from approval_bot.drafting import DraftContext, DraftUnavailable, FaqEntry, Intent
from approval_bot.drafting.builtin import TEMPLATES, draft_offline, sentiment_of
from approval_bot.models import Sentiment

FAQ = (
    FaqEntry(("hours", "open"), "We are open 9 to 5, Monday to Saturday."),
    FaqEntry(("price", "haircut"), "A haircut is $45."),
    FaqEntry(("open",), "For you we open at 8.", scope="+14155550100"),
)


def context(latest: str, **fields) -> DraftContext:
    return DraftContext(thread_id="+14155550100", latest=latest, **{"faq": FAQ, **fields})


@pytest.mark.parametrize(
    ("latest", "intent", "body"),
    [
        ("What are your hours?", Intent.FAQ, "We are open 9 to 5, Monday to Saturday."),
        ("How much is a haircut? what's the price", Intent.FAQ, "A haircut is $45."),
        ("Hello!", Intent.GREETING, TEMPLATES[Intent.GREETING]),
        ("thank you so much", Intent.THANKS, TEMPLATES[Intent.THANKS]),
        ("I want a refund, this is terrible", Intent.COMPLAINT, TEMPLATES[Intent.COMPLAINT]),
        ("can you help me with something", Intent.HELP, TEMPLATES[Intent.HELP]),
        ("Can I book for Friday?", Intent.BOOKING, TEMPLATES[Intent.OTHER]),
        ("qwerty", Intent.OTHER, TEMPLATES[Intent.OTHER]),
    ],
)
def test_draft(latest, intent, body):
    result = draft_offline(context(latest))
    assert (result.intent, result.body, result.drafter) == (intent, body, "builtin")


def test_a_threads_own_faq_entry_wins_a_tie():
    assert draft_offline(context("are you open?")).body == "For you we open at 8."


def test_confidence_is_highest_for_faq_answers_and_lowest_for_the_fallback():
    faq = draft_offline(context("hours?")).confidence
    template = draft_offline(context("hello")).confidence
    fallback = draft_offline(context("qwerty")).confidence
    assert faq > template > fallback


def test_a_missed_call_gets_the_text_back_template():
    result = draft_offline(context("", missed_call=True))
    assert (result.intent, result.body) == (Intent.MISSED_CALL, TEMPLATES[Intent.MISSED_CALL])


def test_an_empty_message_cannot_be_answered_but_a_photo_can():
    with pytest.raises(DraftUnavailable, match="no text"):
        draft_offline(context("  "))
    assert draft_offline(context("", has_media=True)).intent == Intent.OTHER


def test_faq_prices_are_not_flagged_but_made_up_ones_would_be():
    assert draft_offline(context("haircut price?")).findings == ()


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("I love it, thank you!", Sentiment.POSITIVE),
        ("This is awful and I am angry", Sentiment.NEGATIVE),
        ("The parcel is at the door", Sentiment.NEUTRAL),
        ("", Sentiment.UNKNOWN),
        ("!!! ...", Sentiment.UNKNOWN),
    ],
)
def test_sentiment(text, sentiment):
    assert sentiment_of(text) is sentiment


@pytest.mark.parametrize(
    "text",
    [
        "This is the third time my order is late. I want a refund now.",
        "I want a refund",
        "I'd like to make a complaint please",
    ],
)
def test_a_complaint_never_sounds_happy(text):
    assert sentiment_of(text) in (Sentiment.NEUTRAL, Sentiment.NEGATIVE)


def test_the_builtin_drafter_follows_greeting_fallback_and_sign_off_lines():
    directives = (
        "We are Dana's Bakery.\nGreeting: Hello from Dana's!\nSign-off: - Dana's Bakery",
        "sign-off: - Dana",  # the thread's own line wins
    )

    greeting = draft_offline(context("hi", directives=directives))
    fallback = draft_offline(context("qwerty", directives=(*directives, "Fallback: We'll call.")))
    faq = draft_offline(context("hours?", directives=directives))

    assert greeting.body == "Hello from Dana's!\n- Dana"
    assert fallback.body == "We'll call.\n- Dana"
    assert faq.body == "We are open 9 to 5, Monday to Saturday.\n- Dana"


def test_the_builtin_draft_carries_the_builtin_understanding_with_its_intent():
    received = datetime(2025, 12, 1, 15, 0, tzinfo=UTC)  # Monday, 10:00 in New York
    zone = ZoneInfo("America/New_York")
    result = draft_offline(context("What are your hours?", received_at=received, zone=zone))
    assert result.intent == Intent.FAQ
    assert result.understanding is not None
    assert result.understanding.intent == "faq"
    assert result.understanding.source == "builtin"
    assert result.understanding.appointment_intent == "none"

    booked = draft_offline(context("9:30 Saturday works", received_at=received, zone=zone))
    assert booked.understanding is not None
    assert booked.understanding.appointment_at == "2025-12-06T09:30:00-05:00"


def test_a_text_back_after_a_missed_call_has_no_understanding():
    assert draft_offline(context("", missed_call=True)).understanding is None


@pytest.mark.parametrize(
    ("latest", "facts"),
    [
        ("Hi, this is Ana. Are you open today?", {"name": "Ana"}),
        ("my name is Ana Lopez", {"name": "Ana"}),
        ("This is Maria from apt 4, the sink is leaking", {"name": "Maria"}),
        ("I'm Ana and I need a trim", {"name": "Ana"}),
        ("It's Sam again, can I move my appt?", {"name": "Sam"}),
        # words after "I'm", "it's", "this is" that say how the customer is, not who
        ("I'm Running late, be there in 10", {}),
        ("I'M LATE SORRY", {}),
        ("This is Urgent!!", {}),
        ("It's Tuesday right?", {}),
        ("I am Available saturday", {}),
        ("I'm Allergic to latex", {}),
        ("I'm Sarah's mom, booking for her", {}),
        ("I'm Happy with the cut", {}),
    ],
)
def test_the_name_proposed_is_one_the_customer_gave(latest, facts):
    assert draft_offline(context(latest)).facts == facts
