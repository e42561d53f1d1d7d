"""The send-attempt columns customer messages and reviewer texts share, for either table.

Both outboxes (`messages` in APPROVED_TO_SEND, `notifications` in PENDING) are sent by the
same claim → send → record loop (`approval_bot/sending/`): a claim stamps `claimed_at` and
counts the attempt, a failure schedules `next_attempt_at`, a deferral lets the claim go.
`SendAttempts.of(table, waiting)` writes those statements once for a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Tx
from .sql import Query, sql


@dataclass(frozen=True)
class SendAttempts:
    """The claim, attempt, retry and deferral statements of one outbox table."""

    claim_query: Query
    attempt_query: Query
    retry_query: Query
    defer_query: Query

    @classmethod
    def of(cls, table: str, waiting: str) -> SendAttempts:
        """For `table`, whose rows wait to be sent in status `waiting`."""
        return cls(
            claim_query=sql(
                f"""
                UPDATE {table} SET claimed_at = :claimed_at, next_attempt_at = NULL,
                                   send_attempts = :attempts, unconfirmed_since = :unconfirmed
                WHERE id = :id AND status = '{waiting}'
                """
            ),
            attempt_query=sql(
                f"UPDATE {table} SET send_attempts = :attempts, claimed_at = :claimed_at"
                " WHERE id = :id"
            ),
            retry_query=sql(
                f"""
                UPDATE {table} SET claimed_at = NULL, next_attempt_at = :next_attempt_at,
                                   unconfirmed_since = :unconfirmed, error_code = :error_code,
                                   error_message = :error_message
                WHERE id = :id
                """
            ),
            defer_query=sql(
                f"""
                UPDATE {table} SET claimed_at = NULL, next_attempt_at = :until
                WHERE id = :id AND status = '{waiting}' AND claimed_at = :claimed_at
                """
            ),
        )

    def claim(
        self, tx: Tx, row_id: str | int, *, claimed_at: str, attempts: int, unconfirmed: str | None
    ) -> None:
        """Stamp the claim on a row still waiting, with its attempt count."""
        tx.run(
            self.claim_query,
            id=row_id,
            claimed_at=claimed_at,
            attempts=attempts,
            unconfirmed=unconfirmed,
        )

    def count_attempt(self, tx: Tx, row_id: str | int, *, attempts: int, claimed_at: str) -> None:
        tx.run(self.attempt_query, id=row_id, attempts=attempts, claimed_at=claimed_at)

    def retry_later(
        self,
        tx: Tx,
        row_id: str | int,
        *,
        next_attempt_at: str,
        unconfirmed: str | None,
        error_code: int | None,
        error_message: str | None,
    ) -> None:
        """Let the claim go and try again at `next_attempt_at`, keeping the error."""
        tx.run(
            self.retry_query,
            id=row_id,
            next_attempt_at=next_attempt_at,
            unconfirmed=unconfirmed,
            error_code=error_code,
            error_message=error_message,
        )

    def defer(self, tx: Tx, row_id: str | int, *, until: str, claimed_at: str) -> None:
        """Let a claim go until `until`, if it is still this claim."""
        tx.run(self.defer_query, id=row_id, until=until, claimed_at=claimed_at)
