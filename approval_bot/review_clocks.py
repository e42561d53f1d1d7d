"""The clock of each pending reply: the review policy, when each step of the ladder is due,
and what a decision measured against it (stored in `review_clocks` and its rollups).

A clock starts when a reply becomes pending and runs on across new versions of the same
reply (an edit, a regeneration: they answer the same customer text); the reply to a newer
customer text starts a new one. Business time only is counted, in BUSINESS_HOURS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from . import stats
from .business_hours import BusinessHours
from .config import Settings
from .models import ApprovalAction, SlaStep, now_iso
from .sms_text import waited_words
from .store import Tx
from .store import clocks as clock_rows

NO_REVIEWER = 0  # review_sla_days.reviewer_id of a decision without one
# the steps after which a reply is overdue: it sorts first in the queue
OVERDUE = frozenset({SlaStep.ESCALATED, SlaStep.HOLDING_SENT, SlaStep.HOLDING_UNAVAILABLE})
# the /metrics histogram of business seconds to a decision: from a minute to days
WAIT_BUCKETS = (60, 300, 600, 1200, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400)


_DONE_WORDS = {
    SlaStep.NONE: "",
    SlaStep.REMINDED: "reminded",
    SlaStep.ESCALATED: "overdue, escalated",
    SlaStep.HOLDING_SENT: "overdue, holding reply sent",
    SlaStep.HOLDING_UNAVAILABLE: "overdue, escalated (no holding reply could be sent)",
}
_NEXT_WORDS = {
    SlaStep.REMINDED: "reminder",
    SlaStep.ESCALATED: "escalates",
    SlaStep.HOLDING_SENT: "holding reply",
}
# the API's sla_step: the holding step that could not send leaves the reply escalated
API_STEPS = {
    SlaStep.NONE: "none",
    SlaStep.REMINDED: "reminded",
    SlaStep.ESCALATED: "escalated",
    SlaStep.HOLDING_SENT: "holding_sent",
    SlaStep.HOLDING_UNAVAILABLE: "escalated",
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Policy:
    """When each step of the ladder comes, in business time after the clock starts."""

    remind: timedelta
    escalate: timedelta
    holding: timedelta | None
    hours: BusinessHours

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        holding = settings.review_holding_reply_minutes
        return cls(
            timedelta(minutes=settings.review_remind_minutes),
            timedelta(minutes=settings.review_escalate_minutes),
            timedelta(minutes=holding) if holding is not None else None,
            settings.business_hours,
        )

    def steps(self) -> list[tuple[SlaStep, timedelta]]:
        """The steps in order, each with the business time after which it comes."""
        ladder = [(SlaStep.REMINDED, self.remind), (SlaStep.ESCALATED, self.escalate)]
        if self.holding is not None:
            ladder.append((SlaStep.HOLDING_SENT, self.holding))
        return ladder

    def schedule(self, started: datetime, step: SlaStep) -> tuple[SlaStep | None, datetime]:
        """The step after `step` and when it is due; with none left, when the last was due."""
        ladder = self.steps()
        done = 0 if step is SlaStep.NONE else min(_RANK[step], len(ladder))
        if done < len(ladder):
            following, after = ladder[done]
            return following, self.hours.after(started, after)
        return None, self.hours.after(started, ladder[done - 1][1])


_RANK = {
    SlaStep.NONE: 0,
    SlaStep.REMINDED: 1,
    SlaStep.ESCALATED: 2,
    SlaStep.HOLDING_SENT: 3,
    SlaStep.HOLDING_UNAVAILABLE: 3,
}
DEFAULT_POLICY = Policy(
    timedelta(minutes=10), timedelta(minutes=30), None, BusinessHours.always(ZoneInfo("UTC"))
)


def deadline(
    started_at: str | None,
    step: str | None,
    next_step: str | None,
    due_at: str | None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """A pending reply's place on the ladder for its card and the API; None without a clock.

    `label` reads e.g. "reminded · escalates in 18 min"; `due_at` is when the next step
    comes (None when none is left).
    """
    if started_at is None or step is None or due_at is None:
        return None
    done = SlaStep(step)
    coming = SlaStep(next_step) if next_step else None
    words = [_DONE_WORDS[done]] if _DONE_WORDS[done] else []
    if coming is not None:
        left = datetime.fromisoformat(due_at) - (now or datetime.now(UTC))
        minutes = left.total_seconds() / 60
        when = f"in {waited_words(minutes)}" if minutes >= 1 else "due now"
        words.append(f"{_NEXT_WORDS[coming]} {when}")
    return {
        "started_at": started_at,
        "step": API_STEPS[done],
        "due_at": due_at if coming is not None else None,
        "overdue": done in OVERDUE,
        "label": " · ".join(words),
    }


def urgency(step: SlaStep, due_at: str) -> str:
    """The queue's sort key: overdue replies first, then by when their next step is due."""
    return ("0" if step in OVERDUE else "1") + due_at


@lru_cache(maxsize=8)
def _hours(text: str, zone: str) -> BusinessHours:
    return (
        BusinessHours.parse(text, ZoneInfo(zone)) if text else BusinessHours.always(ZoneInfo(zone))
    )


def _policy_row(policy: Policy) -> dict[str, Any]:
    return {
        "remind": policy.remind.total_seconds() / 60,
        "escalate": policy.escalate.total_seconds() / 60,
        "holding": policy.holding.total_seconds() / 60 if policy.holding is not None else None,
        "hours": policy.hours.text,
        "zone": policy.hours.zone.key,
    }


def load_policy(conn: Tx) -> Policy:
    """The policy the app started with (the defaults before the first start)."""
    row = clock_rows.policy(conn)
    if row is None:
        return DEFAULT_POLICY
    holding = row.holding_minutes
    return Policy(
        timedelta(minutes=row.remind_minutes),
        timedelta(minutes=row.escalate_minutes),
        timedelta(minutes=holding) if holding is not None else None,
        _hours(row.business_hours, row.time_zone),
    )


def store_policy(conn: Tx, policy: Policy) -> int:
    """Record the policy the app starts with; if it changed, give every open clock its due
    time under it. Returns how many clocks were rescheduled."""
    values = _policy_row(policy)
    stored = clock_rows.policy(conn)
    if (
        stored is not None
        and {
            "remind": stored.remind_minutes,
            "escalate": stored.escalate_minutes,
            "holding": stored.holding_minutes,
            "hours": stored.business_hours,
            "zone": stored.time_zone,
        }
        == values
    ):
        return 0
    clock_rows.store_policy(conn, **values, now=now_iso())
    # once per change of policy (a restart with other settings): every open clock
    clocks = clock_rows.open_clocks(conn)
    for clock in clocks:
        _reschedule(conn, policy, clock.id, clock.started_at, SlaStep(clock.step))
    return len(clocks)


def _reschedule(conn: Tx, policy: Policy, clock_id: int, started_at: str, step: SlaStep) -> None:
    following, due = policy.schedule(datetime.fromisoformat(started_at), step)
    clock_rows.reschedule(
        conn,
        clock_id,
        step=step,
        next_step=following,
        due_at=_iso(due),
        urgency=urgency(step, _iso(due)),
    )


def started(conn: Tx, draft_id: str) -> None:
    """A reply became pending: a new version of the same reply moves its clock onto it;
    otherwise (a newer customer text's reply, or a reply pending again after a pause) a new
    clock starts now, closing the thread's older one."""
    draft = clock_rows.clock_start(conn, draft_id)
    running = clock_rows.running(conn, draft.thread_id)
    if running is not None:
        # a new version of the same reply; the same version pending again (released from
        # a pause, back from the sending gate) starts over
        if running.inbound_id == draft.in_reply_to_id and running.draft_id != draft_id:
            clock_rows.move_to(conn, running.id, draft_id)
            return
        close(conn, running.id)
    now = now_iso()
    following, due = load_policy(conn).schedule(datetime.fromisoformat(now), SlaStep.NONE)
    clock_rows.start(
        conn,
        thread_id=draft.thread_id,
        draft_id=draft_id,
        inbound_id=draft.in_reply_to_id,
        contact=draft.contact_count,
        started_at=now,
        next_step=following,
        due_at=_iso(due),
        urgency=urgency(SlaStep.NONE, _iso(due)),
    )


def close(conn: Tx, clock_id: int) -> None:
    """Stop a clock whose reply left the queue without a decision (replaced, held, answered)."""
    clock_rows.close(conn, clock_id, now_iso())


def decided(
    conn: Tx,
    thread_id: str,
    *,
    at: str,
    action: ApprovalAction,
    reviewer_id: int | None,
) -> None:
    """A reviewer decided the thread's pending reply: its clock stops, measured against
    the policy in business time, and the decision is counted in the rollups."""
    clock = clock_rows.running(conn, thread_id)
    if clock is None:
        return
    policy = load_policy(conn)
    took = policy.hours.open_between(
        datetime.fromisoformat(clock.started_at), datetime.fromisoformat(at)
    )
    seconds = took.total_seconds()
    clock_rows.close_decided(
        conn, clock.id, at=at, outcome=action, reviewer_id=reviewer_id, seconds=seconds
    )
    step = SlaStep(clock.step)
    clock_rows.count_decision(
        conn,
        day=at[:10],
        reviewer=reviewer_id if reviewer_id is not None else NO_REVIEWER,
        remind=int(step is SlaStep.NONE),
        escalate=int(_RANK[step] < _RANK[SlaStep.ESCALATED]),
        key=str(stats.wait_bucket(int(seconds * 1_000_000))),
    )
    bound = next((str(b) for b in WAIT_BUCKETS if seconds <= b), "+Inf")
    clock_rows.count_wait(conn, bound, seconds)


def steps_taken(conn: Tx, step: SlaStep, count: int, at: str) -> None:
    """Count `count` steps of the ladder in the day's rollup and the all-time one."""
    clock_rows.count_steps(conn, day=at[:10], step=step, steps=count)
