"""The built-in drafter: offline, from the business profile, the FAQ, intent keywords, templates."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..intents import Intent, detect_intent, has_word
from ..message_templates import DEFAULTS
from ..models import Sentiment
from ..profile import Profile
from ..sms_text import WORK_CHARS
from ..understanding import Understanding, understand
from . import answers
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
    """POSITIVE, NEUTRAL or NEGATIVE from VADER's compound score; UNKNOWN without words.

    A complaint is never POSITIVE: VADER scores "want" as a positive word, so "I want a
    refund now" alone came out happy.
    """
    if not re.search(r"\w", text):
        return Sentiment.UNKNOWN
    compound = _analyzer().polarity_scores(text)["compound"]
    if compound >= POSITIVE_AT:
        return Sentiment.NEUTRAL if detect_intent(text) is Intent.COMPLAINT else Sentiment.POSITIVE
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


FAQ_CONFIDENCE = 0.85
PARTLY_CONFIDENCE = 0.4  # some of the question answered, the rest to be checked
TOPIC_INTENTS = {"booking": Intent.BOOKING, "price": Intent.PRICE, "hours": Intent.HOURS}


class BuiltinDrafter:
    """Answers from the business profile and the FAQ, otherwise from a template.

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


def faq_source(entry: FaqEntry) -> str:
    return f"FAQ: {entry.keywords[0]}"


@dataclass(frozen=True)
class _Reply:
    """A built-in reply: where its facts come from and the template it came from, if any."""

    intent: Intent
    body: str
    confidence: float
    source: str | None = None
    template_key: str | None = None


def customer_name(context: DraftContext) -> str | None:
    """The customer's name: the one this text gives, else the one the conversation's facts hold."""
    name = propose_facts(context.latest).get("name") or context.facts.get("name")
    return name if isinstance(name, str) and name.strip() else None


def _holding(context: DraftContext, lines: dict[str, str], tone: str) -> tuple[str, str | None]:
    """The holding reply and its template key: the reviewers' `Fallback:` line, else the
    fallback template, else the tone's own wordings (which Regenerate alternates)."""
    if own := lines.get("fallback"):
        return own, None
    key = TEMPLATE_KEYS[Intent.OTHER]
    if template := context.templates.get(key):
        return template, key
    return answers.holding(tone, context.variant), None


def _from_profile(
    context: DraftContext, profile: Profile, entry: FaqEntry | None, lines: dict[str, str]
) -> _Reply | None:
    """The reply answering from the FAQ and the profile; None when the text asks nothing of
    them (a greeting, a thank-you: the templates answer)."""
    text = context.latest
    topics = answers.topics_in(text, weak=entry is None)
    if entry is not None:
        # a topic the FAQ entry's own keywords asked about is the FAQ's to answer
        hits = [k for k in entry.keywords if has_word(text.lower(), k)]
        topics = [t for t in topics if not any(answers.topics_in(k) == [t] for k in hits)]
    received = context.received_at or datetime.now(UTC)
    found, missing = answers.answer(profile, text, topics, received, context.variant)
    for question in answers.questions_in(text):
        faq_asked = entry is not None and any(has_word(question.lower(), k) for k in entry.keywords)
        if faq_asked or answers.topics_in(question, weak=entry is None):
            continue
        if not answers.follows_up(question, topics, profile.services):
            missing.append("other")  # "Do you do perms?" beside "Are you open saturday?"
            break
    parts = ([entry.answer] if entry is not None else []) + [a.text for a in found]
    sources = ([faq_source(entry)] if entry is not None else []) + [a.source for a in found]
    confidences = ([FAQ_CONFIDENCE] if entry is not None else []) + [a.confidence for a in found]
    intent = (
        Intent.FAQ if entry is not None else TOPIC_INTENTS.get(next(iter(topics), ""), Intent.OTHER)
    )
    template_key = None
    if parts and missing:
        held, template_key = _holding(context, lines, profile.tone)
        body = " ".join(parts) + " " + held
        confidence = min(PARTLY_CONFIDENCE, *confidences)
    elif parts:
        body, confidence = " ".join(parts), min(confidences)
    elif missing or answers.is_question(text):
        # never invent: what the profile and FAQ do not say, a person answers
        held, template_key = _holding(context, lines, profile.tone)
        return _Reply(intent, held, answers.HOLDING_CONFIDENCE, template_key=template_key)
    else:
        return None
    body = answers.dress(body, profile.tone, customer_name(context), context.variant)
    return _Reply(intent, body, confidence, " · ".join(dict.fromkeys(sources)), template_key)


def _template(context: DraftContext, lines: dict[str, str]) -> _Reply:
    intent = detect_intent(context.latest)
    template = intent if intent in TEMPLATES else Intent.OTHER
    confidence = 0.6 if template is intent and intent is not Intent.OTHER else 0.3
    own = lines.get("greeting" if template is Intent.GREETING else "fallback")
    if own and template in (Intent.GREETING, Intent.OTHER):
        return _Reply(intent, own, confidence)  # the reviewers' own line, not a template
    key = TEMPLATE_KEYS.get(template, template.value)
    return _Reply(intent, _text(context, template), confidence, template_key=key)


def draft_offline(context: DraftContext) -> DraftResult:
    """The built-in draft for `context`; pure, so other drafters can fall back to it."""
    text = context.latest
    lines = directive_lines(context.directives)
    profile = context.profile
    if context.missed_call:
        reply = _Reply(
            Intent.MISSED_CALL,
            _text(context, Intent.MISSED_CALL),
            0.9,
            template_key=TEMPLATE_KEYS[Intent.MISSED_CALL],
        )
    elif not text.strip() and not context.has_media:
        raise DraftUnavailable("the message has no text to answer")
    else:
        entry = best_faq(text, context.faq)
        answered = _from_profile(context, profile, entry, lines) if profile is not None else None
        if answered is not None:
            reply = answered
        elif entry is not None:
            reply = _Reply(Intent.FAQ, entry.answer, FAQ_CONFIDENCE, faq_source(entry))
        else:
            reply = _template(context, lines)
    body = reply.body
    sign_off = lines.get("sign-off") or (profile.sign_off if profile is not None else None)
    if sign_off:
        body = f"{body}\n{sign_off}"
    return DraftResult(
        body=body,
        confidence=reply.confidence,
        intent=reply.intent,
        sentiment=sentiment_of(text),
        findings=check_draft(body, context.known_text),
        drafter=NAME,
        template_key=reply.template_key,
        facts=propose_facts(text),
        understanding=builtin_understanding(context, reply.intent),
        source=reply.source,
    )


# "this is Ana", "my name is Ana", "I'm Ana": a capitalised word right after the phrase, and
# the clause ends there or goes on as after a name ("this is Ana from 4B", "I'm Ana and …")
_NAME = re.compile(
    r"\b(?i:this is|my name is|my name's|i am|i'm|it's)\s+([A-Z][a-zA-Z'-]{1,30})\b"
    r"(?!'s)(?=\s*(?:$|[^\w\s']|[A-Z]|(?i:from|and|again|here|calling|texting)\b))"
)
# capitalised words after "I'm"/"it's" that are not names
_NOT_NAMES = frozenset(
    {"Sorry", "Not", "Just", "Here", "Fine", "Good", "Interested", "Busy", "Me", "Ok", "Okay"}
    | {"Back", "Home", "Outside", "Late", "Ready", "Done", "Urgent", "Great", "Happy", "Free"}
    | {"Today", "Tomorrow", "Tonight", *calendar.day_name}
)


def propose_facts(text: str) -> dict[str, object]:
    """Facts the built-in drafter reads in a text: the customer's name when they give it.
    A word in capitals ("I'M LATE") is no name."""
    match = _NAME.search(text[:WORK_CHARS])
    if match is None:
        return {}
    name = match.group(1)
    if name in _NOT_NAMES or name.isupper():
        return {}
    return {"name": name}
