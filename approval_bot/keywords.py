"""Carrier keywords: opt-out, opt-in and help, as Twilio's Advanced Opt-Out knows them.

Pure: a keyword is the whole message, trimmed, in any case; Twilio's `OptOutType`
parameter (STOP, START, HELP) counts the same when it is present.
"""

from __future__ import annotations

from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_OPT_OUT_TYPES = {"STOP": Keyword.OPT_OUT, "START": Keyword.OPT_IN, "HELP": Keyword.HELP}


def detect(body: str, opt_out_type: str | None = None) -> Keyword | None:
    """The keyword a message is, or None for an ordinary message.

    `opt_out_type` wins over the body: Twilio has already acted on it.
    """
    if opt_out_type:
        keyword = _OPT_OUT_TYPES.get(opt_out_type.strip().upper())
        if keyword is not None:
            return keyword
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in HELP_WORDS:
        return Keyword.HELP
    return None
