"""Business hours: parsed from `Mon-Fri 09:00-18:00, Sat 10:00-14:00`, and the clock they
make, counting only open time across days and DST changes in their zone (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_ENTRY = re.compile(
    r"(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<open>\d{2}:\d{2})\s*-\s*(?P<close>\d{2}:\d{2})"
)
# every week has an opening (parse refuses an empty list): a search spans at most this
_WEEK = timedelta(days=7)


class InvalidBusinessHours(ValueError):
    """Business hours are `Day[-Day] HH:MM-HH:MM` entries separated by commas."""


def _minutes(text: str, entry: str) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise InvalidBusinessHours(f"{text!r} in {entry!r} is not a time from 00:00 to 24:00")
    return hours * 60 + minutes


@dataclass(frozen=True)
class Opening:
    """Open on `day` (0 = Monday) from `start` to `end` minutes after its midnight; an end
    past 1440 runs into the next day (e.g. 22:00-02:00)."""

    day: int
    start: int
    end: int


@dataclass(frozen=True)
class BusinessHours:
    """The weekly openings in `zone`; no openings means always open. `text` is as written."""

    openings: tuple[Opening, ...]
    zone: ZoneInfo
    text: str = ""

    @classmethod
    def always(cls, zone: ZoneInfo) -> BusinessHours:
        return cls((), zone)

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo) -> BusinessHours:
        """Read `Mon-Fri 09:00-18:00, Sat 10:00-14:00`; raise InvalidBusinessHours saying why."""
        openings: list[Opening] = []
        for raw in text.split(","):
            entry = " ".join(raw.split())
            match = _ENTRY.fullmatch(entry.lower())
            if match is None:
                raise InvalidBusinessHours(
                    f"{entry!r} is not like 'Mon-Fri 09:00-18:00' (days, then opening hours)"
                )
            first, last = match["first"], match["last"] or match["first"]
            for name in (first, last):
                if name not in DAYS:
                    raise InvalidBusinessHours(
                        f"{name!r} in {entry!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
                    )
            start, end = _minutes(match["open"], entry), _minutes(match["close"], entry)
            if start == end or start == DAY_MINUTES:
                raise InvalidBusinessHours(f"{entry!r} opens and closes at the same time")
            if end < start:
                end += DAY_MINUTES  # open past midnight
            day, stop = DAYS.index(first), DAYS.index(last)
            while True:  # Fri-Mon wraps over the weekend
                openings.append(Opening(day, start, end))
                if day == stop:
                    break
                day = (day + 1) % 7
        return cls(tuple(openings), zone, text.strip())

    @property
    def always_open(self) -> bool:
        return not self.openings

    def _local(self, day: date, minutes: int) -> datetime:
        """The UTC instant of `minutes` after local midnight of `day` (a wall time skipped
        by a DST change is read as the instant just after the change)."""
        wall = datetime.combine(
            day + timedelta(days=minutes // DAY_MINUTES),
            time((minutes % DAY_MINUTES) // 60, minutes % 60),
        )
        moment = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if moment.astimezone(self.zone).replace(tzinfo=None) == wall:
            return moment
        # skipped by a change: read with the offset before it (fold 0) the wall time is an
        # instant after the change, with the offset after it (fold 1) one before; the change
        # lies between, where the offset moves (whole seconds: halve until one apart)
        offset_after = moment.astimezone(self.zone).utcoffset()
        low, high = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC), moment
        while high - low > timedelta(seconds=1):
            middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
            if middle.astimezone(self.zone).utcoffset() == offset_after:
                high = middle
            else:
                low = middle
        return high

    def _spans(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Open spans (UTC, merged, in order) of the local days `first` to `last`."""
        spans: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            for opening in self.openings:
                if opening.day == day.weekday():
                    spans.append((self._local(day, opening.start), self._local(day, opening.end)))
            day += timedelta(days=1)
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return iter(merged)

    def _window(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open spans overlapping [start, end), clipped to it."""
        # a day before and after: an opening past midnight, and zone offsets, reach over
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        for span_start, span_end in self._spans(first, last):
            low, high = max(span_start, start), min(span_end, end)
            if low < high:
                yield low, high

    def open_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from `start` to `end` (aware instants); zero when end is before."""
        # in UTC: arithmetic between two instants of one zone would count wall time
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        return sum((high - low for low, high in self._window(start, end)), timedelta(0))

    def after(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of business time has passed since `start`."""
        start = start.astimezone(UTC)
        if self.always_open:
            return start + amount
        left, since = amount, start
        while True:
            for low, high in self._window(since, since + _WEEK):
                if high - low >= left:
                    return low + left
                left -= high - low
            since += _WEEK

    def before(self, end: datetime, amount: timedelta) -> datetime:
        """The latest instant from which `amount` of business time has passed by `end`."""
        end = end.astimezone(UTC)
        if self.always_open:
            return end - amount
        left, until = amount, end
        while True:
            for low, high in reversed(list(self._window(until - _WEEK, until))):
                if high - low >= left:
                    return high - left
                left -= high - low
            until -= _WEEK
