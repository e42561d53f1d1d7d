"""Claims (issue 15, item 3): a reviewer working on a draft holds it for CLAIM_MINUTES.

Others' approvals and edits are refused (naming who is editing) unless they confirm; a
claim ends with the decision, a release or its expiry; it is stored, so it survives a
restart; taking it over is audited. The clock is the test's own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from approval_bot import claims, review, workflow
from approval_bot.models import DecisionChannel, MessageStatus, Role
from approval_bot.store import opened
from tests.builders import first_start, make_draft, make_inbound, make_reviewer, status_of

pytestmark = pytest.mark.anyio

S = MessageStatus
THREAD = "+14155550100"
MINUTES = 5.0  # the default CLAIM_MINUTES
START = datetime(2026, 12, 2, 14, 2, tzinfo=UTC)


class Clock:
    """The claims' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(claims, "clock", fake)
    return fake


@pytest.fixture(autouse=True)
async def started(db) -> None:
    await first_start(db)


@pytest.fixture
async def people(db):
    ana = await make_reviewer(db, "Ana")
    bob = await make_reviewer(db, "Bob")
    return ana, bob


@pytest.fixture
async def draft(db) -> str:
    return await make_draft(db, await make_inbound(db, THREAD))


def web(reviewer) -> review.Decision:
    return review.Decision(reviewer.id, DecisionChannel.WEB)


async def claim_rows(db, draft_id: str) -> list[tuple[int, str, str]]:
    rows = await db.fetchall(
        "SELECT reviewer_id, claimed_at, expires_at FROM draft_claims WHERE draft_id = ?",
        (draft_id,),
    )
    return [(r["reviewer_id"], r["claimed_at"], r["expires_at"]) for r in rows]


async def claim_audit(db, draft_id: str) -> list[tuple[str, int, dict[str, object]]]:
    rows = await db.fetchall(
        "SELECT event, actor_id, metadata FROM audit_log WHERE message_id = ?"
        " AND event LIKE 'Draft Claim%' ORDER BY id",
        (draft_id,),
    )
    return [(r["event"], r["actor_id"], json.loads(r["metadata"])) for r in rows]


async def approvals(db, draft_id: str) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM approvals WHERE draft_id = ?", (draft_id,))
    return int(row["n"])


async def test_a_claim_is_stored_for_claim_minutes_and_audited_once(db, clock, people, draft):
    ana, _ = people
    held = await review.claim(db, draft, ana.id, MINUTES)

    assert (held.reviewer_name, held.until) == ("Ana", "14:07 UTC")
    assert await claim_rows(db, draft) == [
        (ana.id, "2026-12-02T14:02:00.000000+00:00", "2026-12-02T14:07:00.000000+00:00")
    ]
    # pressing `c` again a minute later renews it from then; a renewal is not a new claim
    clock.advance(minutes=1)
    await review.claim(db, draft, ana.id, MINUTES)
    assert await claim_rows(db, draft) == [
        (ana.id, "2026-12-02T14:02:00.000000+00:00", "2026-12-02T14:08:00.000000+00:00")
    ]
    assert await claim_audit(db, draft) == [("Draft Claimed", ana.id, {})]


async def test_another_reviewers_approve_is_refused_naming_who_is_editing(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    with pytest.raises(claims.ClaimedByOther) as refused:
        await review.approve(db, draft, web(bob))

    assert str(refused.value) == "Ana is editing this draft (until 14:07 UTC)"
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert await approvals(db, draft) == 0
    assert len(await claim_rows(db, draft)) == 1
    # the claimer herself approves without being asked
    await review.approve(db, draft, web(ana))
    assert await status_of(db, draft) == S.APPROVED_TO_SEND


async def test_a_confirmed_approve_goes_ahead_ends_the_claim_and_is_audited(
    db, clock, people, draft
):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    await review.approve(db, draft, web(bob), override_claim=True)

    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    assert await claim_rows(db, draft) == []
    assert (await claim_audit(db, draft))[1:] == [
        (
            "Draft Claim Taken Over",
            bob.id,
            {
                "by": "approve",
                "expires_at": "2026-12-02T14:07:00.000000+00:00",
                "from_reviewer": ana.id,
            },
        )
    ]


async def test_a_claim_expires_after_claim_minutes(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    clock.advance(minutes=4, seconds=59)
    with pytest.raises(claims.ClaimedByOther):
        await review.approve(db, draft, web(bob))
    clock.advance(seconds=1)  # 14:07:00: the claim is over
    await review.approve(db, draft, web(bob))

    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    # nobody's claim was taken over: it had ended
    assert [event for event, _, _ in await claim_audit(db, draft)] == ["Draft Claimed"]


async def test_after_expiry_anyone_claims_it_as_a_new_claim(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)
    clock.advance(minutes=6)

    held = await review.claim(db, draft, bob.id, MINUTES)

    assert (held.reviewer_name, held.until) == ("Bob", "14:13 UTC")
    assert [(e, who) for e, who, _ in await claim_audit(db, draft)] == [
        ("Draft Claimed", ana.id),
        ("Draft Claimed", bob.id),
    ]


async def test_claiming_over_another_needs_take_over_which_is_audited(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)
    clock.advance(minutes=2)

    with pytest.raises(claims.ClaimedByOther):
        await review.claim(db, draft, bob.id, MINUTES)
    assert (await claim_rows(db, draft))[0][0] == ana.id

    held = await review.claim(db, draft, bob.id, MINUTES, take_over=True)

    assert (held.reviewer_name, held.until) == ("Bob", "14:09 UTC")
    assert (await claim_audit(db, draft))[-1] == (
        "Draft Claim Taken Over",
        bob.id,
        {"by": "claim", "expires_at": "2026-12-02T14:07:00.000000+00:00", "from_reviewer": ana.id},
    )
    # now Ana is the one asked to confirm
    with pytest.raises(claims.ClaimedByOther, match="Bob is editing"):
        await review.approve(db, draft, web(ana))


async def test_a_release_ends_the_claim_and_is_audited(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    with pytest.raises(claims.ClaimedByOther):
        await review.release_claim(db, draft, bob.id)  # not Bob's to release
    await review.release_claim(db, draft, ana.id)

    assert await claim_rows(db, draft) == []
    assert (await claim_audit(db, draft))[-1] == (
        "Draft Claim Released",
        ana.id,
        {"holder": ana.id},
    )
    with pytest.raises(review.NothingToDo):
        await review.release_claim(db, draft, ana.id)
    await review.approve(db, draft, web(bob))  # no confirmation needed any more
    assert await status_of(db, draft) == S.APPROVED_TO_SEND


async def test_an_admin_releases_anyones_claim(db, clock, people, draft):
    ana, _ = people
    boss = await make_reviewer(db, "Boss", role=Role.ADMIN)
    await review.claim(db, draft, ana.id, MINUTES)

    await review.release_claim(db, draft, boss.id)

    assert await claim_rows(db, draft) == []
    assert (await claim_audit(db, draft))[-1] == (
        "Draft Claim Released",
        boss.id,
        {"holder": ana.id},
    )


@pytest.mark.parametrize("decide", ["approve", "reject", "edit_and_approve"])
async def test_the_claimers_decision_ends_the_claim(db, clock, people, draft, decide):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    if decide == "approve":
        await review.approve(db, draft, web(ana))
    elif decide == "reject":
        await review.reject(db, draft, review.Decision(ana.id, DecisionChannel.WEB, notes="no"))
    else:
        await review.edit(db, draft, "Yes, from 9.", web(ana), approve=True)

    assert await claim_rows(db, draft) == []
    with pytest.raises(review.NothingToDo):  # nothing left to work on
        await review.claim(db, draft, bob.id, MINUTES)


async def test_a_pause_ends_the_claim_as_the_draft_leaves_the_queue(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    await review.pause_thread(db, THREAD, "owner will call", bob.id)
    await review.resume_thread(db, THREAD, bob.id)

    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL  # back in the queue
    assert await claim_rows(db, draft) == []
    await review.approve(db, draft, web(bob))


async def test_another_reviewers_edit_is_refused_unless_confirmed(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    with pytest.raises(claims.ClaimedByOther):
        await review.edit(db, draft, "Bob's words", web(bob), approve=False)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL

    new = await review.edit(db, draft, "Bob's words", web(bob), approve=False, override_claim=True)

    assert await status_of(db, draft) == S.SUPERSEDED
    assert await claim_rows(db, new) == []  # Ana's claim stayed with the version she had
    assert (await claim_audit(db, draft))[-1][0:2] == ("Draft Claim Taken Over", bob.id)


async def test_the_claimers_saved_edit_keeps_her_claim_on_the_new_version(db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)

    new = await review.edit(db, draft, "Yes, from 9 to 5.", web(ana), approve=False)

    assert await claim_rows(db, draft) == []
    assert await claim_rows(db, new) == [
        (ana.id, "2026-12-02T14:02:00.000000+00:00", "2026-12-02T14:07:00.000000+00:00")
    ]
    with pytest.raises(claims.ClaimedByOther, match="Ana is editing"):
        await review.approve(db, new, web(bob))


async def test_a_reply_that_is_not_pending_cannot_be_claimed(db, clock, people, draft):
    ana, _ = people
    await review.approve(db, draft, web(ana))
    with pytest.raises(review.NothingToDo, match="approved, sending"):
        await review.claim(db, draft, ana.id, MINUTES)
    inbound = await make_inbound(db, "+14155550101")
    with pytest.raises(workflow.UnknownRecord):
        await review.claim(db, inbound, ana.id, MINUTES)
    assert await db.fetchall("SELECT * FROM draft_claims") == []


async def test_a_claim_survives_a_restart(db_path: Path, db, clock, people, draft):
    ana, bob = people
    await review.claim(db, draft, ana.id, MINUTES)
    await db.close()

    async with opened(db_path) as again:  # the same file, opened afresh
        with pytest.raises(claims.ClaimedByOther, match=r"Ana is editing this draft \(until 14:07"):
            await review.approve(again, draft, web(bob))
        assert await status_of(again, draft) == S.DRAFT_PENDING_APPROVAL
