"""What /healthz and /metrics read: whether the database answers, the queue, the webhook
deliveries, takeovers, and the review deadlines' all-time rollups."""

from __future__ import annotations

from dataclasses import dataclass

from ...models import MessageStatus
from ..base import Reads
from ..sql import sql
from .common import hinted

_PING = sql("SELECT 1 AS ok")
_PENDING = sql(
    """
    SELECT count(*) AS depth, min(timestamp) AS oldest FROM messages
    WHERE status = :status AND type != 'INBOUND'
    """
)
# both through partial indexes: as many rows as are failed or waiting, not the history
_FAILED_DELIVERIES = hinted(
    "SELECT count(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_failed"
    " WHERE status = 'failed'"
)
_PENDING_DELIVERIES = hinted(
    "SELECT count(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_due"
    " WHERE status = 'pending'"
)
_ACTIVE_THREADS = sql(
    """
    SELECT count(*) AS threads,
           coalesce(sum(CASE WHEN thread_controls.last_takeover_at >= :since THEN 1 ELSE 0 END),
                    0) AS taken_over
    FROM conversations JOIN thread_controls USING (thread_id)
    WHERE conversations.last_activity_at >= :since
    """
)
_STEP_TOTALS = sql("SELECT step, steps FROM review_step_totals")
_WAIT_BUCKETS = sql("SELECT le, decisions, seconds FROM review_wait_buckets")


async def ping(db: Reads) -> None:
    """A trivial read: raises when the database does not answer."""
    await db.one(_PING)


@dataclass(frozen=True)
class Pending:
    """Replies pending approval: how many, and when the oldest was made (None: none)."""

    depth: int
    oldest: str | None


async def pending_replies(db: Reads) -> Pending:
    row = await db.one(_PENDING, status=MessageStatus.DRAFT_PENDING_APPROVAL)
    return Pending(int(row["depth"]), row["oldest"]) if row else Pending(0, None)


async def webhook_deliveries(db: Reads) -> tuple[int, int]:
    """How many webhook deliveries failed for good, and how many wait: (failed, pending)."""
    failed = await db.one(_FAILED_DELIVERIES)
    pending = await db.one(_PENDING_DELIVERIES)
    return (int(failed["n"]) if failed else 0, int(pending["n"]) if pending else 0)


async def takeovers_since(db: Reads, since: str) -> tuple[int, int]:
    """Threads active since `since`, and how many of them a person took over since then."""
    row = await db.one(_ACTIVE_THREADS, since=since)
    return (int(row["threads"]), int(row["taken_over"])) if row else (0, 0)


async def review_step_totals(db: Reads) -> dict[str, float]:
    """The review ladder's steps taken, all time, by step."""
    return {row["step"]: float(row["steps"]) for row in await db.all(_STEP_TOTALS)}


async def review_wait_buckets(db: Reads) -> list[tuple[str, float, float]]:
    """The decisions' waits, all time, per histogram bucket: (le, decisions, seconds)."""
    return [
        (row["le"], float(row["decisions"]), float(row["seconds"]))
        for row in await db.all(_WAIT_BUCKETS)
    ]
