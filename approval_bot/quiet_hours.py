"""Reviewers' quiet hours: when texts to them wait, and the digest they get afterwards (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .sms_text import segments, shorten

FOOTER = "Reply A CODE to send, L to list."


class InvalidQuietHours(ValueError):
    """Quiet hours are two HH:MM times and an IANA time zone."""


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, start: str, end: str, zone: str) -> QuietHours:
        try:
            first, last = time.fromisoformat(start), time.fromisoformat(end)
        except ValueError:
            raise InvalidQuietHours(f"quiet hours are HH:MM, not {start!r} and {end!r}") from None
        if first == last:
            raise InvalidQuietHours("quiet hours must start and end at different times")
        try:
            return cls(first, last, ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidQuietHours(f"{zone!r} is not a time zone such as Europe/Paris") from None

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (aware) falls in the quiet hours, which may span midnight."""
        local = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def digest(
    waiting: Sequence[tuple[str, str, str]], stopping: Sequence[tuple[str, str]] = ()
) -> str:
    """One text for what waited out the quiet hours: the drafts (code, customer, draft) and
    the customers who may want to stop (code, customer), those first.

    As many as fit in 3 segments are named; the rest are counted.
    """
    counts = [_count(len(waiting), "draft", "drafts")] if waiting or not stopping else []
    if stopping:
        counts.append(_count(len(stopping), "customer may", "customers may") + " want to stop")
    head = f"While you were away: {'; '.join(counts)}."
    every = [
        f"{customer} may want to stop: OPTOUT {code} to opt them out, KEEP {code} if not."
        for code, customer in stopping
    ] + [
        f"{code} {customer}: {shorten(' '.join(draft.split()), 40)}"
        for code, customer, draft in waiting
    ]
    lines: list[str] = []
    for line in every:
        rest = len(every) - len(lines) - 1
        tail = [f"...and {rest} more."] if rest else []
        candidate = "\n".join([head, *lines, line, *tail, FOOTER])
        if segments(candidate) > 3:
            break
        lines.append(line)
    more = len(every) - len(lines)
    counted = [f"...and {more} more." if lines else f"{more} waiting."] if more else []
    return "\n".join([head, *lines, *counted, FOOTER])
