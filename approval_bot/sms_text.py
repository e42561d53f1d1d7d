"""How long a text is in SMS segments, and texts cut to fit a number of them (pure)."""

from __future__ import annotations

import math
from bisect import bisect_left

import gsm0338  # noqa: F401  registers the "gsm03.38" codec

GSM_SINGLE, GSM_PART = 160, 153  # septets in one segment, and in each part of a longer one
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units likewise
ELLIPSIS = "..."  # "…" is not in the GSM alphabet and would force UCS-2
NOTIFICATION_SEGMENTS = 3
# Twilio's limit for one inbound body: a longer text is stored whole, but work on it is bounded
WORK_CHARS = 1600


def segments(text: str) -> int:
    """How many SMS segments `text` takes: GSM-7 when every character allows, else UCS-2."""
    try:
        units, single, part = len(text.encode("gsm03.38")), GSM_SINGLE, GSM_PART
    except UnicodeEncodeError:
        units, single, part = len(text.encode("utf-16-le")) // 2, UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else math.ceil(units / part)


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


def draft_notification(code: str, customer: str, last_message: str, draft: str) -> str:
    """The text a reviewer gets for a new draft; it fits in 3 segments.

    Only the first WORK_CHARS characters of each quote are read, and the segments are
    counted for a few pairs only (a bisection): a very long text costs no more than that.
    """

    def compose(said: str, drafted: str) -> str:
        return (
            f"Draft {code} for {customer}\n"
            f'They wrote: "{said}"\n'
            f'Draft: "{drafted}"\n'
            f"Reply A {code} to send, E {code} new text to edit, R {code} to reject."
        )

    pairs = _trims(" ".join(bounded(last_message).split()), " ".join(bounded(draft).split()))
    # shorter quotes never take more segments, so the pairs that fit come last
    first_fit = bisect_left(range(len(pairs)), True, key=lambda index: fits(compose(*pairs[index])))
    return compose(*pairs[min(first_fit, len(pairs) - 1)])


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
