"""How long a text is in SMS segments, and texts cut to fit a number of them (pure)."""

from __future__ import annotations

import math

import gsm0338  # noqa: F401  registers the "gsm03.38" codec

GSM_SINGLE, GSM_PART = 160, 153  # septets in one segment, and in each part of a longer one
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units likewise
ELLIPSIS = "..."  # "…" is not in the GSM alphabet and would force UCS-2


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


def draft_notification(code: str, customer: str, last_message: str, draft: str) -> str:
    """The text a reviewer gets for a new draft; it always fits in 3 segments."""

    def compose(said: str, drafted: str) -> str:
        return (
            f"Draft {code} for {customer}\n"
            f'They wrote: "{said}"\n'
            f'Draft: "{drafted}"\n'
            f"Reply A {code} to send, E {code} new text to edit, R {code} to reject."
        )

    one_line = " ".join(last_message.split()), " ".join(draft.split())
    said, drafted = one_line
    while segments(compose(said, drafted)) > 3:
        # trim whichever quote is longer, a few characters at a time
        if len(said) >= len(drafted):
            said = shorten(one_line[0], max(len(said) - 8, 0))
        else:
            drafted = shorten(one_line[1], max(len(drafted) - 8, 0))
    return compose(said, drafted)
