"""What a customer's text is about, as the drafters name it, found from keywords (pure)."""

from __future__ import annotations

import re
from enum import StrEnum


class Intent(StrEnum):
    GREETING = "greeting"
    HELP = "help"
    FAQ = "faq"
    HOURS = "hours"
    PRICE = "price"
    BOOKING = "booking"
    COMPLAINT = "complaint"
    THANKS = "thanks"
    MISSED_CALL = "missed_call"
    OTHER = "other"


# the first intent whose words appear in the message wins
INTENT_WORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (Intent.COMPLAINT, ("refund", "complaint", "broken", "terrible", "awful", "worst", "angry")),
    (Intent.HELP, ("help", "support", "problem", "issue")),
    (Intent.HOURS, ("open", "close", "closing", "hours", "today", "tomorrow")),
    (Intent.PRICE, ("price", "cost", "how much", "fee", "quote")),
    (Intent.BOOKING, ("book", "appointment", "reservation", "reserve", "schedule")),
    (Intent.THANKS, ("thanks", "thank you", "thx", "cheers")),
    (Intent.GREETING, ("hi", "hello", "hey", "good morning", "good afternoon", "good evening")),
)


def has_word(text: str, phrase: str) -> bool:
    """Whether `phrase` (lower case) stands as whole words in lower-cased `text`."""
    return re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", text) is not None


def detect_intent(text: str) -> Intent:
    lowered = text.lower()
    for intent, words in INTENT_WORDS:
        if any(has_word(lowered, word) for word in words):
            return intent
    return Intent.OTHER
