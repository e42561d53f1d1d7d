"""The audit chain's head is the last lock a write transaction takes (PostgreSQL).

Appending an audit row locks the chain's one head row until the transaction ends. If that
happened at the first audited step, a transaction that audits and then locks a message row
would wait for a decision holding that row, while the decision waits for the head: a
deadlock, found by PostgreSQL only after `deadlock_timeout` (1 s), then retried. The rows
are appended when the transaction function returns, after every row lock it takes.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import psycopg
import pytest

from approval_bot import audit
from approval_bot.models import Actor
from approval_bot.store import Tx, opened
from approval_bot.store import messages as message_rows
from approval_bot.store.sql import sql
from tests.builders import make_draft, make_inbound

pytestmark = pytest.mark.anyio

THREAD = "+14155550100"
WAIT_S = 20.0


def deadlocks(url: str | Path) -> int:
    """The deadlocks PostgreSQL has broken in the database `url` names, so far."""
    with psycopg.connect(str(url)) as conn:
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])


async def test_audit_then_a_row_lock_does_not_deadlock_with_a_decision_on_that_row(
    pg_url: str,
) -> None:
    audited, locked = threading.Event(), threading.Event()
    runs = {"audit_first": 0, "lock_first": 0}

    def audit_first(tx: Tx) -> None:
        # audits the thread, then needs the draft's row that the other transaction holds
        runs["audit_first"] += 1
        audit.record(tx, audit.AuditEvent("Tested", thread_id=THREAD, metadata={"n": 1}))
        audited.set()
        assert locked.wait(WAIT_S)
        message_rows.lock(tx, draft)

    def lock_first(tx: Tx) -> None:
        # a decision: holds the draft's row, then audits
        runs["lock_first"] += 1
        assert audited.wait(WAIT_S)
        message_rows.lock(tx, draft)
        locked.set()
        audit.record(
            tx, audit.AuditEvent("Tested", actor=Actor.SYSTEM, message_id=draft, metadata={})
        )

    async with opened(pg_url) as db:
        draft = await make_draft(db, await make_inbound(db, THREAD))
        before = await db.one(sql("SELECT count(*) AS n FROM audit_log"))
        assert before is not None
        broken = deadlocks(pg_url)
        await asyncio.wait_for(asyncio.gather(db.write(audit_first), db.write(lock_first)), 60)

        assert deadlocks(pg_url) == broken  # PostgreSQL found none to break
        assert runs == {"audit_first": 1, "lock_first": 1}  # neither was run again
        after = await db.one(sql("SELECT count(*) AS n FROM audit_log"))
        assert after is not None and after["n"] == before["n"] + 2
        async with db.snapshot() as conn:
            assert (await audit.verify(conn)).ok
