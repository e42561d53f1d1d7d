"""The stats page's figures, from the rollups `store/views/stats.py` reads in one snapshot.

The funnel keeps the rollups (`rollups.py`) in the transaction of each change, so the page
reads a row per hour of the queue, per day, reviewer and rounded wait of the decisions, and
per day and size of the edits, however long the history. Decisions and edits are counted
by UTC day: the window's first day is counted whole.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import stats
from .models import ApprovalAction
from .rollups import hour_of
from .store import Store
from .store.views.stats import Window, rollups

HOUR = timedelta(hours=1)


def _merged(
    histograms: Iterable[tuple[Iterable[str], str]],
) -> dict[str, dict[str, int]]:
    """Per key, the sum of the JSON histograms ({value: count}) given with it; each is read
    once, however many keys it counts towards."""
    merged: dict[str, dict[str, int]] = defaultdict(dict)
    for keys, histogram in histograms:
        counts = json.loads(histogram)
        for key in keys:
            into = merged[key]
            for value, n in counts.items():
                into[value] = into.get(value, 0) + n
    return merged


def _summaries(merged: dict[str, dict[str, int]]) -> dict[str, stats.Summary]:
    """The count, p50 and p95 of each key's values, keys in sorted order."""
    summaries = {
        key: stats.summarize_counts({float(v): n for v, n in merged[key].items()})
        for key in sorted(merged)
    }
    return {key: s for key, s in summaries.items() if s is not None}


@dataclass(frozen=True)
class EditSummary:
    """How much reviewers changed drafts: how many edits, their medians, a histogram."""

    count: int = 0
    median_distance: float | None = None
    median_share: float | None = None
    histogram: dict[str, int] = field(
        default_factory=lambda: {label: 0 for label, _ in stats.CHANGE_BUCKETS}
    )


@dataclass(frozen=True)
class PolicyShare:
    """Decisions against the review policy: how many, how many came before the reminder
    and before escalation, and the business time they took."""

    decisions: int
    before_remind: int
    before_escalate: int
    business: stats.Summary | None

    @property
    def remind_share(self) -> float:
        return self.before_remind / self.decisions if self.decisions else 0.0

    @property
    def escalate_share(self) -> float:
        return self.before_escalate / self.decisions if self.decisions else 0.0


@dataclass(frozen=True)
class SlaSummary:
    """The review deadlines over the window: overall, per reviewer, and the steps taken."""

    overall: PolicyShare | None = None
    per_reviewer: dict[str, PolicyShare] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)


def _sla_summary(rows: list[Any], steps: list[Any]) -> SlaSummary:
    """The window's rows of `review_sla_days` (a row per day and reviewer) and step counts."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for key in ("", row["reviewer"]):
            counted = totals[key]
            counted[0] += int(row["decisions"])
            counted[1] += int(row["before_remind"])
            counted[2] += int(row["before_escalate"])
    merged = _merged((("", row["reviewer"]), row["waits"]) for row in rows)
    business = _summaries(merged)
    shares = {
        key: PolicyShare(decided, remind, escalate, business.get(key))
        for key, (decided, remind, escalate) in totals.items()
    }
    return SlaSummary(
        overall=shares.pop("", None),
        per_reviewer=dict(sorted(shares.items())),
        steps={str(step): int(n) for step, n in steps},
    )


@dataclass
class StatsData:
    """What the stats page shows for the window [start, end); decisions and edits by whole
    UTC days from `first_day`."""

    start: datetime
    end: datetime
    first_day: str
    depth: list[stats.DepthPoint]
    pending_now: int
    edits: EditSummary
    failures: list[tuple[str, int]]
    per_day: dict[str, stats.Summary] = field(default_factory=dict)
    per_reviewer: dict[str, stats.Summary] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    sla: SlaSummary = field(default_factory=SlaSummary)


def _hour_changes(rows: Iterable[Any], before: int) -> list[tuple[datetime, int]]:
    """Two changes per hour row, up to its peak and then to its depth at the end: the same
    depth and peak per chart bucket as the moves themselves give."""
    changes: list[tuple[datetime, int]] = []
    for hour, depth, peak in rows:
        moment = datetime.fromisoformat(f"{hour}:00:00+00:00")
        changes += [(moment, int(peak) - before), (moment, int(depth) - int(peak))]
        before = int(depth)
    return changes


async def load_stats(db: Store, start: datetime, end: datetime, step: timedelta) -> StatsData:
    """Everything the stats page shows between `start` and `end`, from one snapshot.

    `start` is on the hour and `step` whole hours, as the queue is kept per hour.
    """
    if step <= timedelta(0) or step % HOUR:
        raise ValueError("the step must be a positive number of whole hours")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start != start.replace(minute=0, second=0, microsecond=0):
        raise ValueError("the window must start on the hour")
    last = end - timedelta(microseconds=1)
    window = Window(
        start=start.isoformat(),
        end=end.isoformat(),
        start_hour=hour_of(start.isoformat()),
        last_hour=hour_of(last.isoformat()),
        first_day=start.date().isoformat(),
        last_day=last.date().isoformat(),
    )
    rows = await rollups(db, window)
    depth_at_start = rows.depth_at_start
    merged = _merged(((f"day {day}", f"by {who}"), histogram) for day, who, histogram in rows.waits)
    return StatsData(
        start=start,
        end=end,
        first_day=window.first_day,
        depth=stats.queue_depth(
            depth_at_start, _hour_changes(rows.hours, depth_at_start), start, end, step
        ),
        pending_now=rows.pending_now,
        edits=_edit_summary(rows.edits),
        failures=rows.failures,
        per_day=_summaries({k[4:]: v for k, v in merged.items() if k.startswith("day ")}),
        per_reviewer=_summaries({k[3:]: v for k, v in merged.items() if k.startswith("by ")}),
        actions={action.value: rows.actions.get(action.value, 0) for action in ApprovalAction},
        sla=_sla_summary(rows.sla, rows.steps),
    )


def _edit_summary(rows: list[Any]) -> EditSummary:
    """The edits of the window's days, from their rows of `edit_days`."""
    count = sum(int(row["edits"]) for row in rows)
    merged = _merged(
        ((column,), r[column]) for r in rows for column in ("distances", "shares", "changes")
    )
    distance = _summaries({"": merged["distances"]}).get("")
    share = _summaries({"": merged["shares"]}).get("")
    if not count or distance is None or share is None:
        return EditSummary()
    changes = merged["changes"]
    return EditSummary(
        count,
        distance.p50,
        share.p50 / 1000,  # kept in thousandths
        {label: changes.get(label, 0) for label, _ in stats.CHANGE_BUCKETS},
    )
