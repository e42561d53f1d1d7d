"""Wake-ups that cross instances: a NOTIFY sent inside a write transaction, delivered to
every instance LISTENing (`Store.on_notify`) once the transaction commits, never when it
rolls back. PostgreSQL only: on SQLite one process owns the file and wakes its own jobs.
"""

from __future__ import annotations

from .base import Tx
from .sql import sql

# a reply became APPROVED_TO_SEND: every instance's sender looks for work now
SEND_CHANNEL = "approval_bot_send"

# pg_notify, not NOTIFY, so the statement can be prepared like every other; PostgreSQL
# folds the same notification sent twice in one transaction into one. SQLite never runs it.
_NOTIFY_SEND = sql(
    "SELECT NULL AS notified",
    postgres=f"SELECT pg_notify('{SEND_CHANNEL}', '') AS notified",
)


def notify_senders(tx: Tx) -> None:
    """Wake the sender of every instance once this transaction commits (PostgreSQL)."""
    if tx.dialect == "postgres":
        tx.one(_NOTIFY_SEND)
