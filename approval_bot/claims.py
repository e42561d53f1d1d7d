"""Claims on pending drafts: who is working on one, until when, stored in `draft_claims`.

A draft on a thread another reviewer has taken over is theirs the same way (a `Holder`,
until the release): its approval by anyone else needs the same confirmation.

A claim is live while its `expires_at` is ahead of the clock. It ends earlier when the
draft leaves the queue (the workflow funnel calls `end` on every such move: a decision, a
newer version, a pause) or with a release. The review actions (review.claim, release, and
the approvals that check `require_unclaimed`) are the only callers; these functions run
inside their write transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import audit
from .models import Actor, ClaimEvent, iso, utcnow
from .store import Tx, conversations
from .store import claims as claim_rows
from .store.claims import Claim as Claim  # the claim's dataclass lives with its rows

# what "now" is for claims; tests set a clock of their own to let claims expire
clock: Callable[[], datetime] = utcnow


def stamp(moment: datetime) -> str:
    """A moment as stored: ISO 8601 UTC with microseconds, which sorts in time order."""
    return iso(moment.astimezone(UTC))


@dataclass(frozen=True)
class Holder:
    """The reviewer who has taken the draft's thread over, since when."""

    reviewer_id: int
    reviewer_name: str
    since: str

    def words(self) -> str:
        """'Ana has this thread since 14:02 UTC'."""
        return f"{self.reviewer_name} has this thread since {self.since[11:16]} UTC"


def holder_of(conn: Tx, thread_id: str) -> Holder | None:
    """Who has taken the thread over, since when; None when nobody has."""
    thread = conversations.thread(conn, thread_id)
    if thread is None or thread.taken_over_by is None:
        return None
    return Holder(thread.taken_over_by, str(thread.holder_name), str(thread.taken_over_at))


class ClaimedByOther(Exception):
    """Another reviewer is working on the draft, or has its thread (`claim` is a Holder);
    the message names them and until or since when."""

    def __init__(self, claim: Claim | Holder) -> None:
        super().__init__(claim.words())
        self.claim = claim


def live(conn: Tx, draft_id: str, now: datetime) -> Claim | None:
    """The draft's claim if it is still live at `now`, else None."""
    return claim_rows.live(conn, draft_id, stamp(now))


def hold(
    conn: Tx,
    draft_id: str,
    reviewer_id: int,
    now: datetime,
    minutes: float,
    *,
    since: str | None = None,
) -> None:
    """Write `reviewer_id`'s claim on the draft, expiring `minutes` from `now`.

    `since` keeps the start of a claim that is only extended.
    """
    until = stamp(now + timedelta(minutes=minutes))
    claim_rows.write(conn, draft_id, reviewer_id, since or stamp(now), until)


def carry(conn: Tx, claim: Claim, draft_id: str) -> None:
    """The claimer's edit made a new version: the claim goes on, on that version."""
    claim_rows.write(conn, draft_id, claim.reviewer_id, claim.claimed_at, claim.expires_at)


def end(conn: Tx, draft_id: str) -> None:
    """The draft's claim, live or expired, is over."""
    claim_rows.end(conn, draft_id)


def record(
    conn: Tx,
    event: ClaimEvent,
    draft_id: str,
    thread_id: str,
    reviewer_id: int,
    **metadata: object,
) -> None:
    """The audit row of a claim taken, taken over or released."""
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=Actor.HUMAN,
            actor_id=reviewer_id,
            thread_id=thread_id,
            message_id=draft_id,
            metadata=metadata,
        ),
    )


def require_unclaimed(
    conn: Tx,
    draft_id: str,
    thread_id: str,
    reviewer_id: int,
    *,
    override: bool,
    action: str,
    holder: Holder | None = None,
) -> None:
    """Refuse `action` on a draft another reviewer claims, or on a thread another reviewer
    `holder` has taken over (ClaimedByOther), unless `override`.

    An override is audited as taking the claim over; the action's own move of the draft
    out of the queue then ends the claim. Over a holder's thread it is audited too (the
    takeover stays: the holder still has the thread).
    """
    if holder is not None and holder.reviewer_id != reviewer_id:
        if not override:
            raise ClaimedByOther(holder)
        record(
            conn,
            ClaimEvent.TAKEN_OVER,
            draft_id,
            thread_id,
            reviewer_id,
            from_reviewer=holder.reviewer_id,
            held_since=holder.since,
            by=action,
        )
    claim = live(conn, draft_id, clock())
    if claim is None or claim.reviewer_id == reviewer_id:
        return
    if not override:
        raise ClaimedByOther(claim)
    record(
        conn,
        ClaimEvent.TAKEN_OVER,
        draft_id,
        thread_id,
        reviewer_id,
        from_reviewer=claim.reviewer_id,
        expires_at=claim.expires_at,
        by=action,
    )
