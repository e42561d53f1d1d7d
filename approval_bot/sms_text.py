"""How long a text is in SMS segments, texts cut to fit a number of them, and text no
message can carry (pure)."""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

import gsm0338  # noqa: F401  registers the "gsm03.38" codec

GSM_SINGLE, GSM_PART = 160, 153  # septets in one segment, and in each part of a longer one
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units likewise
ELLIPSIS = "..."  # "…" is not in the GSM alphabet and would force UCS-2
NOTIFICATION_SEGMENTS = 3
UNKNOWN_CHARS = 20  # the draft's unknown prices, links and phones, as a notification names them
# Twilio's limit for one inbound body: a longer text is stored whole, but work on it is bounded
WORK_CHARS = 1600


NUL = "\x00"


def nul_field(value: object, where: str = "") -> str | None:
    """Where a NUL character is in `value` (a string, or lists and dicts of them): the
    field's dotted path (`where` for `value` itself), or None when there is none.

    No SMS or WhatsApp message carries one and PostgreSQL's text columns refuse it, so each
    edge refuses it before anything is stored, the same on both backends.
    """
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        items = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return None
    for key, item in items:
        path = f"{where}.{key}" if where else key
        if NUL in key:
            return path
        found = nul_field(item, path)
        if found is not None:
            return found
    return None


def nul_pair(pairs: Iterable[tuple[str, object]]) -> str | None:
    """The first name in a form's (name, value) pairs whose name or value holds NUL."""
    return next(
        (name for name, value in pairs if NUL in name or nul_field(value) is not None), None
    )


GSM7, UCS2 = "GSM-7", "UCS-2"
# the GSM 03.38 alphabet as the codec has it: one septet each, or two (escape + code)
GSM_BASIC = frozenset(bytes(i for i in range(128) if i != 0x1B).decode("gsm03.38") + "\x1b")
# the extension table's codes (GSM 03.38 §6.2.1.1): form feed ^ { } \\ [ ~ ] | €
_EXTENSION_CODES = (10, 20, 40, 41, 47, 60, 61, 62, 64, 101)
GSM_EXTENDED = frozenset(bytes((0x1B, code)).decode("gsm03.38") for code in _EXTENSION_CODES)
_NOT_GSM = re.compile("[^" + "".join(sorted(map(re.escape, GSM_BASIC | GSM_EXTENDED))) + "]")


@dataclass(frozen=True)
class SegmentCount:
    """How a text travels as SMS: its encoding, its segments, and what forced UCS-2."""

    encoding: str  # GSM7 or UCS2
    segments: int
    units: int  # septets in GSM-7, UTF-16 code units in UCS-2
    forced_by: str | None = None  # the first character GSM-7 cannot carry


def _packed(costs: list[int], part: int) -> int:
    """Segments of `part` units each, a character never split between two (as Twilio does)."""
    ends = list(accumulate(costs))  # units used up to and with each character
    count, start = 1, 0
    while ends[-1] - start > part:
        # the part ends after the last character that fits in it whole
        start = ends[bisect_right(ends, start + part) - 1]
        count += 1
    return count


def count_segments(text: str) -> SegmentCount:
    """The encoding Twilio picks for `text` (GSM-7 when every character allows) and its segments.

    One segment holds 160 GSM-7 septets or 70 UCS-2 units; a longer text is split into
    parts of 153 or 67, and a two-unit character (€, [, an emoji) is never split.
    """
    # the alphabet's sets, not the codec's per-character encoder: linear at C speed
    outside = _NOT_GSM.search(text)
    if outside is None:
        encoding, forced_by, single, part = GSM7, None, GSM_SINGLE, GSM_PART
        units = len(text) + sum(text.count(char) for char in GSM_EXTENDED)
    else:
        encoding, forced_by, single, part = UCS2, outside.group(), UCS2_SINGLE, UCS2_PART
        units = len(text.encode("utf-16-le")) // 2
    if units <= single:
        return SegmentCount(encoding, 1, units, forced_by)
    if units == len(text):  # one unit a character: nothing to keep whole
        return SegmentCount(encoding, math.ceil(units / part), units, forced_by)
    if encoding == GSM7:
        costs = [2 if char in GSM_EXTENDED else 1 for char in text]
    else:
        costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SegmentCount(encoding, _packed(costs, part), units, forced_by)


def segments(text: str) -> int:
    """How many SMS segments `text` takes: GSM-7 when every character allows, else UCS-2."""
    return count_segments(text).segments


def shorten(text: str, length: int) -> str:
    """`text` cut to at most `length` characters, marked with "..." where it was cut."""
    if len(text) <= length:
        return text
    return text[: max(length - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS


def bounded(text: str) -> str:
    """The part of a message that CPU-heavy work reads: its first WORK_CHARS characters."""
    return text[:WORK_CHARS]


def fits(text: str, count: int = NOTIFICATION_SEGMENTS) -> bool:
    """Whether `text` takes at most `count` segments."""
    # every character takes at least one septet or UTF-16 unit, so a text longer than
    # `count` GSM parts fits neither alphabet: no need to encode it
    return len(text) <= count * GSM_PART and segments(text) <= count


def _trims(said: str, drafted: str) -> list[tuple[str, str]]:
    """Every (said, drafted) pair on the way down: the longer quote (said on a tie) loses
    eight characters at a time, cut from the whole quote and marked with "..."."""
    pairs = [(said, drafted)]
    while True:
        now_said, now_drafted = pairs[-1]
        if len(now_said) >= len(now_drafted):
            pair = (shorten(said, max(len(now_said) - 8, 0)), now_drafted)
        else:
            pair = (now_said, shorten(drafted, max(len(now_drafted) - 8, 0)))
        if pair == pairs[-1]:  # both quotes are down to "...": nothing left to cut
            return pairs
        pairs.append(pair)


def anyway_words(code: str) -> str:
    """How to approve a draft someone else has (their claim, or their thread) by text."""
    return f"Reply A {code} ANYWAY to send it as it is, or leave it to them."


def draft_notification(
    code: str,
    customer: str,
    last_message: str,
    draft: str,
    editing: tuple[str, str] | None = None,
    unknown: Sequence[str] = (),
    holder: str | None = None,
) -> str:
    """The text a reviewer gets for a new draft; it fits in 3 segments.

    `editing` is (who, until when) for a draft a reviewer has claimed, `holder` the words
    of a takeover of its thread ("Ana has this thread since 14:02 UTC"): the text says so
    and how to approve it anyway. `unknown` are the prices, links and phones of the draft that
    no directive, FAQ answer or profile holds: a line names them (shortened) before the
    ask. Only the first WORK_CHARS characters of each quote are read,
    and the segments are counted for a few pairs only (a bisection): a very long text
    costs no more than that.
    """
    if editing is not None:
        who, until = editing
        ask = f"{who} is editing it (until {until}). {anyway_words(code)}"
    elif holder is not None:
        ask = f"{holder}. {anyway_words(code)}"
    else:
        ask = f"Reply A {code} to send, E {code} new text to edit, R {code} to reject."

    if unknown:
        listed = shorten(" ".join(", ".join(unknown).split()), UNKNOWN_CHARS)
        ask = f"Not in FAQ/profile: {listed}\n{ask}"

    def compose(said: str, drafted: str) -> str:
        return f'Draft {code} for {customer}\nThey wrote: "{said}"\nDraft: "{drafted}"\n{ask}'

    pairs = _trims(" ".join(bounded(last_message).split()), " ".join(bounded(draft).split()))
    # shorter quotes never take more segments, so the pairs that fit come last
    first_fit = bisect_left(range(len(pairs)), True, key=lambda index: fits(compose(*pairs[index])))
    text = compose(*pairs[min(first_fit, len(pairs) - 1)])
    if unknown and not fits(text):
        # only with a long claim and quotes of characters outside GSM: the draft goes first
        return draft_notification(code, customer, last_message, draft, editing, holder=holder)
    return text


def opt_out_request_notification(code: str, customer: str, text: str) -> str:
    """The text a reviewer gets for an opt-out in plain words; it fits in 3 segments."""

    def compose(said: str) -> str:
        return (
            f'{customer} may want to stop hearing from us: "{said}"\n'
            f"The thread is paused. Reply OPTOUT {code} to opt them out, "
            f"KEEP {code} if it is not an opt-out (a reply is drafted)."
        )

    quote = " ".join(bounded(text).split())
    for length in range(len(quote), -1, -8):
        composed = compose(shorten(quote, length))
        if fits(composed):
            return composed
    return compose(ELLIPSIS)


def holder_notification(customer: str, text: str) -> str:
    """The text a reviewer who took a thread over gets for each new customer text (3 segments)."""
    quote = " ".join(bounded(text).split())
    length = len(quote)
    while True:
        composed = f'{customer} wrote on your thread: "{shorten(quote, length)}"\nReply on the web.'
        if fits(composed) or length == 0:
            return composed
        length //= 2


def holder_call_notification(customer: str) -> str:
    """The text a reviewer who took a thread over gets for a missed call from its customer."""
    return (
        f"{customer} called you on your thread and got no answer.\nCall back or reply on the web."
    )


def waited_words(minutes: float) -> str:
    """A wait in minutes rounded half up, or hours and minutes from an hour: "12 min",
    "1 h 5 min"."""
    whole = int(minutes + 0.5)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _ask(code: str, holder: str | None) -> str:
    if holder is None:
        return f"Reply A {code} to send, R {code} to reject."
    return f"{holder}. {anyway_words(code)}"


def reminder_notification(
    code: str, customer: str, minutes: float, holder: str | None = None
) -> str:
    """The short reminder of a draft no one has decided; one segment (two when `holder`,
    the words of a takeover of its thread, says who has it)."""
    return f"Reminder: draft {code} for {customer} waiting {waited_words(minutes)}. " + _ask(
        code, holder
    )


def escalation_notification(
    code: str, customer: str, minutes: float, draft: str, holder: str | None = None
) -> str:
    """The text to admins and backups of an overdue draft, with its code; at most 2 segments.

    `holder`: the words of a takeover of its thread, said in place of the usual commands."""

    def compose(drafted: str) -> str:
        return (
            f"Overdue: draft {code} for {customer} waiting {waited_words(minutes)}.\n"
            f'Draft: "{drafted}"\n' + _ask(code, holder)
        )

    quoted = " ".join(bounded(draft).split())
    for room in (len(quoted), 80, 40, 0):
        text = compose(shorten(quoted, room) if room < len(quoted) else quoted)
        if segments(text) <= 2:
            return text
    return compose("")
