"""GET /stats: how the queue and its reviewers are doing, as charts drawn on the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import stats
from ..accounts import Reviewer
from ..numbers import whole_number
from ..stats_queries import StatsData, load_stats
from . import auth, charts
from .common import render

DEFAULT_DAYS = 7
MAX_DAYS = 90
ACTION_NAMES = {"APPROVE": "approved", "EDIT": "edited and approved", "REJECT": "rejected"}


def _days(request: Request) -> int:
    raw = request.query_params.get("days", str(DEFAULT_DAYS))
    days = whole_number(raw, MAX_DAYS)
    if not days:
        raise HTTPException(400, f"days must be a whole number from 1 to {MAX_DAYS}, not {raw!r}")
    return days


def window(days: int, now: datetime) -> tuple[datetime, datetime, timedelta]:
    """The last `days` days up to the end of the current hour, and the queue chart's step."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    step = timedelta(hours=1) if days <= 7 else timedelta(hours=6)
    return end - timedelta(days=days), end, step


def _count(value: float) -> str:
    return f"{value:.0f}"


def _time_label(moment: datetime, data: StatsData) -> str:
    """Hours every 3 hours on a one-day chart; else the date at each midnight, spaced out."""
    if data.end - data.start <= timedelta(days=1):
        return moment.strftime("%H:%M") if moment.minute == 0 and moment.hour % 3 == 0 else ""
    if moment.hour or moment.minute:
        return ""
    every = max(1, (data.end - data.start).days // 8)
    return moment.strftime("%m-%d") if (moment - data.start).days % every == 0 else ""


def _percent(value: float) -> str:
    return f"{value:.0f}%"


STEP_NAMES = {
    "reminded": "reminders",
    "escalated": "escalations",
    "holding_sent": "holding replies sent",
    "holding_unavailable": "holding replies that could not be sent",
}


def _policy_charts(data: StatsData) -> dict[str, Any]:
    """The review deadlines: share decided before each step, per reviewer and overall."""
    sla = data.sla
    rows = ([("All", sla.overall)] if sla.overall else []) + list(sla.per_reviewer.items())
    return {
        "policy_chart": charts.columns(
            [(name, [s.remind_share * 100, s.escalate_share * 100]) for name, s in rows],
            ["before the reminder", "before escalation"],
            _percent,
        ),
        "policy_rows": rows,
        "steps_chart": charts.bars(
            [(label, float(sla.steps.get(step, 0))) for step, label in STEP_NAMES.items()],
            _count,
        ),
        "holding_sent": sla.steps.get("holding_sent", 0),
    }


def view(data: StatsData) -> dict[str, Any]:
    """The charts and tables of the page, from the numbers."""
    day_labels = stats.days(data.start, data.end - timedelta(microseconds=1))
    per_day = [
        (day[5:], [(s.p50 if s else None), (s.p95 if s else None)])
        for day in day_labels
        for s in [data.per_day.get(day)]
    ]
    total = sum(data.actions.values())
    shares = stats.rates(data.actions)
    return {
        "queue_chart": charts.steps(
            [(_time_label(p.start, data), float(p.peak)) for p in data.depth], _count
        ),
        "decision_chart": charts.columns(
            per_day, ["p50", "p95"], stats.duration, stats.DURATION_STEPS
        ),
        "reviewer_chart": charts.bars(
            [(name, s.p50) for name, s in data.per_reviewer.items()], stats.duration
        ),
        "change_chart": charts.columns(
            [(label, [float(n)]) for label, n in data.edits.histogram.items()],
            ["edits"],
            _count,
        ),
        "failure_chart": charts.bars([(code, float(n)) for code, n in data.failures], _count),
        "actions": [
            (ACTION_NAMES[action], n, shares[action]) for action, n in data.actions.items()
        ],
        "decided": total,
        "edit_median": data.edits.median_distance,
        "edit_share_median": data.edits.median_share,
        "peak": max((p.peak for p in data.depth), default=0),
        **_policy_charts(data),
    }


@auth.page()
async def stats_page(request: Request, reviewer: Reviewer) -> Response:
    days = _days(request)
    start, end, step = window(days, datetime.now(UTC))
    data = await load_stats(request.state.db, start, end, step)
    return render(
        request,
        "stats.html",
        {
            "view": "stats",
            "days": days,
            "choices": (1, 7, 14, 30, 90),
            "data": data,
            "duration": stats.duration,
            **view(data),
        },
    )


def routes() -> list[BaseRoute]:
    return [Route("/stats", stats_page, name="stats")]
