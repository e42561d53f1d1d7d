"""Issuing a code is a lookup of one candidate; spent codes are pruned, and then unknown.

What is taken comes from DESIGN's rule for codes: a code names one draft while that draft
waits on someone, and is not handed out again for 30 days after it was issued.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from approval_bot import draft_codes, draft_notices, reviewer_sms
from approval_bot.models import now_iso
from approval_bot.store import Store, Tx
from approval_bot.store.sql import sql
from tests.builders import make_draft, make_inbound, make_reviewer
from tests.history_seed import REVIEWERS, seed_history

pytestmark = pytest.mark.anyio
OLD = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="microseconds")
RECENT = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="microseconds")


async def coded(db: Store, n: int, code: str, status: str, issued_at: str) -> str:
    """A draft in `status` whose code `code` was issued at `issued_at`."""
    draft = await make_draft(db, await make_inbound(db, f"+1415555{n:04d}"))

    def body(conn: Tx) -> None:
        conn.execute("UPDATE messages SET status = ? WHERE id = ?", (status, draft))
        conn.execute(
            "INSERT INTO draft_codes (code, message_id, issued_at) VALUES (?, ?, ?)",
            (code, draft, issued_at),
        )

    await db.write(body)
    return draft


async def spread(db: Store) -> None:
    """Codes of every kind: waiting on someone, in the quiet period, and spent."""
    await coded(db, 1, "AAAA", "DRAFT_PENDING_APPROVAL", OLD)
    await coded(db, 2, "BBBB", "PAUSED_THREAD", OLD)
    await coded(db, 3, "CCCC", "APPROVED_TO_SEND", OLD)
    await coded(db, 4, "DDDD", "SENT", RECENT)
    await coded(db, 5, "EEEE", "SENT", OLD)
    await coded(db, 6, "FFFF", "SUPERSEDED", OLD)
    await coded(db, 7, "GGGG", "REJECTED", OLD)


async def codes(db: Store) -> set[str]:
    return {row["code"] for row in await db.fetchall("SELECT code FROM draft_codes")}


async def test_a_taken_candidate_is_drawn_again(db):
    await spread(db)
    draft = await make_draft(db, await make_inbound(db, "+14155559999"))
    draws = iter(["AAAA", "BBBB", "CCCC", "DDDD", "EEEE"])
    code = await db.write(
        lambda conn: draft_notices.issue_code(conn, draft, draw=lambda: next(draws))
    )
    assert code == "EEEE"  # spent 40 days ago: free again
    rows = await db.fetchall("SELECT message_id FROM draft_codes WHERE code = 'EEEE'")
    assert draft in {row["message_id"] for row in rows}


async def test_when_every_candidate_is_taken_the_error_says_so(db):
    await spread(db)
    draft = await make_draft(db, await make_inbound(db, "+14155559999"))
    with pytest.raises(draft_notices.NoFreeCode, match="no free draft code in 32 tries"):
        await db.write(
            lambda conn: draft_notices.issue_code(
                conn, draft, draw=itertools.repeat("AAAA").__next__
            )
        )
    assert len(await codes(db)) == 7  # nothing was bound


async def _work(db: Store) -> int:
    """How many SQLite VM instructions (in hundreds) issuing one code takes."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    draft = await make_draft(db, await make_inbound(db, "+14155559998"))

    def measured(conn: Tx) -> None:
        conn._conn.set_progress_handler(count, 100)
        try:
            draft_notices.issue_code(conn, draft)
        finally:
            conn._conn.set_progress_handler(None, 100)

    def undo(conn: Tx) -> None:  # the next measurement starts from the same state
        conn.execute("DELETE FROM draft_codes WHERE message_id = ?", (draft,))
        conn.execute("UPDATE messages SET status = 'REJECTED' WHERE id = ?", (draft,))

    await db.write(measured)
    await db.write(undo)
    return steps


async def test_issuing_a_code_takes_the_same_work_however_many_were_issued(db):
    for name, phone in (("Ana", REVIEWERS[0][1]), ("Bob", REVIEWERS[1][1])):
        await make_reviewer(db, name, phone=phone)
    seed_history(str(db.path), threads=20, rounds=6, days=20)  # ~150 codes in the quiet period
    small = await _work(db)
    seed_history(str(db.path), threads=400, rounds=6, days=20, first=20)  # ~20 times as many
    large = await _work(db)
    # one lookup per candidate; a rare collision doubles it, reading every code is ~20×
    assert large < 3 * max(small, 1), (small, large)


async def test_pruning_removes_only_spent_codes_in_batches(db, monkeypatch):
    await spread(db)
    monkeypatch.setattr(draft_codes, "PRUNE_BATCH", 1)
    assert await draft_codes.prune_codes(db) == 3
    assert await codes(db) == {"AAAA", "BBBB", "CCCC", "DDDD"}
    assert await draft_codes.prune_codes(db) == 0


async def test_a_pruned_code_answers_as_an_unknown_code_does(db):
    ana = await make_reviewer(db, "Ana", phone="+14155550111")
    await spread(db)
    await draft_codes.prune_codes(db)
    pruned = await reviewer_sms.answer(db, ana, "A EEEE")
    unknown = await reviewer_sms.answer(db, ana, "A HHHH")
    assert pruned.text == "No draft EEEE. Open: AAAA."
    assert unknown.text == "No draft HHHH. Open: AAAA."


async def test_two_issuers_at_once_never_share_a_code(store):
    """Two drafts announced at the same moment (two instances on one PostgreSQL) both draw
    AAAA: the second waits for the first and, once AAAA is taken, draws again."""
    first = await make_draft(store, await make_inbound(store, "+14155550001"))
    second = await make_draft(store, await make_inbound(store, "+14155550002"))
    first_in, second_done = threading.Event(), threading.Event()

    def issue_first(conn: Tx) -> str:
        code = draft_notices.issue_code(conn, first, draw=lambda: "AAAA")
        first_in.set()
        second_done.wait(2)  # still open while the second issues (on SQLite it must wait)
        return code

    def issue_second(conn: Tx) -> str:
        draws = iter(["AAAA", "BBBB"])
        code = draft_notices.issue_code(conn, second, draw=lambda: next(draws))
        second_done.set()
        return code

    one = asyncio.ensure_future(store.write(issue_first))
    await asyncio.to_thread(first_in.wait, 5)
    two = await store.write(issue_second)
    assert (await one, two) == ("AAAA", "BBBB")


async def test_a_code_taken_by_a_live_draft_cannot_be_stored_twice(store):
    """Whatever a writer read, the database holds one row per code."""
    first = await make_draft(store, await make_inbound(store, "+14155550001"))
    second = await make_draft(store, await make_inbound(store, "+14155550002"))
    insert = sql("INSERT INTO draft_codes (code, message_id, issued_at) VALUES ('AAAA', :m, :at)")
    await store.write(lambda conn: conn.run(insert, m=first, at=now_iso()))
    with pytest.raises(Exception, match="(?i)unique"):
        await store.write(lambda conn: conn.run(insert, m=second, at=now_iso()))
