"""Quiet hours, across midnight and time zones, and the digest that fits in 3 segments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.quiet_hours import InvalidQuietHours, QuietHours, digest
from approval_bot.sms_text import segments


@pytest.mark.parametrize(
    ("start", "end", "zone", "utc", "quiet"),
    [
        ("22:00", "07:00", "UTC", "2026-11-21T23:30", True),
        ("22:00", "07:00", "UTC", "2026-11-21T06:59", True),
        ("22:00", "07:00", "UTC", "2026-11-21T07:00", False),
        ("22:00", "07:00", "UTC", "2026-11-21T12:00", False),
        ("12:00", "13:00", "UTC", "2026-11-21T12:30", True),
        ("12:00", "13:00", "UTC", "2026-11-21T13:30", False),
        # 23:30 in Paris is 22:30 UTC in November
        ("23:00", "07:00", "Europe/Paris", "2026-11-21T22:30", True),
        ("23:00", "07:00", "Europe/Paris", "2026-11-21T21:30", False),
        ("22:00", "07:00", "America/Los_Angeles", "2026-11-22T07:00", True),  # 23:00 there
    ],
)
def test_quiet_hours(start, end, zone, utc, quiet):
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert QuietHours.parse(start, end, zone).contains(moment) is quiet


@pytest.mark.parametrize(
    ("start", "end", "zone"),
    [("25:00", "07:00", "UTC"), ("22:00", "22:00", "UTC"), ("22:00", "07:00", "Mars/Olympus")],
)
def test_bad_quiet_hours_are_refused(start, end, zone):
    with pytest.raises(InvalidQuietHours):
        QuietHours.parse(start, end, zone)


def test_a_short_digest_names_every_draft():
    text = digest([("7F3K", "+14155550100", "Yes, 9 to 5."), ("9QWR", "+14155550101", "Hi!")])
    assert text.startswith("While you were away: 2 drafts.")
    assert "7F3K +14155550100: Yes, 9 to 5." in text and "9QWR" in text


@given(
    st.lists(
        st.tuples(st.just("7F3K"), st.just("+14155550100"), st.text(max_size=300)), max_size=40
    )
)
def test_a_digest_always_fits_and_counts_every_draft(waiting):
    text = digest(waiting)
    assert segments(text) <= 3
    named = text.count("7F3K")
    more = len(waiting) - named
    assert (more == 0) or f"{more} " in text
