"""What a customer's text means: its intent, a wish for an appointment, a polite no,
confusion, or a wish to stop hearing from the business (pure, built-in)."""

from __future__ import annotations

import calendar
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from dateparser.date import DateDataParser
from dateparser.languages import default_loader
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


def _folded(text: str) -> str:
    """`text` without its accents ("envíen" as "envien", "arrêtez" as "arretez"): NFKD
    decomposition with the combining marks dropped. The flags read it, so a text means the
    same with its accents or without them."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text)


def _clauses(text: str) -> list[list[str]]:
    """The words of each clause of `text` (split at . , ; ! ? and dashes), empty ones left out."""
    return [words for part in re.split(r"[.,;!?\u2014-]+", text) if (words := _words(part))]


@cache
def _whole_words(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression matching any of `patterns` as whole words, compiled once."""
    return re.compile("|".join(rf"(?<![\w'])(?:{pattern})(?![\w'])" for pattern in patterns))


def _any(patterns: tuple[str, ...], text: str) -> bool:
    return _whole_words(patterns).search(text) is not None


# -- opt-out in plain words: a wish to stop hearing from the business

_CONTACT_VERBS = r"(?:text|txt|tex|sms|messag|msg|mesag|contact|call|email|spam|bother|send|hit)\w*"
# Spanish stems; after "no me" a request takes the subjunctive ("no me escriban", "no me
# llamen"), and the indicative asks for nothing: "no me escribieron" (they never wrote), "no
# me llaman" (they do not call me, a complaint)
_ES_CONTACT = r"(?:escrib|mand|envi|contact|llam|molest)"
_ES_ASKED = r"(?:escrib(?:an|as|a)|(?:mand|envi|contact|llam|molest)(?:en|es|e))"
_FR_CONTACT = r"(?:ecri|envoy|contact|appel|harcel|spam)\w*"
# a French request has no subject ("ne m'appelez plus"); "il ne m'appelle plus" says what
# happens
_FR_NO_SUBJECT = "".join(
    rf"(?<!\b{subject} )" for subject in "je tu il elle on nous vous ils elles personne".split()
)
_OPT_OUT_PATTERNS = (
    rf"(?:stop|quit|cease|enough)(?: with)? (?:the |these |your |all )?{_CONTACT_VERBS}",
    rf"(?:don't|dont|do not|never|pls don't|stop) (?:ever )?{_CONTACT_VERBS} (?:me|us|this number)",
    rf"(?:don't|dont|do not|never) {_CONTACT_VERBS}(?: me| us)? (?:again|anymore|any more)",
    rf"(?:can|could|would|will) (?:you|u) (?:please |pls )?not {_CONTACT_VERBS} (?:me|us)",
    r"no (?:more|further) (?:texts|txts|messages|msgs|sms|contact|calls|spam|emails)",
    r"(?:take|get|remove|delete|drop|scratch|strike) "
    r"(?:me|us|(?:my|this) (?:number|name|phone|#|details|info))"
    r"(?: \w+)? (?:off|from|out of)",
    r"(?:want|wanna|like) (?:to be )?(?:off|out of|removed from) (?:this|your|the) (?:list|texts)",
    r"(?:remove|delete|erase|lose|forget) "
    r"(?:me|us|(?:my|this) (?:number|name|phone number|phone|#|details|info|data))",
    r"(?:asked|told) (?:you|u) (?:to stop|not to)",
    r"unsub\w*",
    r"opt(?:ing)? ?(?:me )?out",
    r"leave me alone",
    r"(?:go away|piss off|buzz off|fuck off|f off)",
    r"(?:don't|dont|do not) want (?:any )?(?:more |these |your )?(?:texts|messages|msgs|sms)",
    r"(?:not|no longer|don't|dont) (?:want|wish) to (?:be contacted|hear from you|receive)",
    r"(?:put|add) me on (?:your|the) do not (?:contact|call|text) list",
    r"(?:stop|end) (?:all |these |the )?(?:texts|txts|messages|msgs|sms|spam)",
    # Spanish, read folded (_folded, so "envien" is "envíen" too): "no me escriban más",
    # "no me manden mensajes"; "no me envíen la factura todavía" refuses one thing only
    rf"(?:ya )?no (?:me |nos )?(?:(?:vuelvan|vuelvas|vuelva) a {_ES_CONTACT}\w*|"
    rf"{_ES_ASKED})(?: (?:mas|nunca|jamas))*"
    r"(?= (?:mas )?(?:mensajes|sms|textos|whatsapps?|promociones|publicidad)|"
    r" por favor| porfa| gracias|\s*(?:[.!?;]|$))",
    rf"(?:deja|dejen|dejad|para|paren|parad) de {_ES_CONTACT}\w*",
    r"(?:keine|nicht mehr) (?:sms|nachrichten|schreiben)",
    # French: "ne m'écrivez plus", "arrêtez de m'envoyer des messages"
    rf"{_FR_NO_SUBJECT}ne (?:m'|nous )?{_FR_CONTACT} plus",
    rf"(?:arretez|arrete|cessez|cesse) de (?:m'|me |nous )?{_FR_CONTACT}",
    r"(?:plus de messages|(?:arretez|cessez) (?:les|vos) (?:messages|sms|textos))",
)
# a text of only these words around "stop" asks to stop ("STOP PLEASE", "pls stop it now",
# "I said stop")
_STOP_FILLERS = frozenset(
    "stop please pls plz plese now it already just all ok okay thanks thx thank you "
    "seriously omg god jeez i said ya por favor porfa svp".split()
)
# "stopp" is what _normal leaves of "STOPPPP"; "arrete" is "arrête" folded
_STOP_WORDS = frozenset({"stop", "stopp", "stahp", "basta", "alto", "arrete", "arretez"})


def _only_stop(words: list[str]) -> bool:
    return any(word in _STOP_WORDS for word in words) and all(
        word in _STOP_FILLERS or word in _STOP_WORDS for word in words
    )


# "don't … texts", "no longer want … messages": a refusal, then within a few words a way we
# reach the customer; "don't call, text me instead" asks for another way, not for silence
_REFUSALS = ("don't", "dont", "do not", "never", "no longer", "no more", "stop", "quit", "cease")
_REACH = (
    r"(?:text|txt|sms|messag|msg|contact|call|email|spam|notif|promo|marketing|"
    r"subscri|repl|alert)\w*|reach(?:ing)? out|hear(?:ing)? from (?:you|u|y'all)"
)
_REFUSAL_NEAR_REACH = re.compile(
    rf"(?<![\w'])(?:{'|'.join(_REFUSALS)})(?: [\w']+){{0,5}}? (?:{_REACH})(?![\w'])"
)
_CANCEL = re.compile(
    r"(?<![\w'])(?:cancel|end|stop) (?:my |the |this |these |your |all )?"
    r"(?:subscription|texts|messages|alerts|sms|marketing)"
)


# a question about us having stopped ("why did you stop texting back?") asks for more,
# and so does missing them ("I stopped getting your texts")
_WHY_STOPPED = re.compile(
    r"(?<![\w'])(?:(?:why|did) (?:did )?(?:you|u|y'all) (?:stop|quit|never)|"
    r"stopped (?:getting|receiving))"
)


# a wish to be rid of our texts, said any way: a word for ending or removing, and a word for
# our texts or the customer's place on our list, in one sentence ("I would appreciate it if
# you stopped sending me text messages", "how do I make these messages stop")
_ENDING = re.compile(
    r"(?<![\w'])(?:stop(?:ped|ping|s)?|remov\w*|unsubscri\w*|quit|cease|enough|done with|"
    r"(?:doesn't|does not|don't|do not|dont) want|no more|no longer)(?![\w'])"
)
_OUR_TEXTS = re.compile(
    r"(?<![\w'])(?:texts|text messages|txts|messages|msgs|sms|(?:your|this|contact|"
    r"mailing|text|sms) list)(?![\w'])"
)
# ... and a number taken off a list ("take my husband's number off")
_NUMBER_OFF = re.compile(r"(?<![\w'])number (?:off|out)(?![\w'])|(?:take|get) (?:\w+ ){0,3}off")


def _ending_our_texts(text: str) -> bool:
    for sentence in re.split(r"(?<=[.!?;\n])\s+", text):
        if _ENDING.search(sentence) and _OUR_TEXTS.search(sentence):
            return True
        if _NUMBER_OFF.search(sentence) and "number" in sentence:
            return True
    return False


# a plea to be kept ("don't take me off the list", "don't delete me from the waitlist")
# says nothing about stopping; it is read as if it were not there
_KEEP_ME = re.compile(
    r"(?<![\w'])(?:don't|dont|do not|never) (?:take|get|remove|delete|drop|erase|unsubscribe) "
    r"(?:me|us|my (?:number|name|phone|details|info))(?![\w'])"
)


# when or where not to reach the customer ("don't text me after 8pm", "don't call me at
# work") says how to contact them, not whether, and names no time to book: it too is read
# as if it were not there, to the end of its clause
_WHEN_OR_WHERE = re.compile(
    rf"(?<![\w'])(?:don't|dont|do not|never|not to|stop) {_CONTACT_VERBS}"
    r"(?: me| us| this number)?(?: (?:any )?(?:texts|text messages|messages|calls))? "
    r"(?:(?:after|before|past|between) (?:\d|noon|midnight|dark|(?:business |office )?hours|"
    r"work|school|lunch|dinner|bedtime)|"
    r"(?:at|while at) (?:work|night|the office|school|lunch|dinner|\d|my (?:work|job))|"
    r"during (?:the day|the week|work|business|office|school|the night|lunch|dinner)|"
    r"on (?:weekends|the weekend|(?:mon|tues|wednes|thurs|fri|satur|sun)days?|my work)|"
    r"(?:so|this|that|too) (?:early|late)|in the (?:morning|evening|night|middle of the night))"
    r"(?:(?! (?:and|but) )[^,.;!?\n])*"
)


def _opt_out(text: str) -> bool:
    if _WHY_STOPPED.search(text):
        return False
    text = _WHEN_OR_WHERE.sub(" ", _KEEP_ME.sub(" ", text))
    if "instead" not in text and (_REFUSAL_NEAR_REACH.search(text) or _CANCEL.search(text)):
        return True
    if _ending_our_texts(text):
        return True
    clauses = _clauses(text)
    # the whole text, or its last clause, is a plea to stop ("enough with the texts, stop");
    # a first "Stop!" followed by more is surprise ("Stop! That price is amazing")
    if clauses and (_only_stop(_words(text)) or _only_stop(clauses[-1])):
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
    r"not (?:right |for )?now",
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
    r"(?: for now)?(?: thanks| thx| thank you)?$",
    r"(?:i'll|ill|i will|we'll|we will) pass",
    r"(?:going to|gonna|have to|got to|gotta) pass",
    r"pass (?:this time|for now|on (?:this|that|it))",
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
    r"(?:maybe|perhaps|possibly) (?:later|another|some other|next|in the future|down the road)\w*",
    r"(?:decided|deciding|chosen|choose) (?:not|against)",
    r"not (?:going|go) ahead",
    r"(?:say|saying) no",
    r"(?:have|got|need) to (?:say no|decline|pass)",
    r"decline",
    r"(?:i|we) (?:don't|dont|do not) think so",
    r"(?:i'd|id|we'd|i would|we would) rather not",
    r"not (?:keen|looking|needed|necessary)",
    r"no (?:for now|interest)",
    r"(?:we'll|well|i'll|ill) skip",
    r"probably not",
)
# "no" as the whole answer, a polite refusal; "no problem" and the like are not one
_BARE_NO = frozenset(
    {"no", "nah", "nope", "no no", "naw", "no sorry", "sorry no", "not really", "no not really"}
)


def _soft_no(text: str) -> bool:
    words = " ".join(_words(text))  # punctuation aside: "we're all set, thanks"
    return words in _BARE_NO or _any(_SOFT_NO_PATTERNS, words)


# -- the customer does not follow

_CONFUSED_PATTERNS = (
    r"who (?:is|'s) (?:this|that|it|texting|messaging|sending)",
    r"is this (?:a )?(?:scam|spam|legit|real|a bot|a robot|automated)",
    r"(?:are|r) (?:you|u) (?:a )?(?:real person|real|human|bot|robot)",
    r"(?:don't|dont|do not) (?:recall|remember) (?:signing|giving|asking|subscribing|ordering)",
    r"not sure who (?:this|you|u)",
    r"(?:didn't|didnt|did not|never) (?:order|book|buy|make|schedule)\w* (?:anything|any)",
    r"(?:which|what) (?:company|business|store|shop|place) (?:is|'s) (?:this|that)",
    r"what (?:is|'s) this$",
    r"(?:didn't|didnt|did not|never) (?:request|ask for|sign up|subscribe|opt in)",
    r"(?:don't|dont|do not) know (?:what|who) (?:this|you)",
    r"(?:i'm|im|i am) lost",
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
    r"(?:i )?never (?:signed up|gave you)",
    r"how did you get (?:my|this) (?:number|#)",
    r"who gave you (?:my|this) number",
    r"no idea what (?:this|you)",
    r"(?:sorry|um+|uh+),? who",
    r"quien (?:es|eres)",
    r"no entiendo",
    r"huh",
    r"que\?",
)
_BARE_CONFUSED = frozenset({"what", "wat", "wut", "who", "huh", "eh", "sorry", "que"})


def _confused(text: str) -> bool:
    if not _words(text):
        return "?" in text  # "??"
    # a question that is only "what?" or "who?", alone or closing the text ("I'm lost, what?")
    last = _clauses(text)[-1]
    if "?" in text and len(last) <= 2 and all(word in _BARE_CONFUSED for word in last):
        return True
    return _any(_CONFUSED_PATTERNS, text)


# -- a wish for an appointment, and the time asked for

_INTEREST_PATTERNS = (
    r"interested",
    r"(?:book|booking|schedul\w*|appointment|appt|reserv\w*)",
    r"(?:can|could|may) (?:i|we) (?:come|stop|drop|swing|pop)(?: in| by| over)?",
    r"(?:anything|something|any slots?|any spots?|any times?) (?:open|available|free)",
    r"come (?:in|by) (?:sometime|some time|soon|next|this|one)",
    r"when (?:are|r) (?:you|u) (?:free|available)",
    r"when (?:can|could) (?:i|we|you)",
    r"what (?:times|days|slots) (?:do you have|are|work)",
    r"(?:any|got) (?:openings|availability|slots|spots)",
    r"(?:set up|setup) (?:a|an|some) (?:time|call|visit|meeting)",
    r"(?:sometime|some time|anytime|any time) (?:next|this|soon)",
    r"(?:i'm|im|i am) free",
    r"(?:works?|suits?) (?:better |best )?for (?:me|us)",
    r"keen",
    r"count (?:me|us) in",
    r"(?:i'd|id|i would|we'd|we would) (?:like|love) to (?:come|book|visit|stop|pop|drop)",
    r"what(?:'s| is) (?:free|available|open)",
    r"(?:end|start|beginning) of (?:the |next )?(?:week|month)",
    r"weekend",
    r"would be (?:best|great|good|ideal|perfect)",
    r"sounds good",
)
_HOURS_QUESTION = (
    r"(?:are|r) (?:you|u|y'all|yall) open",
    r"(?<!anything )(?<!something )open (?:on|at|until|till|til|late|today|tomorrow|this)",
    r"what time do (?:you|u) (?:open|close|stop|start|serve|finish)",
    r"(?:when|what time) (?:do|does|are) (?:you|u|the \w+) (?:open|close|closing)",
    r"hours",
    r"closing time",
    r"(?:you're|youre|you are|are you|r u|we're|is it|is the \w+) closed",
    r"closed (?:on|at|for|until|till)",
)
# words dateparser reads as dates that customers mean otherwise ("we" is Wednesday, "may" May)
_NOT_DATES = frozenset(
    {"we", "may", "now", "second", "sec", "a second", "in a second", "mon", "sun", "sat"}
    | {"march", "today", "by today"}
)
# durations ("waiting 20 minutes") are not moments to meet at
_DURATION_WORDS = frozenset(
    {"minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs", "seconds", "ago"}
)
# a text about the past names no appointment ("we were there on Saturday")
_PAST = (
    r"was",
    r"were",
    r"went",
    r"came",
    r"called",
    r"had",
    r"did",
    r"last",
    r"yesterday",
    r"ago",
    r"stopped",
)
# SMS spellings dateparser does not know
_SHORTHAND = {"tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow", "2moro": "tomorrow"}
_SHORTHAND_WORD = re.compile(r"(?<![\w'])(" + "|".join(_SHORTHAND) + r")(?![\w'])")
# a bare hour after these words is a time of day ("at 3"), which dateparser reads as a month;
# so is "4:15" without am or pm, which it reads as the small hours. Not when more of the
# number, am or pm (dateparser reads those as they are), or the people it counts follow ("a
# table for 6 people at 7:30")
_PEOPLE_AFTER = (
    r"(?![\w:.,/]|\s*(?:am|pm|a\.m|p\.m|o'clock)"
    r"|\s+(?:people|persons|person|ppl|pax|guests|adults|kids|children|of us|us)(?![\w']))"
)
_BARE_HOUR = re.compile(
    r"(?<![\w:])(?:(?P<after>at|@|around|by|for|about|say|like) (?P<hour>1[0-2]|[1-9])"
    r"|(?P<clock>(?P<clock_hour>1[0-2]|[1-9]):[0-5]\d))" + _PEOPLE_AFTER
)


def _with_half_day(match: re.Match[str]) -> str:
    """ "at 3" as a business hour: 8 to 11 in the morning, 12 to 7 in the afternoon."""
    hour = int(match["hour"] or match["clock_hour"])
    half = "am" if 8 <= hour <= 11 else "pm"
    if match["clock"]:
        return f"{match['clock']}{half}"
    return f"{match['after']} {hour}{half}"


# a number that counts people, not hours: after "a table for" or "party of" always, and a
# bare "for 4" when the text names its time elsewhere ("book for 2 at 7pm"); alone, "can I
# book for 4?" asks for 4 o'clock. dateparser would read the number into the date beside it
# ("4 tomorrow at 7pm"), so each gets the word "people" after it.
PARTY_SIZE = re.compile(
    r"(?<![\w:])(?:table|party|group|seats?|spots?|places?) (?:for|of) \d{1,2}" + _PEOPLE_AFTER,
    re.IGNORECASE,
)
_FOR_A_COUNT = re.compile(r"(?<![\w:])for (?:1[0-2]|[1-9])" + _PEOPLE_AFTER)
_CLOCK_TIME = re.compile(
    r"\d\s*(?:am|pm|a\.m|p\.m|o'clock)(?!\w)|(?<![\w:])\d{1,2}:[0-5]\d|(?:\bat|@) ?\d"
)


def _counts_marked(text: str) -> str:
    text = PARTY_SIZE.sub(lambda match: f"{match[0]} people", text)
    named = _CLOCK_TIME.search(_FOR_A_COUNT.sub("", text)) is not None
    return _FOR_A_COUNT.sub(lambda match: f"{match[0]} people", text) if named else text


def _prepared(text: str) -> str:
    """`text` as dateparser reads it best: SMS shorthand spelled out, counts of people
    marked, hours with am or pm."""
    text = _SHORTHAND_WORD.sub(lambda match: _SHORTHAND[match[1]], text)
    return _BARE_HOUR.sub(_with_half_day, _counts_marked(text))


def _date_words() -> frozenset[str]:
    """The words dateparser's English locale reads as dates or times of day ("saturday",
    "tomorrow", "noon"), from its own data; words of one or two letters left out."""
    info = default_loader.get_locale("en").info
    names = [*calendar.month_name[1:], *calendar.day_name, "am", "pm", "week", "day"]
    names += ["early_morning", "morning", "afternoon", "evening", "night"]
    phrases = [phrase for key in names for phrase in info.get(key.lower(), [])]
    phrases += [phrase for found in info["relative-type"].values() for phrase in found]
    for simplification in info["simplifications"]:
        phrases += re.findall(r"[a-z]{4,}", " ".join(simplification))  # "noon", "tonight"
    return frozenset(
        word for phrase in phrases for word in re.findall(r"[a-z]+", phrase) if len(word) > 2
    )


DATE_WORDS = _date_words()
# dateparser's search costs about 0.1 ms a character: it reads at most this many sentences
# that may name a time, each cut to SMS length
DATE_SENTENCES, DATE_SENTENCE_CHARS = 3, 160


def _date_sentences(text: str) -> str:
    """The first sentences of `text` with a digit or a date word, bounded for dateparser."""
    found = []
    for sentence in re.split(r"(?<=[.!?\n])\s+", text):
        if any(char.isdigit() for char in sentence) or DATE_WORDS & set(_words(sentence)):
            found.append(sentence[:DATE_SENTENCE_CHARS])
            if len(found) == DATE_SENTENCES:
                break
    return " ".join(found)


@dataclass(frozen=True)
class _Moment:
    at: datetime
    timed: bool  # names a time of day, not only a day


def _names_a_time(phrase: str, periods: DateDataParser, settings: dict[str, Any]) -> bool:
    """Whether `phrase` names a time of day: dateparser says so, or (for "10am tomorrow",
    which it calls a day) the time it reads does not move with the time the text came."""
    period = periods.get_date_data(phrase).period
    if period in ("time", "part_of_day"):
        return period == "time"  # "Saturday morning" is a wish, not a time
    base: datetime = settings["RELATIVE_BASE"]
    moved = base + timedelta(minutes=17) if base.minute < 40 else base - timedelta(minutes=17)
    first = dateparser.parse(phrase, settings=settings)
    second = dateparser.parse(phrase, settings={**settings, "RELATIVE_BASE": moved})
    if first is None or second is None:
        return False
    return first.time() == second.time() and first.time() != time(0, 0)


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    """dateparser's `moment` in `zone`. A day it counts from the text's ("tomorrow", "in 2
    days") keeps the offset of the day the text came, so across a change of the clocks its
    wall-clock time is the one asked for and its offset is wrong: the wall clock is kept.
    A time in another zone ("3pm PST") is converted."""
    if getattr(moment.tzinfo, "zone", None) == zone.key:  # dateparser's own (pytz) zone
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _moments(text: str, received_at: datetime, zone: ZoneInfo) -> list[_Moment]:
    """The moments from about now to a year ahead named in `text`, in `zone`."""
    local = received_at.astimezone(zone)
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "RELATIVE_BASE": local.replace(tzinfo=None),
        "TIMEZONE": zone.key,
    }
    candidates = _date_sentences(text)
    if not candidates:
        return []
    found = search_dates(_prepared(candidates), languages=["en"], settings=settings) or []
    periods = DateDataParser(languages=["en"], settings={**settings, "RETURN_TIME_AS_PERIOD": True})
    moments = []
    for phrase, moment in found:
        words = set(_words(phrase))
        if phrase.strip() in _NOT_DATES or not words or words & _DURATION_WORDS:
            continue
        moment = _in_zone(moment, zone)
        if moment > local + timedelta(days=60):
            # dateparser reads "Tuesday the 9th" as September; day-first reads it as the 9th
            day_first = dateparser.parse(phrase, settings={**settings, "DATE_ORDER": "DMY"})
            if day_first is not None and _in_zone(day_first, zone) < moment:
                moment = _in_zone(day_first, zone)
        timed = _names_a_time(phrase, periods, settings)
        if timed and moment < local and moment.date() == local.date():
            moment += timedelta(days=1)  # "3pm" said at 4pm means tomorrow's
        if local - timedelta(hours=1) <= moment <= local + timedelta(days=366):
            moments.append(_Moment(moment, timed))
            if timed:
                break  # the first time named is the one asked for (_when)
    return moments


def _when(moments: list[_Moment], local: datetime) -> datetime | None:
    """The time asked for: the first timed moment, on the day named apart from it if any
    ("tomorrow around noon" comes as "tomorrow" and "noon")."""
    timed = [moment.at for moment in moments if moment.timed]
    if not timed:
        return None
    days = [moment.at for moment in moments if not moment.timed]
    first = timed[0]
    if days and first.date() in (local.date(), local.date() + timedelta(days=1)):
        first = first.replace(year=days[0].year, month=days[0].month, day=days[0].day)
    return first


SHORT_REPLY_WORDS = 7


def _appointment(
    text: str, received_at: datetime, zone: ZoneInfo
) -> tuple[AppointmentIntent, str | None]:
    if _any(_HOURS_QUESTION, text) or _any(_PAST, text):
        return AppointmentIntent.NONE, None
    moments = _moments(text, received_at, zone)
    at = _when(moments, received_at.astimezone(zone))
    if at is not None:
        return AppointmentIntent.SPECIFIC, at.isoformat()
    # a day alone answers a booking question in a short reply ("How about Tuesday?"); in a
    # longer text it is more often a fact ("my daughter turns 7 on Saturday")
    if (moments and len(_words(text)) <= SHORT_REPLY_WORDS) or _any(_INTEREST_PATTERNS, text):
        return AppointmentIntent.VAGUE, None
    return AppointmentIntent.NONE, None


def understand(text: str, received_at: datetime, zone: ZoneInfo) -> Understanding:
    """The built-in understanding of a customer's text received at `received_at` (aware).

    Reads the first WORK_CHARS characters, and hands dateparser at most three short
    sentences of them. Pure, but it can take tens of milliseconds: callers on the event
    loop run it in a thread.
    """
    head = bounded(text)
    normal = _normal(head)
    folded = _folded(normal)
    opt_out = _opt_out(folded)
    soft_no = not opt_out and _soft_no(folded)
    confused = _confused(folded)
    if opt_out or soft_no:
        appointment, at = AppointmentIntent.NONE, None
    else:
        appointment, at = _appointment(_WHEN_OR_WHERE.sub(" ", normal), received_at, zone)
    return Understanding(
        intent=detect_intent(head),
        appointment_intent=appointment,
        appointment_at=at,
        soft_no=soft_no,
        confused=confused,
        opt_out_request=opt_out,
        source=UnderstandingSource.BUILTIN,
    )


def warm_up() -> None:
    """Load dateparser's data and compile its patterns, which takes about a second and holds
    the interpreter while it does: done once at start, before any text is waiting."""
    understand("Saturday at 9:30 works, thanks", datetime(2025, 12, 1, tzinfo=UTC), ZoneInfo("UTC"))
