"""The business-hours clock: parsed from the README's form, counting only open time across
closing, weekends, midnight and DST changes in the business zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from approval_bot.business_hours import BusinessHours, InvalidBusinessHours

PARIS = ZoneInfo("Europe/Paris")
SHOP = BusinessHours.parse("Mon-Fri 09:00-18:00, Sat 10:00-14:00", PARIS)
BAR = BusinessHours.parse("Fri 22:00-02:00", PARIS)
SUNDAYS = BusinessHours.parse("Sun 00:00-24:00", PARIS)


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@pytest.mark.parametrize(
    ("hours", "start", "end", "minutes"),
    [
        # 2026-12-02 is a Wednesday
        (SHOP, "2026-12-02 10:00", "2026-12-02 11:30", 90),
        (SHOP, "2026-12-02 07:00", "2026-12-02 09:15", 15),  # before opening
        (SHOP, "2026-12-02 17:30", "2026-12-03 09:30", 60),  # overnight, closed
        (SHOP, "2026-12-05 13:00", "2026-12-07 10:00", 120),  # Sat 13-14, Mon 9-10
        (SHOP, "2026-12-06 08:00", "2026-12-06 20:00", 0),  # Sunday
        (BAR, "2026-12-04 23:00", "2026-12-05 01:30", 150),  # across midnight
        (BAR, "2026-12-05 01:00", "2026-12-05 03:00", 60),  # Friday's night, Saturday 1-2
        # Europe/Paris: clocks go forward on 2026-03-29, back on 2026-10-25
        (SUNDAYS, "2026-03-29 00:00", "2026-03-30 00:00", 23 * 60),
        (SUNDAYS, "2026-10-25 00:00", "2026-10-26 00:00", 25 * 60),
        (SHOP, "2026-03-27 17:00", "2026-03-30 10:00", 60 + 4 * 60 + 60),  # Fri, Sat, Mon
        (BusinessHours.always(PARIS), "2026-03-29 00:00", "2026-03-30 00:00", 23 * 60),
        (SHOP, "2026-12-02 11:00", "2026-12-02 10:00", 0),  # end before start
    ],
)
def test_business_minutes_between(hours, start, end, minutes):
    assert hours.open_between(paris(start), paris(end)) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("hours", "start", "minutes", "due"),
    [
        (SHOP, "2026-12-02 10:00", 30, "2026-12-02 10:30"),
        (SHOP, "2026-12-04 17:30", 60, "2026-12-05 10:30"),  # Fri 30 min, Sat 30 min
        (SHOP, "2026-12-06 12:00", 10, "2026-12-07 09:10"),  # Sunday waits for Monday
        (SHOP, "2026-03-28 13:30", 60, "2026-03-30 09:30"),  # over the DST weekend
        (BAR, "2026-12-04 23:50", 20, "2026-12-05 00:10"),
        (SUNDAYS, "2026-03-29 01:30", 60, "2026-03-29 03:30"),  # 02:00-03:00 does not exist
    ],
)
def test_the_instant_business_minutes_have_passed(hours, start, minutes, due):
    at = hours.after(paris(start), timedelta(minutes=minutes))
    assert at == paris(due)
    # and back: the latest start from which that much has passed by then
    assert hours.open_between(hours.before(at, timedelta(minutes=minutes)), at) == timedelta(
        minutes=minutes
    )


NEW_YORK, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "zone", "start", "end", "minutes"),
    [
        # New York's clocks go from 02:00 EST to 03:00 EDT on 2026-03-08 (07:00 UTC):
        # a bar open Saturday 20:00 to 02:30 closes at the change, after 6 hours
        ("Sat 20:00-02:30", NEW_YORK, "2026-03-08 00:00", "2026-03-08 09:00", 6 * 60),
        # an opening at 02:30 that day opens at the change: 03:00 EDT to 05:00 EDT
        ("Sun 02:30-05:00", NEW_YORK, "2026-03-08 06:00", "2026-03-08 10:00", 2 * 60),
        # London's go from 01:00 GMT to 02:00 BST on 2026-03-29 (01:00 UTC): open
        # 00:30 to 01:30 is half an hour that night
        ("Sun 00:30-01:30", LONDON, "2026-03-29 00:00", "2026-03-29 03:00", 30),
    ],
)
def test_an_opening_or_closing_skipped_by_the_clocks_is_the_change(text, zone, start, end, minutes):
    # start and end are UTC; the skipped wall time is read as the instant just after the
    # change (the business is closed from its closing time on, open from its opening on)
    hours = BusinessHours.parse(text, zone)
    utc = [datetime.fromisoformat(moment).replace(tzinfo=UTC) for moment in (start, end)]
    assert hours.open_between(*utc) == timedelta(minutes=minutes)


def test_before_is_the_latest_start():
    # Monday 09:30 less 60 business minutes: Saturday 13:30, before the DST change (UTC+1)
    at = SHOP.before(paris("2026-03-30 09:30"), timedelta(minutes=60))
    assert at == datetime(2026, 3, 28, 12, 30, tzinfo=UTC)


def test_written_hours_are_kept_as_written():
    assert SHOP.text == "Mon-Fri 09:00-18:00, Sat 10:00-14:00"
    assert BusinessHours.parse(" sat-mon  10:00-12:00 ", PARIS).openings[-1].day == 0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 9-5", "not like 'Mon-Fri 09:00-18:00'"),
        ("Funday 09:00-10:00", "not like"),
        ("Mon-Fry 09:00-10:00", "'fry'"),
        ("Mon 09:00-25:00", "'25:00'"),
        ("Mon 09:61-10:00", "'09:61'"),
        ("Mon 09:00-09:00", "same time"),
        ("Mon-Fri 09:00-18:00,", "''"),
    ],
)
def test_bad_hours_say_why(text, says):
    with pytest.raises(InvalidBusinessHours, match=None) as error:
        BusinessHours.parse(text, PARIS)
    assert says in str(error.value)
