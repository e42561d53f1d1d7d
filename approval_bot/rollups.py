"""The rollups /stats reads, written in the transaction of each change they count.

- `queue_hours`: per UTC hour with a move, the replies waiting for a decision
  (DRAFT_PENDING_APPROVAL) at its end and the most at any moment within it. The moves of
  one write transaction are netted first: an edit's new version in and the old one out is
  no moment when two waited. Its latest row is the queue's depth now.
- `decision_days`: decisions per day, action, channel and reviewer.
- `decision_waits`: per day and reviewer, a histogram (JSON) of how long decisions waited,
  rounded by `stats.wait_bucket` (at most 475 keys), so p50 and p95 over any days come
  from a row per day and reviewer.
- `edit_days`: per day, how many edits, and histograms of the characters they changed, the
  share of the text in thousandths, and the page's change bucket.

Each write is O(1): a point lookup and an upsert on a primary key, one JSON key counted
up. Migration 0007 creates the tables and back-fills them with the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import stats
from .models import ApprovalAction, DecisionChannel, now_iso
from .store import Tx, at_transaction_end
from .store import rollups as rollup_rows

NO_REVIEWER = 0  # decision_*.reviewer_id of an approval without one (only older rows)


def hour_of(moment: str) -> str:
    """The `queue_hours.hour` of an ISO 8601 UTC moment: "YYYY-MM-DDTHH"."""
    return moment[:13]


@dataclass
class _QueueMoves:
    """The net move of the queue in one write transaction, applied as it ends."""

    net: int = 0

    def __call__(self, conn: Tx) -> None:
        if self.net:
            _move_queue(conn, self.net)


def queue_moved(conn: Tx, delta: int) -> None:
    """Count a reply into (+1) or out of (-1) the queue, once the transaction's moves are netted.

    Outside a transaction run by `Store.write` the move is counted at once.
    """
    moves = at_transaction_end("queue_moves", _QueueMoves)
    if moves is None:
        _move_queue(conn, delta)
    else:
        moves.net += delta


def _move_queue(conn: Tx, delta: int) -> None:
    latest = rollup_rows.latest_hour(conn)
    before = latest.depth if latest else 0
    # a clock set back never reopens an hour after which others were written
    hour = max(hour_of(now_iso()), latest.hour if latest else "")
    depth = before + delta
    # a new hour starts at the depth the last one left
    rollup_rows.write_hour(conn, hour, depth, max(before, depth))


def waited_micros(since: str, at: str) -> int:
    """Whole microseconds from one ISO 8601 moment to another, never below zero."""
    return max(
        0, (datetime.fromisoformat(at) - datetime.fromisoformat(since)) // timedelta(microseconds=1)
    )


def decided(
    conn: Tx,
    *,
    at: str,
    since: str,
    action: ApprovalAction,
    channel: DecisionChannel,
    reviewer_id: int | None,
    reviewer_phone: str | None,
) -> None:
    """Count a decision made at `at` on a version created at `since`."""
    reviewer = (reviewer_id, "") if reviewer_id is not None else (NO_REVIEWER, reviewer_phone or "")
    rollup_rows.count_decision(
        conn,
        day=at[:10],
        action=str(action),
        channel=str(channel),
        reviewer_id=reviewer[0],
        reviewer_phone=reviewer[1],
        wait_bucket=str(stats.wait_bucket(waited_micros(since, at))),
    )


def share_permille(size: stats.EditSize) -> int:
    """The share of the text an edit changed, in thousandths rounded half up."""
    if not size.longest:
        return 0
    return (size.distance * 2000 + size.longest) // (2 * size.longest)


def edited(conn: Tx, size: stats.EditSize) -> None:
    """Count an edit of `size` made now (its size measured before the transaction)."""
    rollup_rows.count_edit(
        conn,
        day=now_iso()[:10],
        distance=str(size.distance),
        share=str(share_permille(size)),
        change=stats.change_bucket(size.share),
    )
