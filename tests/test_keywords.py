"""Keyword detection: the whole message, trimmed, any case; OptOutType counts the same.

The expected words are Twilio's, written out here, never taken from the module: the opt-out
list of the Advanced Opt-Out guide (www.twilio.com/docs/messaging/tutorials/advanced-opt-out),
the opt-in and help words of "Twilio support for opt-out keywords (SMS STOP filtering)".
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot import keywords
from approval_bot.keywords import Keyword, detect

TWILIO_OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
TWILIO_OPT_IN = ["START", "YES", "UNSTOP"]
TWILIO_HELP = ["HELP", "INFO"]
TWILIO = {
    **dict.fromkeys(TWILIO_OPT_OUT, Keyword.OPT_OUT),
    **dict.fromkeys(TWILIO_OPT_IN, Keyword.OPT_IN),
    **dict.fromkeys(TWILIO_HELP, Keyword.HELP),
}


@pytest.mark.parametrize(("word", "keyword"), sorted(TWILIO.items()))
def test_every_twilio_keyword_is_detected_in_any_case_and_padding(word, keyword):
    for body in (word, word.lower(), word.capitalize(), f"  {word.lower()}\n", f"\t{word} "):
        assert detect(body) is keyword, body


def test_the_module_knows_exactly_twilios_words_no_more():
    assert keywords.OPT_OUT_WORDS == set(TWILIO_OPT_OUT)
    assert keywords.OPT_IN_WORDS == set(TWILIO_OPT_IN)
    assert keywords.HELP_WORDS == set(TWILIO_HELP)


@pytest.mark.parametrize(
    "body",
    [
        "stop it",
        "please STOP",
        "STOP.",
        "STOP ALL",  # Twilio's word is STOPALL, one word
        "OPT-OUT",
        "OPT OUT",
        "ARRET",  # a French word Twilio's default list does not have
        "UNSUBSCRIBED",
        "yes please",
        "Y",
        "ok",
        "HELP ME",
        "",
        "   ",
    ],
)
def test_anything_else_is_an_ordinary_message(body):
    assert detect(body) is None


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        # Twilio's OptOutType parameter: STOP, START or HELP, and it wins over the body
        ("whatever", "STOP", Keyword.OPT_OUT),
        ("whatever", "START", Keyword.OPT_IN),
        ("whatever", "HELP", Keyword.HELP),
        ("START", "STOP", Keyword.OPT_OUT),
        ("STOP", "START", Keyword.OPT_IN),
        ("STOP", "HELP", Keyword.HELP),
        ("whatever", " stop\n", Keyword.OPT_OUT),
        ("whatever", "help", Keyword.HELP),
        # an empty or unknown type leaves the body to decide
        ("STOP", "", Keyword.OPT_OUT),
        ("STOP", None, Keyword.OPT_OUT),
        ("hello", "SOMETHING_NEW", None),
        ("UNSTOP", "SOMETHING_NEW", Keyword.OPT_IN),
    ],
)
def test_opt_out_type(body, opt_out_type, expected):
    assert detect(body, opt_out_type) is expected


@given(st.text())
def test_only_a_keyword_alone_is_a_keyword(body):
    assert detect(body) is TWILIO.get(body.strip().upper())
