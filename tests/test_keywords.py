"""Keyword detection: the whole message, trimmed, any case; OptOutType counts the same."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, Keyword, detect

ALL_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        *[(word, None, Keyword.OPT_OUT) for word in sorted(OPT_OUT_WORDS)],
        *[(word.lower(), None, Keyword.OPT_OUT) for word in sorted(OPT_OUT_WORDS)],
        *[(word, None, Keyword.OPT_IN) for word in sorted(OPT_IN_WORDS)],
        *[(word, None, Keyword.HELP) for word in sorted(HELP_WORDS)],
        ("  Stop\n", None, Keyword.OPT_OUT),
        ("\tunstop ", None, Keyword.OPT_IN),
        ("Help", None, Keyword.HELP),
        ("stop it", None, None),
        ("please STOP", None, None),
        ("STOP.", None, None),
        ("yes please", None, None),
        ("", None, None),
        ("whatever", "STOP", Keyword.OPT_OUT),
        ("whatever", "START", Keyword.OPT_IN),
        ("whatever", "HELP", Keyword.HELP),
        ("STOP", "", Keyword.OPT_OUT),
        ("hello", "SOMETHING_NEW", None),
    ],
)
def test_detect(body, opt_out_type, expected):
    assert detect(body, opt_out_type) is expected


@given(st.text())
def test_only_a_keyword_alone_is_a_keyword(body):
    keyword = detect(body)
    assert (keyword is not None) == (body.strip().upper() in ALL_WORDS)
