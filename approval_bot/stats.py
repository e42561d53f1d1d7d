"""The arithmetic of the stats page: percentiles, buckets, queue depth, edit distance.

Plain functions over values; the reads are in `stats_queries.py`, the drawing in
`web/charts.py`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz.distance import Levenshtein

# how much of a draft a reviewer changed, as a share of the longer text
CHANGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("up to 10%", 0.10),
    ("10–25%", 0.25),
    ("25–50%", 0.50),
    ("over 50%", 1.0),
)


@dataclass(frozen=True)
class Summary:
    """How many values, and their median and 95th percentile."""

    count: int
    p50: float
    p95: float


def positions(count: int, q: int) -> tuple[int, int]:
    """The 0-based ranks, among `count` sorted values, that the q-th percentile reads."""
    low = q * (count - 1) // 100
    return low, min(low + 1, count - 1)


def percentile_of(count: int, q: int, ranked: Mapping[int, float]) -> float:
    """The q-th percentile (1–99) of `count` sorted values, from those at `positions`.

    The interpolation of `statistics.quantiles(method="inclusive")`, step for step, so
    values ranked by the database give the same figure as sorting them here.
    """
    if count < 1:
        raise ValueError("no values")
    if not 1 <= q <= 99:
        raise ValueError(f"a percentile is between 1 and 99, not {q}")
    if count == 1:
        return float(ranked[0])
    low, delta = divmod(q * (count - 1), 100)
    return (ranked[low] * (100 - delta) + ranked[low + 1] * delta) / 100


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1–99), interpolated between the nearest values.

    Raises ValueError for no values.
    """
    return percentile_of(len(values), q, dict(enumerate(sorted(values))))


def summarize(values: Sequence[float]) -> Summary | None:
    if not values:
        return None
    return Summary(len(values), percentile(values, 50), percentile(values, 95))


def summarize_by(pairs: Iterable[tuple[str, float]]) -> dict[str, Summary]:
    """A summary per key, keys in their sorted order."""
    groups: dict[str, list[float]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return {
        key: Summary(len(v), percentile(v, 50), percentile(v, 95))
        for key, v in sorted(groups.items())
    }


def days(start: datetime, end: datetime) -> list[str]:
    """The UTC dates (YYYY-MM-DD) from `start` to `end`, both included."""
    out, day = [], start.date()
    while day <= end.date():
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def rates(counts: dict[str, int]) -> dict[str, float]:
    """Each count as a share of their total; all zero when there are none."""
    total = sum(counts.values())
    return {key: (n / total if total else 0.0) for key, n in counts.items()}


@dataclass(frozen=True)
class DepthPoint:
    """The queue in one time bucket: at its end, and the most it held within it."""

    start: datetime
    depth: int
    peak: int


def queue_depth(
    depth_at_start: int,
    changes: Iterable[tuple[datetime, int]],
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[DepthPoint]:
    """The queue's depth per bucket of `step` from `start` to `end`, from +1/-1 changes.

    `changes` are (moment, delta) in time order, all in [start, end); `depth_at_start` is
    the sum of every delta before `start`.
    """
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    points: list[DepthPoint] = []
    depth = depth_at_start
    pending = iter(changes)
    upcoming = next(pending, None)
    bucket = start
    while bucket < end:
        bucket_end = min(bucket + step, end)
        peak = depth
        while upcoming is not None and upcoming[0] < bucket_end:
            depth += upcoming[1]
            peak = max(peak, depth)
            upcoming = next(pending, None)
        points.append(DepthPoint(bucket, depth, peak))
        bucket = bucket_end
    return points


@dataclass(frozen=True)
class EditSize:
    """How much a reviewer changed: characters (Levenshtein) and the share of the text."""

    distance: int
    share: float


def edit_size(before: str, after: str) -> EditSize:
    """The Levenshtein distance from `before` to `after`, and that over the longer length."""
    distance = Levenshtein.distance(before, after)
    longest = max(len(before), len(after))
    return EditSize(distance, distance / longest if longest else 0.0)


def change_bucket(share: float) -> str:
    """The CHANGE_BUCKETS label a share of changed text falls in."""
    for label, limit in CHANGE_BUCKETS:
        if share <= limit:
            return label
    return CHANGE_BUCKETS[-1][0]


def duration(seconds: float) -> str:
    """A duration the way a person reads it: "42 s", "5.5 min", "3.2 h", "2.1 d"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    unit, size = ("min", 60) if seconds < 3600 else ("h", 3600) if seconds < 86400 else ("d", 86400)
    value = seconds / size
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


COUNT_STEPS = tuple(float(f * 10**k) for k in range(10) for f in (1, 2, 5))
DURATION_STEPS = tuple(
    float(s)
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600)
    + (6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
)


def axis_ticks(highest: float, steps: Sequence[float] = COUNT_STEPS, most: int = 5) -> list[float]:
    """Tick values from 0 to at least `highest`, at the smallest step giving at most `most`
    intervals; `steps` are the round numbers allowed (whole counts, or minutes and hours)."""
    for step in steps:
        if highest <= step * most:
            intervals = max(1, math.ceil(highest / step))
            return [step * i for i in range(intervals + 1)]
    step = steps[-1] * math.ceil(highest / (steps[-1] * most))
    return [step * i for i in range(math.ceil(highest / step) + 1)]
