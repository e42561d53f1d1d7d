"""What a customer's text means: its intent, a wish for an appointment, a polite no,
confusion, or a wish to stop hearing from the business (pure, built-in)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from dateparser.date import DateDataParser
from dateparser.search import search_dates

from .intents import Intent, detect_intent
from .sms_text import bounded


class AppointmentIntent(StrEnum):
    NONE = "none"
    VAGUE = "vague"
    SPECIFIC = "specific"


class UnderstandingSource(StrEnum):
    BUILTIN = "builtin"
    MODEL = "model"


@dataclass(frozen=True)
class Understanding:
    """What one inbound text means; stored on the message as JSON."""

    intent: str  # one of drafting.base.Intent
    appointment_intent: AppointmentIntent
    appointment_at: str | None  # ISO 8601 with offset, in the business zone, only for SPECIFIC
    soft_no: bool
    confused: bool
    opt_out_request: bool
    source: UnderstandingSource

    def to_json(self) -> str:
        """A JSON object with one key per field."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Understanding:
        """The understanding `to_json` wrote; ValueError on anything else."""
        data: Any = json.loads(text)
        if not isinstance(data, dict) or set(data) != _FIELDS:
            raise ValueError(f"an understanding is a JSON object with keys {sorted(_FIELDS)}")
        for flag in ("soft_no", "confused", "opt_out_request"):
            if not isinstance(data[flag], bool):
                raise ValueError(f"{flag} must be true or false")
        if data["intent"] not in set(Intent):
            raise ValueError(f"unknown intent {data['intent']!r}")
        at = data["appointment_at"]
        if at is not None and (not isinstance(at, str) or _aware(at) is None):
            raise ValueError("appointment_at must be null or ISO 8601 with an offset")
        appointment = AppointmentIntent(data["appointment_intent"])
        if (appointment is AppointmentIntent.SPECIFIC) != (at is not None):
            raise ValueError("appointment_at is given exactly when appointment_intent is specific")
        return cls(
            intent=data["intent"],
            appointment_intent=appointment,
            appointment_at=at,
            soft_no=data["soft_no"],
            confused=data["confused"],
            opt_out_request=data["opt_out_request"],
            source=UnderstandingSource(data["source"]),
        )


_FIELDS = {
    "intent",
    "appointment_intent",
    "appointment_at",
    "soft_no",
    "confused",
    "opt_out_request",
    "source",
}


def _aware(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _normal(text: str) -> str:
    """Lower case, curly apostrophes straight, runs of space and letters repeated 3+ times cut."""
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    lowered = re.sub(r"(\w)\1{2,}", r"\1\1", lowered)  # "pleeeease" -> "pleease"
    return re.sub(r"\s+", " ", lowered).strip()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text)


def _any(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(rf"(?<![\w']){pattern}(?![\w'])", text) for pattern in patterns)


# -- opt-out in plain words: a wish to stop hearing from the business

_CONTACT_VERBS = r"(?:text|txt|tex|sms|messag|msg|mesag|contact|call|email|spam|bother|send|hit)\w*"
_OPT_OUT_PATTERNS = (
    rf"stop {_CONTACT_VERBS}",
    rf"(?:quit|cease) {_CONTACT_VERBS}",
    rf"(?:don't|dont|do not|never|pls don't|stop) (?:ever )?{_CONTACT_VERBS} (?:me|us|this number)",
    rf"(?:don't|dont|do not) {_CONTACT_VERBS} (?:me )?(?:again|anymore|any more)",
    r"no (?:more|further) (?:texts|txts|messages|msgs|sms|contact|calls|spam|emails)",
    r"(?:take|get|remove|delete|drop|scratch|strike) (?:me|my (?:number|name|phone|#|details|info))"
    r"(?: \w+)? (?:off|from|out of)",
    r"(?:remove|delete|erase|lose|forget) "
    r"(?:me|my (?:number|name|phone number|phone|#|details|info|data))",
    r"unsub\w*",
    r"opt(?:ing)? ?(?:me )?out",
    r"leave me alone",
    r"(?:go away|piss off|buzz off)",
    r"(?:don't|dont|do not) want (?:any )?(?:more |these |your )?(?:texts|messages|msgs|sms)",
    r"(?:not|no longer|don't|dont) (?:want|wish) to (?:be contacted|hear from you|receive)",
    r"(?:put|add) me on (?:your|the) do not (?:contact|call|text) list",
    r"(?:stop|end) (?:all |these |the )?(?:texts|txts|messages|msgs|sms|spam)",
    r"(?:no me|ya no me|no) (?:escrib|mand|envi|contact|llam)\w*",
    r"(?:keine|nicht mehr) (?:sms|nachrichten|schreiben)",
    r"(?:ne m'écrivez plus|arrêtez de m'écrire|plus de messages|arrêtez les messages)",
)
# a text of only these words around "stop" asks to stop ("STOP PLEASE", "pls stop it now")
_STOP_FILLERS = frozenset(
    "stop please pls plz plese now it already just all ok okay thanks thx thank you "
    "seriously omg god jeez".split()
)
_STOP_WORDS = frozenset({"stop", "stahp", "basta", "alto", "arrête", "arrete"})


def _opt_out(text: str) -> bool:
    words = _words(text)
    if words and any(word in _STOP_WORDS for word in words):
        if all(word in _STOP_FILLERS or word in _STOP_WORDS for word in words):
            return True
    return _any(_OPT_OUT_PATTERNS, text)


# -- a polite no that is not an opt-out

_SOFT_NO_PATTERNS = (
    r"no thanks?",
    r"no thank you",
    r"no thx",
    r"no ty",
    r"no tks",
    r"nah(?: thanks| thx| i'm good| im good)?",
    r"not (?:right )?now",
    r"not (?:at|for) the moment",
    r"not at this (?:time|moment|point)",
    r"not this (?:time|week|month|year)",
    r"not today",
    r"not yet",
    r"maybe (?:later|another time|next (?:time|week|month|year)|some other time)",
    r"(?:another|some other) time",
    r"not (?:really )?interested",
    r"no longer interested",
    r"(?:i'm|im|i am|we're|were|we are) (?:good|ok|okay|fine|all set|set)"
    r"(?: for now| thanks| thx)?$",
    r"(?:i'll|ill|i will|we'll|we will) pass",
    r"pass for now",
    r"not for (?:me|us)",
    r"(?:i'll|ill|we'll) (?:think about it|let you know)",
    r"no (?:gracias|merci|danke)",
    r"non merci",
    r"nein danke",
    r"nope",
    r"don't need (?:it|that|anything|one)",
    r"no need",
    r"(?:i|we) (?:already )?(?:have|found|got) (?:someone|somebody|one|a guy|another)",
    r"going with (?:someone|another|a different)",
    r"(?:i'm|im|i am) going to hold off",
    r"hold off",
    r"(?:changed|change) (?:my|our) mind",
)
# "no" as the whole answer, a polite refusal; "no problem" and the like are not one
_BARE_NO = frozenset({"no", "nah", "nope", "no no", "naw", "no sorry", "sorry no"})


def _soft_no(text: str) -> bool:
    words = " ".join(_words(text))
    return words in _BARE_NO or _any(_SOFT_NO_PATTERNS, text)


# -- the customer does not follow

_CONFUSED_PATTERNS = (
    r"who (?:is|'s) (?:this|that|it)",
    r"who's this",
    r"whos this",
    r"who dis",
    r"who are (?:you|u)",
    r"who r u",
    r"wrong (?:number|person|#)",
    r"(?:don't|dont|do not|didn't|didnt) (?:understand|get it|follow|know what you mean)",
    r"i'm confused",
    r"im confused",
    r"confused",
    r"what (?:is|'s) this (?:about|for|regarding)",
    r"what (?:is|'s) this\?",
    r"what are you talking about",
    r"what do you mean",
    r"wdym",
    r"what does that mean",
    r"not sure what (?:you mean|this is)",
    r"do i know you",
    r"(?:i )?never (?:signed up|asked|contacted you|gave you)",
    r"how did you get (?:my|this) (?:number|#)",
    r"who gave you (?:my|this) number",
    r"no idea what (?:this|you)",
    r"(?:sorry|um+|uh+),? who",
    r"qui[ée]n (?:es|eres)",
    r"no entiendo",
    r"huh",
    r"que\?",
)
_BARE_CONFUSED = frozenset({"what", "wat", "wut", "who", "huh", "eh", "sorry", "que", "qué"})


def _confused(text: str) -> bool:
    words = _words(text)
    if not words:
        return "?" in text  # "??"
    if len(words) <= 2 and all(word in _BARE_CONFUSED for word in words) and "?" in text:
        return True
    return _any(_CONFUSED_PATTERNS, text)


# -- a wish for an appointment, and the time asked for

_INTEREST_PATTERNS = (
    r"interested",
    r"(?:book|booking|schedul\w*|appointment|appt|reserv\w*)",
    r"(?:can|could|may) (?:i|we) (?:come|stop|drop|swing|pop) (?:in|by|over)",
    r"come (?:in|by) (?:sometime|some time|soon|next|this|one)",
    r"when (?:are|r) (?:you|u) (?:free|available)",
    r"when (?:can|could) (?:i|we|you)",
    r"what (?:times|days|slots) (?:do you have|are|work)",
    r"(?:any|got) (?:openings|availability|slots|spots)",
    r"(?:set up|setup) (?:a|an|some) (?:time|call|visit|meeting)",
    r"(?:sometime|some time|anytime|any time) (?:next|this|soon)",
    r"(?:i'm|im|i am) free",
    r"(?:works|work) for me",
    r"sounds good",
)
_HOURS_QUESTION = (
    r"(?:are|r) (?:you|u|y'all|yall) open",
    r"open (?:on|at|until|till|til|late|today|tomorrow|this)",
    r"what time do (?:you|u) (?:open|close|stop|start|serve|finish)",
    r"(?:when|what time) (?:do|does|are) (?:you|u|the \w+) (?:open|close|closing)",
    r"hours",
    r"closing time",
)
# words dateparser reads as dates that customers mean otherwise ("we" is Wednesday, "may" May)
_NOT_DATES = frozenset(
    {"we", "may", "now", "second", "sec", "a second", "in a second", "mon", "sun", "sat", "march"}
)
# a bare hour after these words is a time of day ("at 3"), which dateparser reads as a month
_BARE_HOUR = re.compile(
    r"(?<![\w:])(at|@|around|by|for|about|say|like) (1[0-2]|[1-9])"
    r"(?![\w:.,/]|\s*(?:am|pm|a\.m|p\.m|o'clock))"
)


def _with_half_day(match: re.Match[str]) -> str:
    """ "at 3" as a business hour: 8 to 11 in the morning, 12 to 7 in the afternoon."""
    hour = int(match.group(2))
    return f"{match.group(1)} {hour}{'am' if 8 <= hour <= 11 else 'pm'}"


DATE_SETTINGS_BASE = {"PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": True}


def _moments(text: str, received_at: datetime, zone: ZoneInfo) -> list[tuple[datetime, bool]]:
    """The future moments named in `text`, each with whether it names a time of day."""
    local = received_at.astimezone(zone)
    settings: dict[str, Any] = {
        **DATE_SETTINGS_BASE,
        "RELATIVE_BASE": local.replace(tzinfo=None),
        "TIMEZONE": zone.key,
    }
    prepared = _BARE_HOUR.sub(_with_half_day, text)
    found = search_dates(prepared, languages=["en"], settings=settings) or []
    parser = DateDataParser(languages=["en"], settings={**settings, "RETURN_TIME_AS_PERIOD": True})
    moments = []
    for phrase, moment in found:
        if phrase.strip().lower() in _NOT_DATES or not re.search(r"[a-z]{2}|\d", phrase.lower()):
            continue
        data = parser.get_date_data(phrase)
        timed = data.period == "time"
        moment = moment.astimezone(zone)
        if timed and moment < local and moment.date() == local.date():
            moment += timedelta(days=1)  # "3pm" said at 4pm means tomorrow's
        if local - timedelta(hours=1) <= moment <= local + timedelta(days=366):
            moments.append((moment, timed))
    return moments


def _appointment(
    text: str, received_at: datetime, zone: ZoneInfo
) -> tuple[AppointmentIntent, str | None]:
    if _any(_HOURS_QUESTION, text):
        return AppointmentIntent.NONE, None
    moments = _moments(text, received_at, zone)
    timed = [moment for moment, has_time in moments if has_time]
    if timed:
        return AppointmentIntent.SPECIFIC, timed[0].isoformat()
    if moments or _any(_INTEREST_PATTERNS, text):
        return AppointmentIntent.VAGUE, None
    return AppointmentIntent.NONE, None


def understand(text: str, received_at: datetime, zone: ZoneInfo) -> Understanding:
    """The built-in understanding of a customer's text received at `received_at` (aware).

    Reads the first WORK_CHARS characters. Pure, but dateparser takes tens of milliseconds
    on a long text: callers on the event loop run it in a thread.
    """
    head = bounded(text)
    normal = _normal(head)
    opt_out = _opt_out(normal)
    soft_no = not opt_out and _soft_no(normal)
    confused = not opt_out and _confused(normal)
    if opt_out or soft_no:
        appointment, at = AppointmentIntent.NONE, None
    else:
        appointment, at = _appointment(normal, received_at, zone)
    return Understanding(
        intent=detect_intent(head),
        appointment_intent=appointment,
        appointment_at=at,
        soft_no=soft_no,
        confused=confused,
        opt_out_request=opt_out,
        source=UnderstandingSource.BUILTIN,
    )
