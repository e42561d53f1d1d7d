"""Failed sign-in limits, per account and per client address, that hold under any concurrency.

Each attempt is reserved in the database, in one write transaction that checks the limits
and inserts the attempt's row, before its password is checked: however many requests
arrive together, no more than the limit are ever checked. A reserved attempt counts as a
failure until its password is found to match (see `forgive`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .models import iso
from .store import Tx
from .store import reviewers as reviewer_rows

# attempts that did not sign in allowed within the window before further tries are refused
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
LIMIT_WINDOW = timedelta(minutes=15)
# old rows deleted per reservation: more than the one row it adds, so the table stays small
PRUNE_BATCH = 100


class SignInRefused(Exception):
    """Too many attempts lately: try again in `wait_seconds`.

    Not a frozen dataclass: raising an exception assigns its `__traceback__`, which a
    frozen one refuses (PostgreSQL's writer re-raises it through a context manager).
    """

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(wait_seconds)
        self.wait_seconds = wait_seconds


def retry_after(
    newest_first: list[datetime], limit: int, window: timedelta, now: datetime
) -> int | None:
    """Seconds until another try is allowed, or None when one is allowed now.

    `newest_first` are the attempt times within the window; tries are refused while
    `limit` of them are younger than `window`.
    """
    recent = [t for t in newest_first if now - t < window]
    if len(recent) < limit:
        return None
    frees_at = recent[limit - 1] + window
    return max(1, int((frees_at - now).total_seconds() + 0.999))


def wait_seconds(conn: Tx, account: str, address: str, now: datetime) -> int | None:
    """How long this account or address must wait before trying again, if at all."""
    since = iso(now - LIMIT_WINDOW)
    waits = []
    for column, value, limit in (
        ("account", account, ACCOUNT_LIMIT),
        ("address", address, ADDRESS_LIMIT),
    ):
        times = [
            datetime.fromisoformat(t)
            for t in reviewer_rows.recent_attempts(conn, column, value, since, limit)
        ]
        wait = retry_after(times, limit, LIMIT_WINDOW, now)
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def reserve(conn: Tx, account: str, address: str, now: datetime) -> int:
    """Check the limits and record the attempt, in the caller's write transaction.

    Returns the attempt's id; raises SignInRefused, recording nothing, when the account
    or the address has used its allowance. Prunes a bounded batch of expired rows.
    """
    reviewer_rows.lock_attempts(conn, account, address)
    wait = wait_seconds(conn, account, address, now)
    if wait is not None:
        raise SignInRefused(wait)
    reviewer_rows.prune_attempts(conn, iso(now - LIMIT_WINDOW), PRUNE_BATCH)
    return reviewer_rows.add_attempt(conn, account, address, iso(now))


def forgive(conn: Tx, account: str, attempt_id: int) -> None:
    """Clear a signed-in account's attempts up to and including this one.

    Attempts reserved after it (guesses still in flight) keep counting.
    """
    reviewer_rows.forgive_attempts(conn, account, attempt_id)
