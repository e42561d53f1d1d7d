"""Pause kinds: what paused a thread decides what lifts the pause (reviewer, escalation,
opt_out; counters and opt_out_request are the conversation rules', tested with them)."""

from __future__ import annotations

import uuid

import pytest

from approval_bot import inbound, review, workflow
from approval_bot.inbound import InboundSms
from approval_bot.models import Channel, DecisionChannel, MessageStatus, PauseKind
from approval_bot.store import SqliteStore, Store, Tx, load_migrations
from tests.builders import BUSINESS, make_draft, make_inbound, make_reviewer, status_of

pytestmark = pytest.mark.anyio

THREAD = "+14155550100"
S = MessageStatus


async def controls(db: Store) -> tuple[int, str | None, int]:
    row = await db.fetchone(
        """
        SELECT thread_controls.paused, thread_controls.pause_kind, conversations.opted_out
        FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?
        """,
        (THREAD,),
    )
    assert row is not None
    return row["paused"], row["pause_kind"], row["opted_out"]


async def text(db: Store, body: str) -> inbound.Received:
    sms = InboundSms("SM" + uuid.uuid4().hex, THREAD, BUSINESS, body, Channel.SMS)
    return await inbound.receive_sms(db, sms)


@pytest.fixture
async def ana(db):
    return await make_reviewer(db, "Ana")


@pytest.fixture
async def draft(db):
    return await make_draft(db, await make_inbound(db, THREAD))


async def test_a_reviewers_pause_is_lifted_by_resume_and_not_by_the_customers_start(db, ana, draft):
    await review.pause_thread(db, THREAD, "checking the order", ana.id)
    assert await controls(db) == (1, "reviewer", 0)

    await text(db, "STOP")  # already paused: the pause stays the reviewer's
    assert await controls(db) == (1, "reviewer", 1)
    await text(db, "START")
    assert await controls(db) == (1, "reviewer", 0)
    assert await status_of(db, draft) == S.PAUSED_THREAD

    await review.resume_thread(db, THREAD, ana.id)
    assert await controls(db) == (0, None, 0)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL


async def test_an_escalation_is_lifted_by_resume_and_not_by_the_customers_start(db, ana, draft):
    await review.escalate(db, THREAD, "wants a refund", ana.id)
    assert await controls(db) == (1, "escalation", 0)

    await text(db, "STOP")
    await text(db, "START")
    assert await controls(db) == (1, "escalation", 0)

    await review.resume_thread(db, THREAD, ana.id)
    assert await controls(db) == (0, None, 0)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL


async def test_escalating_a_paused_thread_keeps_the_pause_it_had(db, ana, draft):
    await review.pause_thread(db, THREAD, "checking the order", ana.id)
    await review.escalate(db, THREAD, "wants a refund", ana.id)
    assert await controls(db) == (1, "reviewer", 0)


async def test_stop_pauses_as_an_opt_out_that_only_the_customers_start_lifts(db, ana, draft):
    assert (await text(db, "STOP")).outcome is inbound.Outcome.OPTED_OUT
    assert await controls(db) == (1, "opt_out", 1)
    assert await status_of(db, draft) == S.PAUSED_THREAD
    with pytest.raises(review.ThreadClosed):
        await review.resume_thread(db, THREAD, ana.id)

    assert (await text(db, "START")).outcome is inbound.Outcome.OPTED_IN
    assert await controls(db) == (0, None, 0)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))


async def test_lifting_a_pause_of_another_kind_is_a_conflict_and_changes_nothing(db, ana, draft):
    await review.pause_thread(db, THREAD, "checking the order", ana.id)

    def lift(conn: Tx) -> None:
        workflow.set_paused(conn, THREAD, paused=False, kind=PauseKind.OPT_OUT)

    with pytest.raises(workflow.Conflict, match="opt_out"):
        await db.write(lift)
    assert await controls(db) == (1, "reviewer", 0)


async def test_the_migration_gives_existing_pauses_their_kind_from_the_reason(db_path):
    migrations = load_migrations()
    (pause_kind,) = [m for m in migrations if m.name == "pause_kind"]
    db = await SqliteStore.open(db_path)
    try:
        await db.migrate([m for m in migrations if m.version < pause_kind.version])
        reasons = {
            "+14155550101": "opt-out",
            "+14155550102": "the customer opted out (Twilio 21610)",
            "+14155550103": "escalated: wants a refund",
            "+14155550104": "paused by SMS",
            "+14155550105": None,
        }

        def seed(conn: Tx) -> None:
            for thread, reason in reasons.items():
                conn.execute(
                    """
                    INSERT INTO conversations (thread_id, channel, state, last_activity_at,
                                               created_at)
                    VALUES (?, 'sms', 'ACTIVE', '2024-01-01', '2024-01-01')
                    """,
                    (thread,),
                )
                conn.execute(
                    """
                    INSERT INTO thread_controls (thread_id, paused, paused_reason, last_updated)
                    VALUES (?, ?, ?, '2024-01-01')
                    """,
                    (thread, int(reason is not None), reason),
                )

        await db.write(seed)
        await db.migrate()
        rows = await db.fetchall("SELECT thread_id, pause_kind FROM thread_controls")
    finally:
        await db.close()
    assert {row["thread_id"]: row["pause_kind"] for row in rows} == {
        "+14155550101": "opt_out",
        "+14155550102": "opt_out",
        "+14155550103": "escalation",
        "+14155550104": "reviewer",
        "+14155550105": None,
    }
