"""Quiet hours, across midnight and time zones, and the digest that fits in 3 segments."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

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
        # the first and the last minute are quiet, the minutes either side are not
        ("22:00", "07:00", "UTC", "2026-11-21T21:59", False),
        ("22:00", "07:00", "UTC", "2026-11-21T22:00", True),
        ("22:00", "07:00", "UTC", "2026-11-22T00:00", True),  # midnight itself
        ("22:00", "07:00", "UTC", "2026-11-22T06:59:59", True),
        ("12:00", "13:00", "UTC", "2026-11-21T11:59", False),
        ("12:00", "13:00", "UTC", "2026-11-21T12:00", True),
        ("12:00", "13:00", "UTC", "2026-11-21T12:59", True),
        ("12:00", "13:00", "UTC", "2026-11-21T13:00", False),
        ("00:00", "06:00", "UTC", "2026-11-21T00:00", True),
        ("00:00", "06:00", "UTC", "2026-11-20T23:59", False),
        # Paris is UTC+2 in summer (CEST) and UTC+1 in winter (CET)
        ("22:00", "07:00", "Europe/Paris", "2026-07-01T04:59", True),  # 06:59 CEST
        ("22:00", "07:00", "Europe/Paris", "2026-07-01T05:00", False),  # 07:00 CEST
        ("22:00", "07:00", "Europe/Paris", "2026-07-01T20:00", True),  # 22:00 CEST
        ("22:00", "07:00", "Europe/Paris", "2026-07-01T19:59", False),
        # 25 October 2026, 03:00 CEST becomes 02:00 CET at 01:00 UTC
        ("22:00", "07:00", "Europe/Paris", "2026-10-25T05:59", True),  # 06:59 CET
        ("22:00", "07:00", "Europe/Paris", "2026-10-25T06:00", False),  # 07:00 CET
        # 29 March 2026, 02:00 CET becomes 03:00 CEST at 01:00 UTC
        ("01:00", "03:00", "Europe/Paris", "2026-03-29T00:59", True),  # 01:59 CET
        ("01:00", "03:00", "Europe/Paris", "2026-03-29T01:00", False),  # 03:00 CEST
        # Tokyo has no DST, UTC+9: 22:00 there is 13:00 UTC
        ("22:00", "07:00", "Asia/Tokyo", "2026-07-01T13:00", True),
        ("22:00", "07:00", "Asia/Tokyo", "2026-07-01T12:59", False),
    ],
)
def test_quiet_hours(start, end, zone, utc, quiet):
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert QuietHours.parse(start, end, zone).contains(moment) is quiet


@pytest.mark.parametrize(
    ("start", "end", "zone", "message"),
    [
        ("25:00", "07:00", "UTC", "quiet hours are HH:MM, not '25:00' and '07:00'"),
        ("22:00", "noon", "UTC", "quiet hours are HH:MM, not '22:00' and 'noon'"),
        ("22:00", "22:00", "UTC", "quiet hours must start and end at different times"),
        (
            "22:00",
            "07:00",
            "Mars/Olympus",
            "'Mars/Olympus' is not a time zone such as Europe/Paris",
        ),
        ("22:00", "07:00", "../etc", "'../etc' is not a time zone such as Europe/Paris"),
    ],
)
def test_bad_quiet_hours_are_refused(start, end, zone, message):
    with pytest.raises(InvalidQuietHours) as refused:
        QuietHours.parse(start, end, zone)
    assert str(refused.value) == message


def test_parse_keeps_the_times_and_the_zone():
    hours = QuietHours.parse("22:30", "07:15", "Europe/Paris")
    assert (hours.start, hours.end, hours.zone) == (
        time(22, 30),
        time(7, 15),
        ZoneInfo("Europe/Paris"),
    )


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


FOOTER = "Reply A CODE to send, L to list."


@pytest.mark.parametrize(
    ("count", "head"),
    [
        (0, "While you were away: 0 drafts."),
        (1, "While you were away: 1 draft."),
        (2, "While you were away: 2 drafts."),
    ],
)
def test_the_head_counts_drafts_in_words(count, head):
    text = digest([("7F3K", "+14155550100", "Hi!")] * count)
    assert text.split("\n")[0] == head
    assert text.split("\n")[-1] == FOOTER


def test_each_draft_is_one_line_of_at_most_40_characters():
    long_draft = "We open at nine,\n  and close at five. " * 3
    text = digest([("7F3K", "+14155550100", long_draft), ("9QWR", "+14155550101", "Hi!")])
    assert text == "\n".join(
        [
            "While you were away: 2 drafts.",
            "7F3K +14155550100: We open at nine, and close at five. W...",
            "9QWR +14155550101: Hi!",
            FOOTER,
        ]
    )


def test_what_does_not_fit_is_counted():
    # each line is 59 characters; 3 segments hold 459: the head, six lines, the count and
    # the footer take 440, a seventh line would make 500
    waiting = [(f"C{n:03}", "+14155550100", "x" * 40) for n in range(20)]
    assert digest(waiting) == "\n".join(
        [
            "While you were away: 20 drafts.",
            *[f"C{n:03} +14155550100: " + "x" * 40 for n in range(6)],
            "...and 14 more.",
            FOOTER,
        ]
    )


@pytest.mark.parametrize(("customer", "named"), [(188, 2), (189, 1)])
def test_the_last_draft_is_named_when_the_text_fits_exactly(customer, named):
    # two lines of 9 + 188 characters: 30 + 2 × 197 + 32 + 3 line breaks = 459
    waiting = [("7F3K", "c" * customer, "hi"), ("9QWR", "c" * customer, "hi")]
    lines = digest(waiting).split("\n")
    assert len(lines) == 4
    assert lines[1] == "7F3K " + "c" * customer + ": hi"
    assert lines[2] == ("9QWR " + "c" * customer + ": hi" if named == 2 else "...and 1 more.")


@pytest.mark.parametrize(("customer", "fits"), [(387, True), (388, False)])
def test_a_single_draft_is_named_up_to_exactly_three_segments(customer, fits):
    # 29 + 1 + (9 + 387) + 1 + 32 = 459 characters: exactly 3 segments
    text = digest([("7F3K", "c" * customer, "hi")])
    if fits:
        assert text.split("\n")[1] == "7F3K " + "c" * customer + ": hi"
        assert segments(text) == 3
    else:
        assert text == "While you were away: 1 draft.\n1 waiting.\n" + FOOTER


def test_a_customer_who_may_want_to_stop_comes_first_with_optout_and_keep():
    text = digest([("9QWR", "+14155550101", "Hi!")], [("7F3K", "+14155550100")])
    assert text == "\n".join(
        [
            "While you were away: 1 draft; 1 customer may want to stop.",
            "+14155550100 may want to stop: OPTOUT 7F3K to opt them out, KEEP 7F3K if not.",
            "9QWR +14155550101: Hi!",
            FOOTER,
        ]
    )


def test_a_digest_of_stop_requests_alone_counts_customers():
    text = digest([], [("7F3K", "+14155550100"), ("9QWR", "+14155550101")])
    assert text.split("\n")[0] == "While you were away: 2 customers may want to stop."
    assert "OPTOUT 9QWR" in text and "KEEP 9QWR" in text
