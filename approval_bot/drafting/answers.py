"""Answers from the business profile: hours, prices, address, booking, phone. Pure.

Each answer says where its facts come from (`source`, shown on the card) and comes in two
wordings, so Regenerate can offer the other one. Nothing is said that the profile does not
hold: a question about a fact it lacks has no answer here, and the drafter writes a holding
reply instead.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from rapidfuzz import fuzz

from ..profile import DAY_NAMES, Profile, Service, parse_range
from ..understanding import PARTY_SIZE

WORDINGS = 2  # every answer and greeting below has this many wordings
ANSWER_CONFIDENCE = 0.8
LIST_CONFIDENCE = 0.6  # a price question naming no listed service: the whole list
HOLDING_CONFIDENCE = 0.2
SERVICE_MATCH = 85  # rapidfuzz partial_ratio a service name must reach in the text

SRC_HOURS = "from opening hours"
SRC_PRICES = "from services and prices"
SRC_ADDRESS = "from the address"
SRC_BOOKING = "from the booking link"
SRC_BOOKING_HOURS = "from opening hours and the booking link"
SRC_PHONE = "from the phone number"

_PRICE = r"how much|\bprices?\b|\bcosts?\b|\bcharge|\brates?\b|\bfees?\b"
# what a customer writes when asking about each topic; booking first, as it may need hours.
# The second pattern is weak ("where", "when"): it counts only when no FAQ entry answers.
TOPICS: tuple[tuple[str, str, str], ...] = (
    (
        "booking",
        r"\bbook|\bappointment|\breserv|\bschedul|\bslots?\b|\bavailab|\bfit (?:me|us) in",
        "",
    ),
    ("price", _PRICE, ""),
    (
        "hours",
        r"\bopen|\bclos(?:e|ed|ing)\b|\bh(?:ou)?rs\b|what time|opening times",
        r"\bwhen\b.*\b(?:you|do)\b",
    ),
    (
        "address",
        r"\baddress\b|\blocat(?:ed|ion)\b|\bdirections?\b|find you|get to you|get there",
        r"\bwhere\b",
    ),
    ("phone", r"phone number|\bcall you\b|number to call|\b(?:your|ur) number\b", ""),
)

_DAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5,
    "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
_DAY_WORD = re.compile(r"\b(" + "|".join(sorted(_DAYS, key=len, reverse=True)) + r")s?\b")
# "next friday": the coming Friday or the one after, a week ahead when asked on a Friday
_NEXT_DAY = re.compile(r"\bnext\s+(" + "|".join(sorted(_DAYS, key=len, reverse=True)) + r")\b")
# "fridays", "weekends": every such day, not the next one
_EVERY = re.compile(r"\b(" + "|".join(name.lower() for name in DAY_NAMES) + r"|weekend)s\b")
SPECIAL_DAYS = 14  # the regular hours name the special hours of this many days ahead
# which days of the week it is open: the week's hours answer
_WHICH_DAYS = re.compile(
    r"\bevery ?day\b|\bdays\b|\bweekdays?\b|\b(?:what|which) day\b|\bwhen\b.*\bclosed\b"
)
# a time of day, asked with no day: today's, not "now"
_TIME_OF_DAY = re.compile(
    r"\b(?:at|till?|until|after|before|past|by)\s+\d|\b\d{1,2}(?:[:.]\d\d)?\s*[ap]\.?m\b"
    r"|\b(?:noon|midday|lunch|late|early|earliest|latest)\b"
    r"|\b(?<!good )(?:morning|afternoon|evening|night)\b"  # not a greeting's "good morning"
)
# "are you open?", "u open", "you guys open?", "open?": whether it is open now
_ARE_YOU_OPEN = re.compile(r"\b(?:you|u|ya)(?: guys| all)? open\b|^\W*open\W*$")
_NOW = re.compile(
    r"\bright now\b|\bnow\b|\bcurrently\b|\bat the moment\b|\bstill open\b|\brn\b|\batm\b"
)
_TIME = re.compile(
    r"\b(?:(?P<h1>\d{1,2})(?:[:.](?P<m1>[0-5]\d))?\s*(?P<ap>[ap])\.?m\b\.?"
    r"|(?P<h2>[01]?\d|2[0-3]):(?P<m2>[0-5]\d)"
    r"|(?P<noon>noon|midday))",
    re.IGNORECASE,
)
# "at 3": an hour without am or pm, the time asked for only when the text names no other;
# "for 3" only when nothing says "at": in "for 3 haircuts at 2" it counts
_HOUR_AFTER = r"\s+(?P<h3>\d{1,2})(?!\s*(?:people|persons|of us|kids|min))\b"
_BARE_TIME = re.compile(r"\b(?:at|around|about)" + _HOUR_AFTER, re.IGNORECASE)
_BARE_FOR = re.compile(r"\bfor" + _HOUR_AFTER, re.IGNORECASE)
# the words of a price question that ask about nothing in particular ("how much is a haircut
# on saturday please"): any other word names something the services may not list
_PRICE_WORDS = frozenset(
    """a an the and or of for to is are it be do does you your ur u r guys how much what whats
    price prices pricing cost costs charge charges rate rates fee fees services combo total usually
    pls please plz thanks thank hi hello hey there quick question i me we my our us can could
    would get like know tell about around roughly just also with at on in this next today
    tomorrow tmrw weekend am pm""".split()
)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
# a day the text names that no weekday, "today" or "tomorrow" says: a date, a holiday ("boxing
# day", "good friday"), a day counted from another ("the day after tomorrow"), weeks ahead, a
# day gone
_OTHER_DAY = re.compile(
    rf"\b(?:christmas|xmas|easter|holidays?|new year|nye|thanksgiving|halloween|yesterday"
    rf"|(?:{_MONTHS})[a-z]*\s+\d)"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})|\b\d{{1,2}}/\d{{1,2}}\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)\b|\b(?:the|on)\s+\d{1,2}\b(?!\s*(?:[ap]\.?m\b|:|people|of us))"
    r"|\b(?!(?:every|all|each|what|which|to|good|nice|great)\b)\w+(?:['’]?s)? day\b"
    r"|\b(?:good|black) friday"
    r"|\b(?:next|in \w+|after)\s+weeks?\b|\bweeks?\s+(?:after|from)\b|\bnext month\b"
)
# an appointment the customer has, to cancel, move, check or be late for: a person's to handle
_CHANGE_BOOKING = re.compile(
    r"\bcancel|\bresched|\bpostpone|\binstead\b|\brunning late\b"
    r"|\b(?:move|change|push back) (?:my|our|the) (?:appointment|booking)"
    r"|\b(?:my|our) (?:appointment|appt|booking|reservation)"
    r"|\bi (?:have|had|made) an? (?:appointment|appt|booking|reservation)"
    r"|\b(?:i|we)(?:['’]ve| have)? (?:already )?booked\b"
)
_QUESTION = re.compile(
    r"\?|^\s*(?:what|when|where|which|who|why|how|can|could|do|does|is|are|will|would)\b", re.I
)


@dataclass(frozen=True)
class Answer:
    text: str
    source: str
    confidence: float


def topics_in(text: str, weak: bool = True) -> list[str]:
    """The profile topics a customer's text asks about, in answering order; with `weak`
    false, only those it names outright (not a bare "where" or "when")."""
    lowered = text.lower()
    return [
        topic
        for topic, strong, loose in TOPICS
        if re.search(strong, lowered) or (weak and loose and re.search(loose, lowered))
    ]


def is_question(text: str) -> bool:
    return _QUESTION.search(text) is not None


def questions_in(text: str) -> list[str]:
    """The sentences of a text that ask something."""
    sentences = re.split(r"(?<=[.?!])\s+|\n+", text)
    return [sentence for sentence in sentences if sentence.strip() and is_question(sentence)]


def follows_up(question: str, topics: list[str], services: list[Service]) -> bool:
    """Whether a question with no topic of its own goes on with the text's: "Or Sunday?",
    "At 3?", "How late?" after one about hours or booking, "And a beard trim?" after a price."""
    lowered = question.lower()
    when = _days_asked(question, date.min) or _TIME_OF_DAY.search(lowered) or _time_asked(question)
    if {"hours", "booking"} & set(topics) and when:
        return True
    return "price" in topics and bool(services_in(question, services))


def _clock(moment: time) -> str:
    return "24:00" if moment == time.max else moment.strftime("%H:%M")


def _span(hours: str) -> str:
    start, end = parse_range(hours)
    return f"{_clock(start)} to {_clock(end)}"


def _day_label(day: date, today: date) -> str:
    name = DAY_NAMES[day.weekday()]
    if day == today:
        return f"today ({name})"
    if day == today + timedelta(days=1):
        return f"tomorrow ({name})"
    return name


def _days_asked(text: str, today: date) -> list[date]:
    """The dates a text names: today, tomorrow, the weekend, the next of a weekday."""
    lowered = text.lower()
    found: list[date] = []
    if re.search(r"\b(?:to|2)day\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b", lowered):
        found.append(today)
    if re.search(r"\b(?:tomorrow|tmrw?|2morrow|2moro|tomoz|tomorow|tommorr?ow)\b", lowered):
        found.append(today + timedelta(days=1))
    weekdays = [_DAYS[m.group(1)] for m in _DAY_WORD.finditer(lowered)]
    if re.search(r"\bweekends?\b", lowered):
        weekdays += [5, 6]
    after = {_DAYS[m[1]] for m in _NEXT_DAY.finditer(lowered)}
    for weekday in dict.fromkeys(weekdays):
        found.append(_coming(today, weekday, weekday in after))
    return list(dict.fromkeys(found))


def _coming(today: date, weekday: int, next_one: bool) -> date:
    """The next date on `weekday`: today if it is one, unless the text said "next"."""
    return today + timedelta(days=(weekday - today.weekday()) % 7 or (7 if next_one else 0))


def _unsure_next(profile: Profile, text: str, today: date) -> bool:
    """Whether a "next friday" of the text may be either of two Fridays with other hours."""
    for match in _NEXT_DAY.finditer(text.lower()):
        day = _coming(today, _DAYS[match[1]], True)
        if profile.hours_on(day) != profile.hours_on(day + timedelta(days=7)):
            return True
    return False


def _time_asked(text: str, hours: str | None = None) -> time | None:
    """The clock time a text asks for; an hour without am or pm is read by `_reading`."""
    match = _TIME.search(text)
    if match is None:
        rest = PARTY_SIZE.sub("", text)  # "a table for 4" is how many
        bare = _BARE_TIME.search(rest) or _BARE_FOR.search(rest)
        if bare is None or int(bare["h3"]) > 23:
            return None
        return _reading(int(bare["h3"]), 0, hours)
    if match["noon"]:
        return time(12, 0)
    if match["h1"] is not None:
        hour, minute = int(match["h1"]) % 12, int(match["m1"] or 0)
        if hour > 11 or int(match["h1"]) > 12:
            return None
        return time(hour + (12 if match["ap"].lower() == "p" else 0), minute)
    if match["h2"].startswith("0"):
        return time(int(match["h2"]), int(match["m2"]))  # "07:30" is as written
    return _reading(int(match["h2"]), int(match["m2"]), hours)


def _reading(hour: int, minute: int, hours: str | None) -> time:
    """An hour without am or pm ("at 8", "7:30"): the reading within the day's `hours` when
    only one is, else the afternoon for 1 to 7 (a bare "at 3" at a shop), else as written."""
    readings = [time(hour, minute)] + ([time(hour + 12, minute)] if 1 <= hour <= 11 else [])
    if hours is not None:
        start, end = parse_range(hours)
        within = [reading for reading in readings if start <= reading < end]
        if len(within) == 1:
            return within[0]
    return readings[-1] if 1 <= hour <= 7 else readings[0]


def _pick(wordings: tuple[str, str], variant: int) -> str:
    return wordings[variant % WORDINGS]


def _on(label: str) -> str:
    """'on Saturday', but 'today (Saturday)' as it is."""
    return label if label.startswith(("today", "tomorrow")) else f"on {label}"


def _one_day(profile: Profile, day: date, today: date, variant: int) -> str:
    hours = profile.hours_on(day)
    label = _day_label(day, today)
    if hours is None:
        return _pick(
            (f"We're closed {label}.", f"{label[0].upper()}{label[1:]} we're closed."), variant
        )
    return _pick(
        (
            f"{label[0].upper()}{label[1:]} we're open {_span(hours)}.",
            f"Our hours {_on(label)} are {_span(hours)}.",
        ),
        variant,
    )


def _every_day(profile: Profile, weekday: int, variant: int) -> str:
    """The regular hours of a weekday: 'Fridays we're open 09:00 to 20:00.'"""
    days = f"{DAY_NAMES[weekday]}s"
    hours = profile.hours.of(weekday)
    if hours is None:
        return _pick((f"We're closed on {days}.", f"{days} we're closed."), variant)
    return _pick(
        (f"{days} we're open {_span(hours)}.", f"Our hours on {days} are {_span(hours)}."), variant
    )


def _special(profile: Profile, today: date, weekdays: set[int]) -> str:
    """The days of the next two weeks on `weekdays` whose hours are not their weekday's:
    ' Special hours: Thursday 24 December 09:00 to 13:00, Friday 25 December closed.'"""
    parts = []
    for offset in range(SPECIAL_DAYS):
        day = today + timedelta(days=offset)
        hours = profile.hours_on(day)
        if day.weekday() in weekdays and hours != profile.hours.of(day.weekday()):
            when = f"{DAY_NAMES[day.weekday()]} {day.day} {calendar.month_name[day.month]}"
            parts.append(f"{when} {_span(hours) if hours else 'closed'}")
    return f" Special hours: {', '.join(parts)}." if parts else ""


def _next_opening(profile: Profile, now: datetime) -> tuple[date, time] | None:
    for offset in range(15):
        day = now.date() + timedelta(days=offset)
        hours = profile.hours_on(day)
        if hours is None:
            continue
        start, _ = parse_range(hours)
        if offset > 0 or now.time() < start:
            return day, start
    return None


def _open_now(profile: Profile, now: datetime, variant: int) -> str:
    hours = profile.hours_on(now.date())
    if hours is not None:
        start, end = parse_range(hours)
        if start <= now.time() < end:
            return _pick(
                (
                    f"Yes, we're open now, until {_clock(end)}.",
                    f"We're open right now, until {_clock(end)} today.",
                ),
                variant,
            )
    upcoming = _next_opening(profile, now)
    if upcoming is None:
        return _pick(("We're closed right now.", "We're not open at the moment."), variant)
    day, start = upcoming
    when = _day_label(day, now.date())
    return _pick(
        (
            f"We're closed right now; we open again {when} at {_clock(start)}.",
            f"We're not open at the moment; we open {when} at {_clock(start)}.",
        ),
        variant,
    )


def _week(profile: Profile, variant: int) -> str:
    """The week's hours, consecutive days with the same hours grouped: 'Tue–Wed 09:00 to 18:00'."""
    groups: list[tuple[int, int, str | None]] = []
    for day in range(7):
        hours = profile.hours.of(day)
        if groups and groups[-1][2] == hours:
            groups[-1] = (groups[-1][0], day, hours)
        else:
            groups.append((day, day, hours))
    parts = []
    for first, last, hours in groups:
        days = DAY_NAMES[first][:3] + (f"–{DAY_NAMES[last][:3]}" if last > first else "")
        parts.append(f"{days} {_span(hours)}" if hours else f"{days} closed")
    listing = ", ".join(parts)
    return _pick((f"Our hours: {listing}.", f"Our opening hours are {listing}."), variant)


def _hours_answer(profile: Profile, text: str, now: datetime, variant: int) -> Answer | None:
    if all(profile.hours.of(day) is None for day in range(7)) and not profile.exceptions:
        return None
    today = now.date()
    lowered = text.lower()
    if _OTHER_DAY.search(lowered) or _unsure_next(profile, text, today):
        return None  # a date or holiday this module does not read: not ours to guess
    every = [_DAYS[m[1]] for m in _EVERY.finditer(lowered) if m[1] != "weekend"]
    every += [5, 6] if re.search(r"\bweekends\b", lowered) else []
    every = list(dict.fromkeys(every))
    days = [day for day in _days_asked(text, today) if day.weekday() not in every]
    asked_else = days or every or _NOW.search(lowered) or _WHICH_DAYS.search(lowered)
    if not asked_else and _TIME_OF_DAY.search(lowered):
        days = [today]
    if days or every:
        regular = [_every_day(profile, weekday, variant) for weekday in every]
        dated = [_one_day(profile, day, today, variant) for day in days]
        body = " ".join((regular + dated)[:3]) + _special(profile, today, set(every))
    elif _WHICH_DAYS.search(lowered):
        body = _week(profile, variant) + _special(profile, today, set(range(7)))
    elif _NOW.search(lowered) or _ARE_YOU_OPEN.search(lowered):
        body = _open_now(profile, now, variant)
    elif re.search(r"\bh(?:ou)?rs\b|opening times|\bwhen\b.*\bopen\b", lowered):
        body = _week(profile, variant) + _special(profile, today, set(range(7)))
    else:  # "what time do you close?": today's hours
        body = _one_day(profile, today, today, variant)
    return Answer(body, SRC_HOURS, ANSWER_CONFIDENCE)


def _money(service: Service) -> str:
    assert service.price is not None
    price = service.price
    return f"${price:.0f}" if price == price.to_integral() else f"${price:.2f}"


def services_in(text: str, services: list[Service]) -> list[Service]:
    """The listed services a text names, fuzzily ("beard trims" is "Beard trim"), in the
    text's order; where two names match the same words, the longer one ("Kids haircut", not
    "Haircut")."""
    lowered = re.sub(r"['’]", "", text.lower())
    found = []
    for service in services:
        match = fuzz.partial_ratio_alignment(re.sub(r"['’]", "", service.name.lower()), lowered)
        if match is not None and match.score >= SERVICE_MATCH:
            found.append((match.dest_start, match.dest_end, service))
    kept: list[tuple[int, int, Service]] = []
    for start, end, service in sorted(found, key=lambda f: f[0] - f[1]):  # longest first
        if all(end <= other_start or start >= other_end for other_start, other_end, _ in kept):
            kept.append((start, end, service))
    return [service for _, _, service in sorted(kept, key=lambda k: k[0])]


# the start of another question in the same sentence
_NEXT_QUESTION = re.compile(
    r"\b(?:and|also|plus|but|or)\s+(?:what|when|where|how|are|is|do|does|can|could|will|would)\b"
)


def names_unlisted(text: str, services: list[Service]) -> bool:
    """Whether a price question names more than the listed services in it: "how much is a
    perm?", "a haircut and a shave?", "a senior haircut?". Read from the price words to the
    end of their sentence or the start of another question in it."""
    lowered = re.sub(r"['’]", "", text.lower())
    asked = re.search(_PRICE, lowered)
    if asked is None:
        return False
    region = re.split(r"[.?!\n]", lowered[asked.start() :], maxsplit=1)[0]
    region = _NEXT_QUESTION.split(region, maxsplit=1)[0]  # "… and what time do you open"
    for service in sorted(services, key=lambda s: len(s.name), reverse=True):
        name = re.sub(r"['’]", "", service.name.lower())
        for _ in range(5):  # each time the text names it
            match = fuzz.partial_ratio_alignment(name, region)
            if match is None or match.score < SERVICE_MATCH:
                break
            start, end = match.dest_start, match.dest_end
            while start > 0 and region[start - 1].isalpha():
                start -= 1
            while end < len(region) and region[end].isalpha():  # "haircuts"
                end += 1
            region = region[:start] + " " * (end - start) + region[end:]
    words = re.findall(r"[a-z]+", region)
    return any(word not in _PRICE_WORDS and word not in _DAYS for word in words)


def _price_of(service: Service, variant: int) -> str:
    took = f" and takes about {service.minutes} minutes" if service.minutes else ""
    took_short = f" ({service.minutes} min)" if service.minutes else ""
    return _pick(
        (
            f"A {service.name.lower()} is {_money(service)}{took_short}.",
            f"{service.name} costs {_money(service)}{took}.",
        ),
        variant,
    )


def _price_answer(profile: Profile, text: str, variant: int) -> Answer | None:
    priced = [service for service in profile.services if service.price is not None]
    named = services_in(text, profile.services)
    if named and all(service.price is not None for service in named):
        body = " ".join(_price_of(service, variant) for service in named[:4])
        return Answer(body, SRC_PRICES, ANSWER_CONFIDENCE)
    if named or not priced:
        return None  # a listed service without a price, or no prices at all: not ours to say
    listing = ", ".join(f"{s.name} {_money(s)}" for s in priced[:8])
    return Answer(
        _pick((f"Our prices: {listing}.", f"Here are our prices: {listing}."), variant),
        SRC_PRICES,
        LIST_CONFIDENCE,
    )


def _booking_answer(profile: Profile, text: str, now: datetime, variant: int) -> Answer | None:
    link = profile.booking_link
    today = now.date()
    days = _days_asked(text, today)
    wanted = _time_asked(text, profile.hours_on(days[0]) if days else None)
    offer = _pick((f"You can book at {link}", f"Book online at {link}"), variant) if link else None
    if not days:
        if offer is None:
            return None  # with neither a day nor a link, asking for a time is a holding reply
        return Answer(
            _pick(
                (
                    f"{offer}, or tell us a day and time that suits you.",
                    f"{offer}, or reply with a day and time that works for you.",
                ),
                variant,
            ),
            SRC_BOOKING,
            ANSWER_CONFIDENCE,
        )
    day = days[0]
    label = _day_label(day, today)
    hours = profile.hours_on(day)
    follow = f" {offer}." if offer else " What time would suit you?"
    source = SRC_BOOKING_HOURS if offer else SRC_HOURS
    if hours is not None and day == today and now.time() >= parse_range(hours)[1]:
        hours, label = None, f"for the rest of {label}"  # closed since this evening
    if hours is None:
        upcoming = _next_opening(profile, datetime.combine(day, time.max))
        again = (
            f" We open again {_day_label(upcoming[0], today)} at {_clock(upcoming[1])}."
            if upcoming
            else ""
        )
        body = f"Sorry, we're closed {label}.{again}{follow}"
    elif wanted is None:
        ask = (
            f" {offer}, or tell us what time suits you." if offer else " What time would suit you?"
        )
        body = _pick(
            (
                f"{label[0].upper()}{label[1:]} we're open {_span(hours)}.{ask}",
                f"{_on(label)[0].upper()}{_on(label)[1:]} we're open {_span(hours)}.{ask}",
            ),
            variant,
        )
    else:
        start, end = parse_range(hours)
        at = _clock(wanted)
        # the longest service the text names, which must end by closing time
        timed = [(s.minutes, s.name) for s in services_in(text, profile.services) if s.minutes]
        minutes, service = max(timed, default=(0, ""))
        finish = datetime.combine(day, wanted) + timedelta(minutes=minutes)
        if day == today and wanted <= now.time():
            body = f"{at} {label} has already passed; we're open until {_clock(end)}.{follow}"
        elif start <= wanted < end and finish > datetime.combine(day, end):
            body = (
                f"We close at {_clock(end)} {_on(label)} and a {service.lower()} takes about "
                f"{minutes} min, so {at} is too late.{follow}"
            )
        elif start <= wanted < end:
            confirm = f" {offer}." if offer else " We'll check the diary and confirm shortly."
            body = _pick(
                (
                    f"{at} {label} is within our opening hours ({_span(hours)}).{confirm}",
                    f"We're open {label} from {_span(hours)}, so {at} is within our hours."
                    + confirm,
                ),
                variant,
            )
        else:
            body = (
                f"{label[0].upper()}{label[1:]} we're open {_span(hours)}, so {at} is outside "
                f"our hours.{follow}"
            )
    return Answer(body, source, ANSWER_CONFIDENCE)


def _address_answer(profile: Profile, variant: int) -> Answer | None:
    if not profile.address:
        return None
    address = profile.address
    return Answer(
        _pick((f"We're at {address}.", f"You'll find us at {address}."), variant),
        SRC_ADDRESS,
        ANSWER_CONFIDENCE,
    )


def _phone_answer(profile: Profile, variant: int) -> Answer | None:
    if not profile.phone:
        return None
    phone = profile.phone
    return Answer(
        _pick((f"You can call us on {phone}.", f"Our number is {phone}."), variant),
        SRC_PHONE,
        ANSWER_CONFIDENCE,
    )


def answer(
    profile: Profile, text: str, topics: list[str], received: datetime, variant: int
) -> tuple[list[Answer], list[str]]:
    """Answers to `topics` of `text` from the profile, and the topics it cannot answer.

    `received` is when the text arrived; days and "now" are read in the profile's zone.
    """
    now = profile.local(received)
    answers: list[Answer] = []
    missing: list[str] = []
    for topic in topics:
        if topic == "hours" and "booking" in topics and _days_asked(text, now.date()):
            continue  # the booking answer gives that day's hours
        if topic == "booking" and _CHANGE_BOOKING.search(text.lower()):
            missing.append(topic)  # not a new booking: the link and the hours do not answer it
            continue
        if topic == "booking" and (
            _OTHER_DAY.search(text.lower()) or _unsure_next(profile, text, now.date())
        ):
            missing.append(topic)  # a day this module does not read: not ours to guess
            continue
        found = {
            "booking": lambda: _booking_answer(profile, text, now, variant),
            "price": lambda: _price_answer(profile, text, variant),
            "hours": lambda: _hours_answer(profile, text, now, variant),
            "address": lambda: _address_answer(profile, variant),
            "phone": lambda: _phone_answer(profile, variant),
        }[topic]()
        if found is None:
            missing.append(topic)
        else:
            answers.append(found)
            if topic == "price" and names_unlisted(text, profile.services):
                missing.append(topic)  # the prices it has; a person answers the rest
    return answers, missing


_GREETINGS = {
    "friendly": (("Hi {name}! ", "Hi! "), ("Thanks for asking, {name}! ", "Thanks for asking! ")),
    "formal": (
        ("Hello {name}. ", "Hello. "),
        ("Thank you for your message, {name}. ", "Thank you for your message. "),
    ),
    "brief": (("", ""), ("{name}: ", "")),
}  # fmt: skip

_HOLDING = {
    "friendly": (
        "Thanks for your question! We'll check and get back to you shortly.",
        "Good question, let us check and we'll reply soon.",
    ),
    "formal": (
        "Thank you for your question. We will look into it and reply shortly.",
        "Thank you for your enquiry. We will check and get back to you shortly.",
    ),
    "brief": ("We'll check and get back to you.", "Checking, we'll reply shortly."),
}


def dress(body: str, tone: str, name: str | None, variant: int) -> str:
    """`body` with the tone's greeting, naming the customer when their name is known."""
    with_name, without = _GREETINGS[tone][variant % WORDINGS]
    return (with_name.format(name=name) if name else without) + body


def holding(tone: str, variant: int) -> str:
    """An honest reply to what the profile and FAQ cannot answer: we'll check."""
    return _HOLDING[tone][variant % WORDINGS]
