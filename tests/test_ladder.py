"""The review-deadline ladder with a controllable clock: remind, escalate, holding reply,
each once and in order, stopped by a decision, restarted by a newer customer text; the
holding reply once per contact and never on a paused, opted-out, taken-over or gated thread.

Policy (as the issue's defaults, with a holding reply): remind at 10 business minutes,
escalate at 30, holding reply at 45; always open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from approval_bot import (
    accounts,
    draft_notices,
    ladder,
    message_templates,
    review,
    review_clocks,
    sending_gate,
    workflow,
)
from approval_bot.business_hours import BusinessHours
from approval_bot.gateways import SendResult, TwilioGateway
from approval_bot.models import DecisionChannel, MessageStatus, Role, SlaStep
from approval_bot.retry import DEFAULT_POLICY, Outcome
from approval_bot.review_clocks import Policy
from approval_bot.sending import Sender
from approval_bot.sending.claim import Work, claim
from approval_bot.sending.message_lane import MessageLane
from approval_bot.store import Store, Tx, sql

from . import fake_twilio
from .builders import (
    BUSINESS,
    first_start,
    make_drafted_inbound,
    make_reviewer,
    status_of,
)

pytestmark = pytest.mark.anyio

CUSTOMER = "+14155550100"
ANA, BOB, ROOT = "+14155550123", "+14155550124", "+14155550125"
HOLDING = "Thanks for your message, a person will reply shortly."
POLICY = Policy(
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(minutes=45),
    BusinessHours.always(ZoneInfo("UTC")),
)


async def _setup(db: Store, *, holding: bool = True) -> dict[str, int]:
    await first_start(db)
    await db.write(lambda conn: review_clocks.store_policy(conn, POLICY))
    ana = await make_reviewer(db, "Ana", phone=ANA)
    bob = await make_reviewer(db, "Bob", phone=BOB)
    root = await make_reviewer(db, "Root", phone=ROOT, role=Role.ADMIN)
    await accounts.set_backup(db, bob.id, True, by=root.id)
    if holding:
        await message_templates.save(
            db, "holding", message_templates.Change(HOLDING), root.id, root.role
        )
        await message_templates.pre_approve(db, "holding", True, root.id, root.role)
    return {"Ana": ana.id, "Bob": bob.id, "Root": root.id}


async def _pending(db: Store, text: str = "Are you open today?", thread: str = CUSTOMER) -> str:
    """A customer text and its pending draft, announced to the reviewers as drafting does."""
    draft_id = await make_drafted_inbound(db, thread, text)
    await db.write(lambda conn: draft_notices.announce(conn, draft_id))
    return draft_id


async def _texts(db: Store, draft_id: str) -> list[tuple[str, str]]:
    rows = await db.fetchall(
        """
        SELECT reviewers.name, notifications.body FROM notifications
        JOIN reviewers ON reviewers.id = notifications.reviewer_id
        WHERE notifications.draft_id = ? AND notifications.body NOT LIKE 'Draft %'
        ORDER BY notifications.id
        """,
        (draft_id,),
    )
    return [(row["name"], row["body"]) for row in rows]


async def _steps(db: Store, draft_id: str) -> list[str]:
    rows = await db.fetchall(
        "SELECT event FROM audit_log WHERE message_id = ? AND event LIKE '%Re%' ORDER BY id",
        (draft_id,),
    )
    return [
        row["event"]
        for row in rows
        if row["event"]
        in ("Review Reminded", "Review Escalated", "Holding Reply Sent", "Holding Reply Not Sent")
    ]


async def _holding_replies(db: Store, thread: str = CUSTOMER) -> list[Any]:
    return await db.fetchall(
        "SELECT body, status FROM messages WHERE thread_id = ? AND type = 'OUTBOUND'", (thread,)
    )


async def _code(db: Store, draft_id: str) -> str:
    row = await db.fetchone("SELECT code FROM draft_codes WHERE message_id = ?", (draft_id,))
    assert row is not None
    return str(row["code"])


def _at(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def test_each_step_once_and_in_order(db):
    await _setup(db)
    draft = await _pending(db)
    code = await _code(db, draft)

    assert (await ladder.run_pass(db, _at(9))).texts == 0
    reminded = await ladder.run_pass(db, _at(11))
    assert reminded.steps[SlaStep.REMINDED] == 1
    # the three were told of the draft (each takes texts): each is reminded once
    assert await _texts(db, draft) == [
        (
            name,
            f"Reminder: draft {code} for {CUSTOMER} waiting 11 min. "
            f"Reply A {code} to send, R {code} to reject.",
        )
        for name in ("Ana", "Bob", "Root")
    ]
    assert (await ladder.run_pass(db, _at(12))).texts == 0

    escalated = await ladder.run_pass(db, _at(31))
    assert escalated.steps[SlaStep.ESCALATED] == 1
    overdue = [body for _, body in (await _texts(db, draft))[3:]]
    assert [name for name, _ in (await _texts(db, draft))[3:]] == ["Bob", "Root"]
    assert overdue[0] == (
        f"Overdue: draft {code} for {CUSTOMER} waiting 31 min.\n"
        'Draft: "Yes, 9 to 5."\n'
        f"Reply A {code} to send, R {code} to reject."
    )

    held = await ladder.run_pass(db, _at(46))
    assert held.steps[SlaStep.HOLDING_SENT] == 1
    replies = await _holding_replies(db)
    assert [(r["body"], r["status"]) for r in replies] == [(HOLDING, "APPROVED_TO_SEND")]
    assert await status_of(db, draft) == MessageStatus.DRAFT_PENDING_APPROVAL

    assert (await ladder.run_pass(db, _at(600))).texts == 0
    assert await _steps(db, draft) == ["Review Reminded", "Review Escalated", "Holding Reply Sent"]


async def test_a_long_overdue_reply_climbs_every_step_in_one_pass(db):
    await _setup(db)
    draft = await _pending(db)
    result = await ladder.run_pass(db, _at(50))
    assert [
        result.steps[s] for s in (SlaStep.REMINDED, SlaStep.ESCALATED, SlaStep.HOLDING_SENT)
    ] == [1, 1, 1]
    assert await _steps(db, draft) == ["Review Reminded", "Review Escalated", "Holding Reply Sent"]


async def test_a_decision_stops_the_ladder(db):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(11))
    await review.approve(db, draft, review.Decision(ids["Ana"], DecisionChannel.WEB))
    result = await ladder.run_pass(db, _at(60))
    assert result.texts == 0 and result.steps[SlaStep.ESCALATED] == 0
    assert await _steps(db, draft) == ["Review Reminded"]
    clock = await db.fetchone("SELECT * FROM review_clocks WHERE draft_id = ?", (draft,))
    assert (clock["outcome"], clock["reviewer_id"], clock["step"]) == (
        "APPROVE",
        ids["Ana"],
        "reminded",
    )


async def test_a_newer_customer_text_restarts_the_clock(db, monkeypatch):
    await _setup(db)
    t0 = datetime.now(UTC)
    monkeypatch.setattr(review_clocks, "now_iso", lambda: t0.isoformat(timespec="microseconds"))
    first = await _pending(db)
    await ladder.run_pass(db, t0 + timedelta(minutes=11))
    later = t0 + timedelta(minutes=20)
    monkeypatch.setattr(review_clocks, "now_iso", lambda: later.isoformat(timespec="microseconds"))
    second = await _pending(db, "Actually, are you open tomorrow?")
    assert await status_of(db, first) == MessageStatus.SUPERSEDED
    # at 31 minutes the first reply would be escalated; the new one, 11 minutes old, is
    # only reminded
    result = await ladder.run_pass(db, t0 + timedelta(minutes=31))
    assert (result.steps[SlaStep.REMINDED], result.steps[SlaStep.ESCALATED]) == (1, 0)
    assert await _steps(db, second) == ["Review Reminded"]
    assert await _steps(db, first) == ["Review Reminded"]


async def test_an_edit_keeps_the_clock_running(db):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(11))
    edited = await review.edit(
        db, draft, "Yes, 9 to 6.", review.Decision(ids["Ana"], DecisionChannel.WEB), approve=False
    )
    result = await ladder.run_pass(db, _at(31))
    # the same reply: not reminded again, escalated on time
    assert (result.steps[SlaStep.REMINDED], result.steps[SlaStep.ESCALATED]) == (0, 1)
    assert await _steps(db, edited) == ["Review Escalated"]


async def test_the_holding_reply_goes_once_per_contact(db):
    await _setup(db)
    await _pending(db)
    await ladder.run_pass(db, _at(46))
    second = await _pending(db, "Hello? Anyone?")
    result = await ladder.run_pass(db, _at(100))
    assert result.steps[SlaStep.HOLDING_UNAVAILABLE] == 1
    assert len(await _holding_replies(db)) == 1
    reason = await db.fetchone(
        "SELECT metadata ->> 'reason' AS reason FROM audit_log WHERE message_id = ? "
        "AND event = 'Holding Reply Not Sent'",
        (second,),
    )
    assert reason["reason"] == "this contact already had the holding reply"


async def test_without_a_pre_approved_holding_template_the_step_only_records_it(db):
    await _setup(db, holding=False)
    draft = await _pending(db)
    result = await ladder.run_pass(db, _at(46))
    assert result.steps[SlaStep.HOLDING_UNAVAILABLE] == 1
    assert await _holding_replies(db) == []
    assert await status_of(db, draft) == MessageStatus.DRAFT_PENDING_APPROVAL
    row = await db.fetchone(
        "SELECT metadata ->> 'reason' AS reason FROM audit_log"
        " WHERE event = 'Holding Reply Not Sent'"
    )
    assert row["reason"] == "the holding template is not pre-approved"
    assert (await ladder.run_pass(db, _at(90))).steps[SlaStep.HOLDING_UNAVAILABLE] == 0


def _opt_out(conn: Tx) -> None:
    workflow.set_opted_out(conn, CUSTOMER, opted_out=True, source="test")


def _gate_pending(conn: Tx) -> None:
    sending_gate.change(
        conn,
        actor_id=None,
        via=sending_gate.ChangedVia.CLI,
        stale_after=timedelta(hours=1),
        status=sending_gate.ComplianceStatus.PENDING,
    )


@pytest.mark.parametrize("closing", ["paused", "opted_out", "taken_over", "gated"])
async def test_never_a_holding_reply_on_a_closed_thread(db, closing):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(31))
    if closing == "paused":
        await review.pause_thread(db, CUSTOMER, "checking", ids["Root"])
    elif closing == "opted_out":
        await db.write(_opt_out)
    elif closing == "taken_over":
        await review.take_over(db, CUSTOMER, ids["Ana"])
    else:
        await db.write(_gate_pending)
    result = await ladder.run_pass(db, _at(46))
    assert result.steps[SlaStep.HOLDING_SENT] == 0
    assert await _holding_replies(db) == []
    if await status_of(db, draft) == MessageStatus.DRAFT_PENDING_APPROVAL:
        assert result.steps[SlaStep.HOLDING_UNAVAILABLE] == 1
    else:  # the reply left the queue (held by the pause): its clock stops
        assert result.closed == 1


async def _send_all(db: Store, make_settings, fake: Any) -> None:
    settings = make_settings(
        PUBLIC_BASE_URL="https://bot.example.com",
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
    )
    gateway = TwilioGateway(settings)
    try:
        await Sender(db, gateway, settings).run()
    finally:
        await gateway.aclose()


async def _holding_reply_id(db: Store) -> str:
    row = await db.one(sql("SELECT message_id FROM auto_replies WHERE trigger = 'holding'"))
    assert row is not None
    return str(row["message_id"])


@pytest.mark.both_backends
async def test_after_the_holding_reply_the_approved_answer_still_goes(db, make_settings):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(46))
    for fake in fake_twilio.running():
        await _send_all(db, make_settings, fake)
        await review.approve(db, draft, review.Decision(ids["Ana"], DecisionChannel.WEB))
        await _send_all(db, make_settings, fake)
        # the holding reply said a person would answer: the answer they approved follows
        assert [m["body"] for m in fake.accepted_to(CUSTOMER)] == [HOLDING, "Yes, 9 to 5."]
    assert await status_of(db, draft) == MessageStatus.SENT


@pytest.mark.both_backends
@pytest.mark.parametrize("decision", ["approved", "edited and approved", "answered by hand"])
async def test_a_holding_reply_still_queued_when_the_draft_is_decided_never_goes(
    db, make_settings, decision
):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(46))
    holding = await _holding_reply_id(db)
    ana = review.Decision(ids["Ana"], DecisionChannel.WEB)
    if decision == "approved":
        answer = "Yes, 9 to 5."
        await review.approve(db, draft, ana)
    elif decision == "edited and approved":  # the answer is a newer version than the holding
        answer = "Yes, 9 to 6."
        await review.edit(db, draft, answer, ana, approve=True)
    else:
        answer = "Yes, from 9."
        await review.reject(db, draft, ana)
        await review.write_reply(db, CUSTOMER, answer, ids["Ana"], in_reply_to_id=None)
    for fake in fake_twilio.running():
        await _send_all(db, make_settings, fake)
        # "a person will reply shortly" with or after the reply itself would be nonsense
        assert [m["body"] for m in fake.accepted_to(CUSTOMER)] == [answer]
    assert await status_of(db, holding) == MessageStatus.SUPERSEDED
    row = await db.one(
        sql("SELECT metadata FROM audit_log WHERE message_id = :id AND event = 'Superseded'"),
        id=holding,
    )
    assert row is not None and json.loads(row["metadata"])["reason"]


@pytest.mark.both_backends
async def test_an_answer_waits_while_the_holding_reply_is_being_sent(db, make_settings):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(46))
    lane = MessageLane(make_settings(), DEFAULT_POLICY, lambda: 0.0)
    now = datetime.now(UTC)

    async def claimed() -> list[Work]:
        work: list[Work] = await db.write(lambda conn: claim(conn, lane, now, 10))
        return work

    (holding,) = await claimed()
    assert holding.body == HOLDING
    await review.approve(db, draft, review.Decision(ids["Ana"], DecisionChannel.WEB))
    # the holding reply is on its way to Twilio: the answer is not sent beside it
    assert await claimed() == []
    accepted = SendResult(Outcome.ACCEPTED, sid="SM" + "0" * 32, status="queued")
    await db.write(lambda conn: lane.record(conn, holding, accepted, now))
    assert [work.body for work in await claimed()] == ["Yes, 9 to 5."]


@pytest.mark.both_backends
async def test_a_reminder_still_queued_when_the_draft_is_decided_is_withdrawn(db, make_settings):
    ids = await _setup(db)
    draft = await _pending(db)
    await ladder.run_pass(db, _at(31))  # reminded and escalated, nothing sent yet
    await review.approve(db, draft, review.Decision(ids["Ana"], DecisionChannel.WEB))
    answer = "Approved: the reply goes out now."
    await db.write(lambda conn: draft_notices.queue_answer(conn, ids["Bob"], answer))
    for fake in fake_twilio.running():
        await _send_all(db, make_settings, fake)
        # nobody is told a draft is waiting once it is decided; a command's answer goes
        assert [m["body"] for m in fake.accepted_to(ANA)] == []
        assert [m["body"] for m in fake.accepted_to(BOB)] == [answer]
        assert [m["body"] for m in fake.accepted_to(ROOT)] == []
    rows = await db.all(sql("SELECT status FROM notifications WHERE draft_id = :id"), id=draft)
    assert len(rows) >= 5 and {row["status"] for row in rows} == {"WITHDRAWN"}
    withdrawn = await db.all(sql("SELECT 1 FROM audit_log WHERE event = 'Notification Withdrawn'"))
    assert len(withdrawn) == len(rows)


async def test_quiet_hours_hold_only_that_reviewers_reminder(db):
    ids = await _setup(db)
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=2)).strftime("%H:%M"),
    )
    await accounts.set_quiet_hours(db, "Ana", (start, end, "UTC"), by=ids["Root"])
    draft = await _pending(db)
    await ladder.run_pass(db, _at(11))
    rows = await db.fetchall(
        """
        SELECT reviewers.name, notifications.status FROM notifications
        JOIN reviewers ON reviewers.id = notifications.reviewer_id
        WHERE draft_id = ? AND body LIKE 'Reminder:%' ORDER BY reviewers.name
        """,
        (draft,),
    )
    assert [(r["name"], r["status"]) for r in rows] == [
        ("Ana", "HELD"),
        ("Bob", "PENDING"),
        ("Root", "PENDING"),
    ]


async def test_a_reply_released_from_a_pause_starts_a_new_clock(db, monkeypatch):
    ids = await _setup(db)
    t0 = datetime.now(UTC)
    monkeypatch.setattr(review_clocks, "now_iso", lambda: t0.isoformat(timespec="microseconds"))
    draft = await _pending(db)
    await ladder.run_pass(db, t0 + timedelta(minutes=11))
    await review.pause_thread(db, CUSTOMER, "checking", ids["Root"])
    later = t0 + timedelta(minutes=20)
    monkeypatch.setattr(review_clocks, "now_iso", lambda: later.isoformat(timespec="microseconds"))
    await review.resume_thread(db, CUSTOMER, ids["Root"])
    assert await status_of(db, draft) == MessageStatus.DRAFT_PENDING_APPROVAL
    # 31 minutes after the first clock, 11 after the release: reminded again, not escalated
    result = await ladder.run_pass(db, t0 + timedelta(minutes=31))
    assert (result.steps[SlaStep.REMINDED], result.steps[SlaStep.ESCALATED]) == (1, 0)
    assert await _steps(db, draft) == ["Review Reminded", "Review Reminded"]


async def test_the_reminder_and_the_overdue_text_of_a_taken_over_threads_draft_name_the_holder(db):
    ids = await _setup(db)
    draft = await _pending(db)
    code = await _code(db, draft)
    await review.take_over(db, CUSTOMER, ids["Ana"])
    row = await db.fetchone("SELECT taken_over_at FROM thread_controls")
    assert row is not None
    since = f"{row['taken_over_at'][11:16]} UTC"
    ask = f"Ana has this thread since {since}. Reply A {code} ANYWAY to send it as it is, "
    ask += "or leave it to them."

    await ladder.run_pass(db, _at(11))
    await ladder.run_pass(db, _at(31))

    texts = await _texts(db, draft)
    assert texts[:3] == [
        (name, f"Reminder: draft {code} for {CUSTOMER} waiting 11 min. {ask}")
        for name in ("Ana", "Bob", "Root")
    ]
    assert [body for _, body in texts[3:]] == [
        f'Overdue: draft {code} for {CUSTOMER} waiting 31 min.\nDraft: "Yes, 9 to 5."\n{ask}'
    ] * 2
