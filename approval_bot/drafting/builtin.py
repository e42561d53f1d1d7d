"""The built-in drafter: offline, from reviewers' FAQ entries, intent keywords and templates."""

from __future__ import annotations

import re
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..models import Sentiment
from ..profile import Profile
from . import answers
from .base import DraftContext, DraftResult, DraftUnavailable, FaqEntry, Intent
from .checks import check_draft

NAME = "builtin"

# VADER's own thresholds for its compound score
POSITIVE_AT, NEGATIVE_AT = 0.05, -0.05

TEMPLATES = {
    Intent.GREETING: "Hi! Thanks for getting in touch. How can we help you today?",
    Intent.HELP: "We're here to help. Tell us what you need and a member of our team will "
    "get back to you shortly.",
    Intent.MISSED_CALL: "Sorry we missed your call! How can we help? Reply here and we'll "
    "get back to you as soon as we can.",
    Intent.COMPLAINT: "We're sorry to hear that. A member of our team will look into it and "
    "get back to you shortly.",
    Intent.THANKS: "You're welcome! Let us know if there's anything else we can do.",
    Intent.OTHER: "Thanks for your message. A member of our team will get back to you shortly.",
}

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


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment_of(text: str) -> Sentiment:
    """POSITIVE, NEUTRAL or NEGATIVE from VADER's compound score; UNKNOWN without words."""
    if not re.search(r"\w", text):
        return Sentiment.UNKNOWN
    compound = _analyzer().polarity_scores(text)["compound"]
    if compound >= POSITIVE_AT:
        return Sentiment.POSITIVE
    if compound <= NEGATIVE_AT:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL


def _has_word(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", text) is not None


def detect_intent(text: str) -> Intent:
    lowered = text.lower()
    for intent, words in INTENT_WORDS:
        if any(_has_word(lowered, word) for word in words):
            return intent
    return Intent.OTHER


# directive lines the built-in drafter follows; a thread's own line wins over the global one
_DIRECTIVE_LINE = re.compile(r"^\s*(sign-off|fallback|greeting)\s*:\s*(.+?)\s*$", re.I | re.M)


def directive_lines(directives: tuple[str, ...]) -> dict[str, str]:
    """`Greeting:`, `Fallback:` and `Sign-off:` lines of the directives, by lower-case name."""
    found: dict[str, str] = {}
    for directive in directives:  # global first, so the thread's own lines come last and win
        for match in _DIRECTIVE_LINE.finditer(directive):
            found[match.group(1).lower()] = match.group(2)
    return found


def best_faq(text: str, faq: tuple[FaqEntry, ...]) -> FaqEntry | None:
    """The entry with the most keywords in `text`; a thread's own entry wins a tie."""
    lowered = text.lower()
    best, best_score = None, 0
    for entry in faq:
        hits = sum(1 for keyword in entry.keywords if _has_word(lowered, keyword))
        score = hits * 2 + (1 if hits and entry.scope != "global" else 0)
        if score > best_score:
            best, best_score = entry, score
    return best


FAQ_CONFIDENCE = 0.85
PARTLY_CONFIDENCE = 0.4  # some of the question answered, the rest to be checked
TOPIC_INTENTS = {"booking": Intent.BOOKING, "price": Intent.PRICE, "hours": Intent.HOURS}


class BuiltinDrafter:
    """Answers from the business profile and the FAQ, otherwise from a template.

    Of the directives it follows `Greeting: …`, `Fallback: …` and `Sign-off: …` lines.
    """

    name = NAME

    async def draft(self, context: DraftContext) -> DraftResult:
        return draft_offline(context)


def faq_source(entry: FaqEntry) -> str:
    return f"FAQ: {entry.keywords[0]}"


def _from_profile(
    context: DraftContext, profile: Profile, entry: FaqEntry | None
) -> tuple[Intent, str, float, str | None] | None:
    """(intent, body, confidence, source) answering from the FAQ and the profile; None when
    the text asks nothing of them (a greeting, a thank-you: the templates answer)."""
    text = context.latest
    topics = answers.topics_in(text, weak=entry is None)
    if entry is not None:
        # a topic the FAQ entry's own keywords asked about is the FAQ's to answer
        hits = [k for k in entry.keywords if _has_word(text.lower(), k)]
        topics = [t for t in topics if not any(answers.topics_in(k) == [t] for k in hits)]
    found, missing = answers.answer(profile, text, topics, context.received_at, context.variant)
    parts = ([entry.answer] if entry is not None else []) + [a.text for a in found]
    sources = ([faq_source(entry)] if entry is not None else []) + [a.source for a in found]
    confidences = ([FAQ_CONFIDENCE] if entry is not None else []) + [a.confidence for a in found]
    intent = (
        Intent.FAQ if entry is not None else TOPIC_INTENTS.get(next(iter(topics), ""), Intent.OTHER)
    )
    tone, variant = profile.tone, context.variant
    if parts and missing:
        body = " ".join(parts) + " " + answers.holding(tone, variant)
        confidence = min(PARTLY_CONFIDENCE, *confidences)
    elif parts:
        body, confidence = " ".join(parts), min(confidences)
    elif missing or answers.is_question(text):
        # never invent: what the profile and FAQ do not say, a person answers
        return intent, answers.holding(tone, variant), answers.HOLDING_CONFIDENCE, None
    else:
        return None
    body = answers.dress(body, tone, context.customer_name, variant)
    return intent, body, confidence, " · ".join(dict.fromkeys(sources))


def _template(text: str, lines: dict[str, str]) -> tuple[Intent, str, float]:
    intent = detect_intent(text)
    template = intent if intent in TEMPLATES else Intent.OTHER
    body = TEMPLATES[template]
    confidence = 0.6 if template is intent and intent is not Intent.OTHER else 0.3
    own = lines.get("greeting" if template is Intent.GREETING else "fallback")
    if own and template in (Intent.GREETING, Intent.OTHER):
        body = own
    return intent, body, confidence


def draft_offline(context: DraftContext) -> DraftResult:
    """The built-in draft for `context`; pure, so other drafters can fall back to it."""
    text = context.latest
    lines = directive_lines(context.directives)
    profile = context.profile
    source = None
    if context.missed_call:
        intent, body, confidence = Intent.MISSED_CALL, TEMPLATES[Intent.MISSED_CALL], 0.9
    elif not text.strip() and not context.has_media:
        raise DraftUnavailable("the message has no text to answer")
    else:
        entry = best_faq(text, context.faq)
        answered = _from_profile(context, profile, entry) if profile is not None else None
        if answered is not None:
            intent, body, confidence, source = answered
        elif entry is not None:
            intent, body, confidence = Intent.FAQ, entry.answer, FAQ_CONFIDENCE
            source = faq_source(entry)
        else:
            intent, body, confidence = _template(text, lines)
    sign_off = lines.get("sign-off") or (profile.sign_off if profile is not None else None)
    if sign_off:
        body = f"{body}\n{sign_off}"
    return DraftResult(
        body=body,
        confidence=confidence,
        intent=intent,
        sentiment=sentiment_of(text),
        findings=check_draft(body, context.known_text),
        drafter=NAME,
        source=source,
    )
