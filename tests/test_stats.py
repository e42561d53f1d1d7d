"""The stats page's arithmetic: percentiles, queue depth from changes, edit sizes, axes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from approval_bot import review, stats
from approval_bot.models import DecisionChannel
from approval_bot.stats_queries import load_stats
from tests.builders import make_draft, make_inbound, make_reviewer

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([60.0, 120.0, 600.0], 50, 120.0),
        ([60.0, 120.0, 600.0], 95, 552.0),
        ([600.0, 60.0, 120.0], 95, 552.0),  # order does not matter
        ([float(n) for n in range(1, 101)], 95, 95.05),
        ([7.0, 7.0, 7.0], 95, 7.0),
    ],
)
def test_percentiles(values, q, expected):
    assert stats.percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], 0), ([1.0], 100)])
def test_percentile_refuses_what_has_none(values, q):
    with pytest.raises(ValueError):
        stats.percentile(values, q)


@given(st.lists(st.floats(0, 1e7), min_size=1, max_size=50))
def test_p50_and_p95_lie_within_the_values_in_order(values):
    p50, p95 = stats.percentile(values, 50), stats.percentile(values, 95)
    assert min(values) - 1e-6 <= p50 <= p95 + 1e-6
    assert p95 <= max(values) + 1e-6


def test_summaries_by_key_are_sorted_and_counted():
    summary = stats.summarize_by([("Bo", 120.0), ("Ana", 60.0), ("Bo", 300.0), ("Ana", 600.0)])
    assert list(summary) == ["Ana", "Bo"]
    assert (summary["Ana"].count, summary["Ana"].p50) == (2, 330.0)
    assert summary["Ana"].p95 == pytest.approx(573.0)
    assert stats.summarize([]) is None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"APPROVE": 2, "EDIT": 1, "REJECT": 1}, {"APPROVE": 0.5, "EDIT": 0.25, "REJECT": 0.25}),
        ({"APPROVE": 0, "EDIT": 0, "REJECT": 0}, {"APPROVE": 0.0, "EDIT": 0.0, "REJECT": 0.0}),
    ],
)
def test_rates(counts, expected):
    assert stats.rates(counts) == expected


@pytest.mark.parametrize(
    ("at_start", "changes", "buckets", "expected"),
    [
        # nothing happens: the depth carries through every bucket
        (2, [], 3, [(2, 2), (2, 2), (2, 2)]),
        # three arrive in the first hour, two leave in it: ends at 1, peaked at 3
        (0, [(0, 1), (1, 1), (2, 1), (3, -1), (4, -1)], 2, [(1, 3), (1, 1)]),
        # a change exactly at a bucket's start belongs to that bucket
        (1, [(60, 1), (61, -2)], 2, [(1, 1), (0, 2)]),
        # the peak is the most within the bucket, not at its end
        (0, [(70, 1), (80, 1), (90, -1), (100, -1)], 3, [(0, 0), (0, 2), (0, 0)]),
    ],
)
def test_queue_depth_per_bucket(at_start, changes, buckets, expected):
    moves = [(T0 + timedelta(minutes=m), d) for m, d in changes]
    points = stats.queue_depth(at_start, moves, T0, T0 + buckets * HOUR, HOUR)
    assert [(p.depth, p.peak) for p in points] == expected
    assert [p.start for p in points] == [T0 + i * HOUR for i in range(buckets)]


def test_queue_depth_needs_a_positive_step():
    with pytest.raises(ValueError):
        stats.queue_depth(0, [], T0, T0 + HOUR, timedelta(0))


@pytest.mark.parametrize(
    ("before", "after", "distance", "share"),
    [
        ("", "", 0, 0.0),
        ("Open 9 to 5.", "Open 9 to 5.", 0, 0.0),
        ("kitten", "sitting", 3, 3 / 7),
        ("", "Hi", 2, 1.0),
        ("Yes, we are open 9 to 5.", "Yes, we are open 9 to 6.", 1, 1 / 24),
        ("Nous ouvrons à 9 h.", "Nous ouvrons à 10 h.", 2, 2 / 20),
    ],
)
def test_edit_size_is_the_levenshtein_distance(before, after, distance, share):
    size = stats.edit_size(before, after)
    assert size.distance == distance
    assert size.share == pytest.approx(share)


@pytest.mark.parametrize(
    ("share", "bucket"),
    [
        (0.0, "up to 10%"),
        (0.1, "up to 10%"),
        (0.11, "10–25%"),
        (0.25, "10–25%"),
        (0.5, "25–50%"),
        (0.51, "over 50%"),
        (1.0, "over 50%"),
    ],
)
def test_change_buckets(share, bucket):
    assert stats.change_bucket(share) == bucket


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (42, "42 s"),
        (60, "1 min"),
        (330, "5.5 min"),
        (291, "4.8 min"),
        (600, "10 min"),
        (3600, "1 h"),
        (5400, "1.5 h"),
        (86400 * 2.5, "2.5 d"),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert stats.duration(seconds) == text


@pytest.mark.parametrize(
    ("highest", "steps", "expected"),
    [
        (0, stats.COUNT_STEPS, [0, 1]),
        (1, stats.COUNT_STEPS, [0, 1]),
        (3, stats.COUNT_STEPS, [0, 1, 2, 3]),
        (7, stats.COUNT_STEPS, [0, 2, 4, 6, 8]),
        (48, stats.COUNT_STEPS, [0, 10, 20, 30, 40, 50]),
        (552, stats.DURATION_STEPS, [0, 120, 240, 360, 480, 600]),
        (40, stats.DURATION_STEPS, [0, 10, 20, 30, 40]),
    ],
)
def test_axis_ticks_are_round_numbers(highest, steps, expected):
    assert stats.axis_ticks(highest, steps) == expected


@given(st.floats(0, 1e9))
def test_axis_ticks_cover_the_highest_value_in_at_most_five_steps(highest):
    ticks = stats.axis_ticks(highest)
    assert ticks[0] == 0 and ticks[-1] >= highest and len(ticks) <= 6


@pytest.mark.anyio
async def test_the_queue_rebuilt_from_the_audit_log_matches_the_queue(db):
    """Arrivals, a pause and a resume, an edit and an approval, each seen in the depth.

    Each step is a second apart, as a person's clicks are: the moves of one thread within
    one second are netted (an edit's new version in, old one out, in one transaction).
    """
    base = datetime.now(UTC).replace(microsecond=0) - HOUR
    window = (base - HOUR, base + 2 * HOUR, timedelta(minutes=1))
    steps = iter(range(1, 100))

    async def depth() -> tuple[int, int]:
        data = await load_stats(db, *window)
        return data.depth[-1].depth, data.pending_now

    with time_machine.travel(base, tick=False) as clock:

        def tick() -> None:
            clock.move_to(base + timedelta(seconds=next(steps)))

        ana = await make_reviewer(db)
        first = await make_draft(db, await make_inbound(db, "+14155550101"))
        tick()
        await make_draft(db, await make_inbound(db, "+14155550102"))
        assert await depth() == (2, 2)
        tick()
        await review.pause_thread(db, "+14155550101", "checking", ana.id)
        assert await depth() == (1, 1)
        tick()
        await review.resume_thread(db, "+14155550101", ana.id)
        assert await depth() == (2, 2)
        tick()
        edited = await review.edit(
            db, first, "Open till 6.", review.Decision(ana.id, DecisionChannel.WEB), approve=False
        )
        assert await depth() == (2, 2)  # one version left the queue, the next took its place
        tick()
        await review.approve(db, edited, review.Decision(ana.id, DecisionChannel.WEB))
        assert await depth() == (1, 1)
        tick()
        await make_draft(db, await make_inbound(db, "+14155550102", "And Sunday?"))
        assert await depth() == (1, 1)  # the newer draft replaced the older one

    data = await load_stats(db, *window)
    assert max(point.peak for point in data.depth) == 2
    assert (data.edits.count, (data.edits.median_distance or 0) > 0) == (1, True)
