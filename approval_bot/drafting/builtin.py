"""The built-in drafter: offline, from reviewers' FAQ entries, intent keywords and templates."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..intents import Intent, detect_intent, has_word
from ..message_templates import DEFAULTS
from ..models import Sentiment
from ..sms_text import WORK_CHARS
from ..understanding import Understanding, understand
from .base import DraftContext, DraftResult, DraftUnavailable, FaqEntry
from .checks import check_draft

NAME = "builtin"

# VADER's own thresholds for its compound score
POSITIVE_AT, NEGATIVE_AT = 0.05, -0.05

# the editable templates (message_templates) the drafter answers with, by intent
TEMPLATE_KEYS = {
    Intent.GREETING: "greeting",
    Intent.HELP: "help",
    Intent.MISSED_CALL: "missed_call",
    Intent.OTHER: "fallback",
}
# used when a template is missing from the context
TEMPLATES = {
    **{intent: DEFAULTS[key] for intent, key in TEMPLATE_KEYS.items()},
    Intent.COMPLAINT: "We're sorry to hear that. A member of our team will look into it and "
    "get back to you shortly.",
    Intent.THANKS: "You're welcome! Let us know if there's anything else we can do.",
}


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
        hits = sum(1 for keyword in entry.keywords if has_word(lowered, keyword))
        score = hits * 2 + (1 if hits and entry.scope != "global" else 0)
        if score > best_score:
            best, best_score = entry, score
    return best


class BuiltinDrafter:
    """Answers from the FAQ when a keyword matches, otherwise from a template.

    Of the directives it follows `Greeting: …`, `Fallback: …` and `Sign-off: …` lines.
    """

    name = NAME

    async def draft(self, context: DraftContext) -> DraftResult:
        # dateparser takes tens of milliseconds on a long text: off the event loop
        return await asyncio.to_thread(draft_offline, context)


def builtin_understanding(context: DraftContext, intent: str) -> Understanding | None:
    """The built-in understanding of the customer's text, with the drafter's intent."""
    if context.missed_call:
        return None
    found = context.understood
    if found is None:  # read once when the text arrived; only a text from before then is read now
        received = context.received_at or datetime.now(UTC)
        found = understand(context.latest, received, context.zone)
    return dataclasses.replace(found, intent=intent)


def _text(context: DraftContext, intent: Intent) -> str:
    """The context's template for `intent` (rendered by the service), else the default."""
    key = TEMPLATE_KEYS.get(intent)
    own = context.templates.get(key) if key is not None else None
    return own if own else TEMPLATES[intent]


def draft_offline(context: DraftContext) -> DraftResult:
    """The built-in draft for `context`; pure, so other drafters can fall back to it."""
    text = context.latest
    lines = directive_lines(context.directives)
    template_key: str | None = None
    if context.missed_call:
        intent, body, confidence = Intent.MISSED_CALL, _text(context, Intent.MISSED_CALL), 0.9
        template_key = TEMPLATE_KEYS[Intent.MISSED_CALL]
    elif not text.strip() and not context.has_media:
        raise DraftUnavailable("the message has no text to answer")
    elif (entry := best_faq(text, context.faq)) is not None:
        intent, body, confidence = Intent.FAQ, entry.answer, 0.85
    else:
        intent = detect_intent(text)
        template = intent if intent in TEMPLATES else Intent.OTHER
        body = _text(context, template)
        confidence = 0.6 if template is intent and intent is not Intent.OTHER else 0.3
        template_key = TEMPLATE_KEYS.get(template, template.value)
        own = lines.get("greeting" if template is Intent.GREETING else "fallback")
        if own and template in (Intent.GREETING, Intent.OTHER):
            body = own
            template_key = None  # the reviewers' own line, not a template
    if "sign-off" in lines:
        body = f"{body}\n{lines['sign-off']}"
    return DraftResult(
        body=body,
        confidence=confidence,
        intent=intent,
        sentiment=sentiment_of(text),
        findings=check_draft(body, context.known_text),
        drafter=NAME,
        template_key=template_key,
        facts=propose_facts(text),
        understanding=builtin_understanding(context, intent),
    )


# "this is Ana", "my name is Ana", "I'm Ana": a capitalised word right after the phrase
_NAME = re.compile(r"\b(?i:this is|my name is|my name's|i am|i'm|it's)\s+([A-Z][a-zA-Z'-]{1,30})\b")
# capitalised words after "I'm"/"it's" that are not names
_NOT_NAMES = frozenset({"Sorry", "Not", "Just", "Here", "Fine", "Good", "Interested", "Busy"})


def propose_facts(text: str) -> dict[str, object]:
    """Facts the built-in drafter reads in a text: the customer's name when they give it."""
    match = _NAME.search(text[:WORK_CHARS])
    if match is None or match.group(1) in _NOT_NAMES:
        return {}
    return {"name": match.group(1)}
