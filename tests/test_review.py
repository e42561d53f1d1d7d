"""Review actions: what a reviewer's decision does to drafts, threads and the records."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from approval_bot import review, workflow
from approval_bot.models import DecisionChannel, MessageStatus, PauseKind, now_iso
from approval_bot.store import Tx, sql
from approval_bot.store import messages as message_rows
from tests.builders import first_start, make_draft, make_inbound, make_reviewer, status_of

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


@pytest.fixture(autouse=True)
async def started(db) -> None:
    """The database as the app's first start leaves it (sandbox: the sending gate open)."""
    await first_start(db)


S = MessageStatus
THREAD = "+14155550100"


async def test_approve_records_who_where_and_why(db):
    ana = await make_reviewer(db, "Ana", phone="+14155550111")
    draft = await make_draft(db, await make_inbound(db, THREAD))

    decision = review.Decision(ana.id, DecisionChannel.SMS, reviewer_phone=ana.phone, notes="ok")
    await review.approve(db, draft, decision)

    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    (approval,) = await db.all(sql("SELECT * FROM approvals WHERE draft_id = :id"), id=draft)
    assert (approval["action"], approval["channel"], approval["reviewer_id"]) == (
        "APPROVE",
        "sms",
        ana.id,
    )
    assert (approval["reviewer_phone"], approval["notes"]) == ("+14155550111", "ok")
    (entry,) = await db.all(
        sql("SELECT * FROM audit_log WHERE message_id = :id AND event = 'Approved'"), id=draft
    )
    assert (entry["actor"], entry["actor_id"]) == ("Human", ana.id)


async def test_a_decision_reads_the_status_a_concurrent_one_left(db):
    # the funnel checks the status, then moves it: on PostgreSQL two transactions run at
    # once, so the check locks the row and the second waits for the first to end
    draft = await make_draft(db, await make_inbound(db, THREAD))
    checked = threading.Event()

    def status_in(conn: Tx) -> str:
        row = message_rows.state(conn, draft)
        assert row is not None
        return row.status

    def first(conn: Tx) -> None:
        assert status_in(conn) == S.DRAFT_PENDING_APPROVAL
        checked.set()
        time.sleep(0.3)  # the second transaction's check comes now
        message_rows.set_status(
            conn,
            draft,
            expected=S.DRAFT_PENDING_APPROVAL,
            target=S.APPROVED_TO_SEND,
            now=now_iso(),
            fields={},
        )

    def second(conn: Tx) -> str:
        assert checked.wait(10)
        return status_in(conn)

    _, seen = await asyncio.gather(db.write(first), db.write(second))
    assert seen == S.APPROVED_TO_SEND


async def test_reject_sends_the_customer_message_back_to_review(db):
    ana = await make_reviewer(db)
    inbound = await make_inbound(db, THREAD)
    draft = await make_draft(db, inbound)

    await review.reject(db, draft, review.Decision(ana.id, DecisionChannel.WEB, notes="wrong"))

    assert await status_of(db, draft) == S.REJECTED
    assert await status_of(db, inbound) == S.NEEDS_REVIEW
    (approval,) = await db.all(sql("SELECT * FROM approvals WHERE draft_id = :id"), id=draft)
    assert (approval["action"], approval["notes"]) == ("REJECT", "wrong")


@pytest.mark.parametrize("approve", [False, True])
async def test_edit_keeps_the_original_and_makes_a_new_version(db, approve):
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD), "Open 9-5")

    new = await review.edit(
        db,
        draft,
        "We are open 9 to 5 🙂",
        review.Decision(ana.id, DecisionChannel.WEB),
        approve=approve,
    )

    old_row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=draft)
    new_row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=new)
    assert old_row["status"] == S.SUPERSEDED and old_row["superseded_by"] == new
    assert old_row["body"] == "Open 9-5"
    assert new_row["body"] == "We are open 9 to 5 🙂"
    assert new_row["draft_version"] == 2
    assert new_row["in_reply_to_id"] == old_row["in_reply_to_id"]
    assert new_row["status"] == (S.APPROVED_TO_SEND if approve else S.DRAFT_PENDING_APPROVAL)
    approvals = await db.all(sql("SELECT action FROM approvals WHERE draft_id = :id"), id=new)
    assert [row["action"] for row in approvals] == (["EDIT"] if approve else [])


async def test_a_superseded_version_cannot_be_approved_or_edited(db):
    ana = await make_reviewer(db, "Ana")
    bob = await make_reviewer(db, "Bob")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    await review.edit(
        db, draft, "better", review.Decision(ana.id, DecisionChannel.WEB), approve=False
    )

    with pytest.raises(workflow.Conflict, match="SUPERSEDED.*Ana"):
        await review.approve(db, draft, review.Decision(bob.id, DecisionChannel.SMS))
    with pytest.raises(workflow.Conflict):
        await review.edit(
            db, draft, "mine", review.Decision(bob.id, DecisionChannel.WEB), approve=True
        )
    assert not await db.all(sql("SELECT 1 FROM approvals"))


async def test_an_empty_edit_or_reply_is_refused_and_changes_nothing(db):
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD))
    with pytest.raises(review.EmptyReply):
        await review.edit(
            db, draft, "   ", review.Decision(ana.id, DecisionChannel.WEB), approve=True
        )
    with pytest.raises(review.EmptyReply):
        await review.write_reply(db, THREAD, "\n", ana.id, in_reply_to_id=None)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert len(await db.all(sql("SELECT 1 FROM messages"))) == 2


async def test_an_edit_or_reply_with_a_nul_is_refused_on_both_backends(db):
    # PostgreSQL's text columns refuse NUL: refused before the database, never a 500
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD))
    with pytest.raises(review.UnsendableText, match="NUL"):
        await review.edit(
            db, draft, "ok\x00", review.Decision(ana.id, DecisionChannel.WEB), approve=False
        )
    with pytest.raises(review.UnsendableText, match="NUL"):
        await review.write_reply(db, THREAD, "a\x00b", ana.id, in_reply_to_id=None)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert len(await db.all(sql("SELECT 1 FROM messages"))) == 2


async def test_a_human_reply_replaces_the_open_drafts_of_the_thread(db):
    ana = await make_reviewer(db)
    inbound = await make_inbound(db, THREAD)
    draft = await make_draft(db, inbound)

    reply = await review.write_reply(db, THREAD, "Call us", ana.id, in_reply_to_id=inbound)

    row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=reply)
    assert (row["type"], row["status"], row["receiver"]) == ("OUTBOUND", S.APPROVED_TO_SEND, THREAD)
    assert await status_of(db, draft) == S.SUPERSEDED
    superseded = await db.one(sql("SELECT superseded_by FROM messages WHERE id = :id"), id=draft)
    assert superseded["superseded_by"] == reply


async def test_pause_holds_open_replies_and_resume_sends_them_back_to_review(db):
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD))
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))

    await review.pause_thread(db, THREAD, "customer called", ana.id)
    assert await status_of(db, draft) == S.PAUSED_THREAD

    await review.resume_thread(db, THREAD, ana.id)
    # approved before the pause, but it goes back to a human, never straight out
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    held = await db.one(
        sql("SELECT metadata FROM audit_log WHERE message_id = :id AND event = 'Held By Pause'"),
        id=draft,
    )
    assert json.loads(held["metadata"])["reason"] == "customer called"


async def test_an_opted_out_thread_is_not_resumed_by_a_reviewer(db):
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD))

    def change(conn: Tx) -> Any:
        workflow.set_opted_out(conn, THREAD, opted_out=True, source="STOP")
        review.hold_thread(conn, THREAD, "opt-out", None, kind=PauseKind.OPT_OUT)

    await db.write(change)

    with pytest.raises(review.ThreadClosed, match="opted out"):
        await review.resume_thread(db, THREAD, ana.id)
    with pytest.raises(review.ThreadClosed):
        await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
    assert await status_of(db, draft) == S.PAUSED_THREAD


async def test_escalate_pauses_and_flags_in_one_transaction(db):
    ana = await make_reviewer(db)
    draft = await make_draft(db, await make_inbound(db, THREAD))

    await review.escalate(db, THREAD, "wants a refund", ana.id)

    assert await status_of(db, draft) == S.PAUSED_THREAD
    row = await db.one(
        sql(
            """
            SELECT conversations.state, conversations.attention_reason, thread_controls.paused
            FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = :thread
            """
        ),
        thread=THREAD,
    )
    assert row is not None
    assert (row["state"], row["attention_reason"], row["paused"]) == (
        "NEEDS_ATTENTION",
        "wants a refund",
        1,
    )
    events = [
        r["event"]
        for r in await db.all(
            sql("SELECT event FROM audit_log WHERE actor_id = :id ORDER BY id"), id=ana.id
        )
    ]
    assert events == ["Thread Paused", "Held By Pause", "Conversation Needs Attention"]


async def test_escalating_a_paused_thread_only_flags_it(db):
    ana = await make_reviewer(db)
    await make_inbound(db, THREAD)
    await review.pause_thread(db, THREAD, "busy", ana.id)

    await review.escalate(db, THREAD, "legal", ana.id)

    row = await db.one(
        sql("SELECT paused_reason FROM thread_controls WHERE thread_id = :thread"), thread=THREAD
    )
    assert row is not None and row["paused_reason"] == "busy"


@pytest.mark.parametrize(
    ("thread", "reason", "error"),
    [
        (THREAD, "  ", review.EmptyReply),
        ("+19999999999", "why", workflow.UnknownRecord),
    ],
)
async def test_escalate_refuses_and_changes_nothing(db, thread, reason, error):
    await make_inbound(db, THREAD)
    before = await db.all(sql("SELECT id FROM audit_log ORDER BY id"))
    with pytest.raises(error):
        await review.escalate(db, thread, reason, None)
    assert await db.all(sql("SELECT id FROM audit_log ORDER BY id")) == before
