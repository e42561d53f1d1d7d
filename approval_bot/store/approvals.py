"""Drafts and their decisions: the `approvals` rows, and what the review actions read and
write on the way (the draft, its thread's controls, idempotency keys)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import ApprovalAction
from .base import Reads
from .sql import sql

_LATEST_DECISION = sql(
    """
    SELECT approvals.action, approvals.timestamp, reviewers.name FROM approvals
    LEFT JOIN reviewers ON reviewers.id = approvals.reviewer_id
    WHERE approvals.draft_id = :draft_id ORDER BY approvals.id DESC LIMIT 1
    """
)


@dataclass(frozen=True)
class DecisionRecord:
    """A draft's latest decision: approve, edit or reject, when, and by whom."""

    action: ApprovalAction
    timestamp: str
    name: str | None


async def latest_decision(db: Reads, draft_id: str) -> DecisionRecord | None:
    row = await db.one(_LATEST_DECISION, draft_id=draft_id)
    return (
        None
        if row is None
        else DecisionRecord(ApprovalAction(row["action"]), row["timestamp"], row["name"])
    )
