"""Claims on pending drafts (`draft_claims`): who is working on one, since and until when."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Tx
from .sql import sql


@dataclass(frozen=True)
class Claim:
    """A live claim: the draft, the reviewer working on it, since and until when."""

    draft_id: str
    reviewer_id: int
    reviewer_name: str
    claimed_at: str
    expires_at: str

    @property
    def until(self) -> str:
        """Its expiry as a reviewer reads it: '14:07 UTC'."""
        return f"{self.expires_at[11:16]} UTC"

    def words(self) -> str:
        """'Ana is editing this draft (until 14:07 UTC)'."""
        return f"{self.reviewer_name} is editing this draft (until {self.until})"


_LIVE = sql(
    """
    SELECT draft_claims.draft_id, draft_claims.reviewer_id, draft_claims.claimed_at,
           draft_claims.expires_at, reviewers.name
    FROM draft_claims
    JOIN reviewers ON reviewers.id = draft_claims.reviewer_id
    WHERE draft_claims.draft_id = :draft_id AND draft_claims.expires_at > :now
    """
)
_WRITE = sql(
    """
    INSERT INTO draft_claims (draft_id, reviewer_id, claimed_at, expires_at)
    VALUES (:draft_id, :reviewer_id, :since, :until)
    ON CONFLICT (draft_id) DO UPDATE SET
        reviewer_id = excluded.reviewer_id,
        claimed_at = excluded.claimed_at,
        expires_at = excluded.expires_at
    """
)
_END = sql("DELETE FROM draft_claims WHERE draft_id = :draft_id")


def live(tx: Tx, draft_id: str, now: str) -> Claim | None:
    """The draft's claim if it expires after `now` (a stored moment), else None."""
    row = tx.one(_LIVE, draft_id=draft_id, now=now)
    if row is None:
        return None
    return Claim(
        row["draft_id"], row["reviewer_id"], row["name"], row["claimed_at"], row["expires_at"]
    )


def write(tx: Tx, draft_id: str, reviewer_id: int, since: str, until: str) -> None:
    """Write the draft's claim (replacing any other)."""
    tx.run(_WRITE, draft_id=draft_id, reviewer_id=reviewer_id, since=since, until=until)


def end(tx: Tx, draft_id: str) -> None:
    """Delete the draft's claim, live or expired."""
    tx.run(_END, draft_id=draft_id)
