"""SMS segment counting and the reviewer notification that fits in three segments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.sms_text import draft_notification, segments, shorten


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # in the GSM alphabet
        ("ß" * 160, 1),
        ("ł" * 70, 1),  # not in it: UCS-2
        ("ł" * 71, 2),
        ("🙂" * 35, 1),  # two UTF-16 units each
        ("🙂" * 36, 2),
        ("…" + "a" * 69, 1),
    ],
)
def test_segments(text, count):
    assert segments(text) == count


def test_shorten_marks_the_cut():
    assert shorten("hello world", 20) == "hello world"
    assert shorten("hello world", 8) == "hello..."
    assert len(shorten("x" * 100, 10)) == 10


@given(st.text(max_size=2000), st.text(max_size=2000))
def test_a_notification_always_fits_three_segments_and_names_code_and_customer(said, draft):
    text = draft_notification("7F3K", "+14155550100", said, draft)
    assert segments(text) <= 3
    assert "A 7F3K" in text and "+14155550100" in text


def test_a_short_exchange_is_kept_whole():
    text = draft_notification("7F3K", "+14155550100", "Open today?", "Yes, 9 to 5.")
    assert '"Open today?"' in text and '"Yes, 9 to 5."' in text
    assert segments(text) == 1
