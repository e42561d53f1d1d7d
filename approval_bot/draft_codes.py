"""Which draft codes are taken, and the pruning of the ones no text can still mean.

A code is taken while its draft still waits on someone (pending, held by a pause, or
approved and not yet sent) or while it is in its quiet period; every other code is pruned
in bounded batches, so issuing a code stays a point lookup however long the history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .store import Priority, Store, Tx
from .store import codes as code_rows

# a closed draft's code is not handed out again for this long, so old texts stay unambiguous
CODE_QUIET_PERIOD = timedelta(days=30)
# small, so a batch holds the writer ~30 ms at 1M messages and decisions barely wait
PRUNE_BATCH = 100


def quiet_since(now: datetime | None = None) -> str:
    """The issue time before which a closed draft's code is free again."""
    moment = now or datetime.now(UTC)
    return (moment - CODE_QUIET_PERIOD).isoformat(timespec="microseconds")


def prune_batch(conn: Tx, since: str) -> int:
    """Delete up to PRUNE_BATCH codes of closed drafts issued before `since`; how many."""
    return code_rows.prune_closed(conn, since, PRUNE_BATCH)


async def prune_codes(db: Store) -> int:
    """Prune every code past its use, one short transaction per batch; returns how many."""
    since, pruned = quiet_since(), 0
    while True:
        count = await db.write(lambda conn: prune_batch(conn, since), priority=Priority.BULK)
        pruned += count
        if count < PRUNE_BATCH:
            return pruned
