"""Missed calls, archiving idle conversations, recovering undrafted messages, regenerating."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from approval_bot import accounts, jobs, review, samples, workflow
from approval_bot.config import Settings
from approval_bot.drafting import NotRegenerable, regenerate
from approval_bot.drafting.service import NoOtherWording
from approval_bot.models import Role
from approval_bot.store import Tx
from approval_bot.web.twilio_edge import our_account_sid

from .builders import make_inbound
from .fake_openai import FakeOpenAI, fake_openai
from .twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, running

VOICE = "/webhooks/twilio/voice"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        PUBLIC_BASE_URL=PUBLIC, MISSED_CALL_MESSAGE="Sorry, we are busy right now."
    )


@pytest.fixture
def twilio(settings: Settings) -> Iterator[Twilio]:
    with running(settings) as twilio:
        yield twilio


def drafts(twilio: Twilio, thread: str = CUSTOMER) -> list[tuple[str, str]]:
    return [(r["status"], r["body"]) for r in twilio.messages(thread) if r["type"] == "DRAFT"]


def test_a_missed_call_says_one_sentence_hangs_up_and_drafts_a_text_back(twilio):
    response = twilio.call()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Say>Sorry, we are busy right now.</Say><Hangup />" in response.text
    ((status, body),) = drafts(twilio)
    assert status == "DRAFT_PENDING_APPROVAL"
    assert "missed your call" in body
    draft = twilio.messages()[0]
    assert (draft["sender"], draft["receiver"], draft["in_reply_to_id"]) == (
        BUSINESS,
        CUSTOMER,
        None,
    )
    assert '"intent": "missed_call"' in draft["draft_meta"]
    assert twilio.events()[:2] == ["Conversation Opened", "Missed Call"]
    (call,) = twilio.rows("SELECT * FROM missed_calls")
    assert (call["wants_draft"], call["draft_id"]) == (0, draft["id"])


def test_repeated_calls_within_the_window_make_one_draft(twilio):
    twilio.call()
    twilio.call()
    twilio.call()

    assert len(drafts(twilio)) == 1
    assert twilio.count("missed_calls") == 3
    assert twilio.events().count("Missed Call") == 3


def test_a_replayed_call_sid_is_recorded_once(twilio):
    twilio.call(sid="CA" + "e" * 32)
    twilio.call(sid="CA" + "e" * 32)

    assert twilio.count("missed_calls") == 1


def call_params(twilio: Twilio, **change: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": our_account_sid(twilio.settings),
        "From": CUSTOMER,
        "To": BUSINESS,
        "CallStatus": "ringing",
        **change,
    }


def test_a_badly_signed_call_is_refused_and_a_bad_number_is_a_400(twilio):
    params = call_params(twilio)
    assert twilio.post(VOICE, params, signature="bm9wZQ==").status_code == 403
    bad = twilio.post(VOICE, {**params, "To": "our shop"})
    assert bad.status_code == 400 and "To" in bad.json()["error"]["message"]
    missing = twilio.post(VOICE, {k: v for k, v in params.items() if k != "From"})
    assert missing.status_code == 400 and "From is missing" in missing.json()["error"]["message"]
    assert twilio.count("missed_calls") == 0


# Twilio shows a withheld caller ID as "anonymous" in From (changelog, 17 May 2023)
@pytest.mark.both_backends
@pytest.mark.parametrize("caller", ["anonymous", "Restricted"])
def test_a_call_with_a_withheld_number_hears_the_sentence_and_drafts_nothing(twilio, caller):
    response = twilio.call(caller=caller)

    assert response.status_code == 200
    assert "<Say>Sorry, we are busy right now.</Say><Hangup />" in response.text
    assert twilio.count("missed_calls") == 0
    assert twilio.count("messages") == 0
    assert twilio.count("conversations") == 0
    (row,) = twilio.rows("SELECT thread_id, metadata FROM audit_log WHERE event = 'Missed Call'")
    assert row["thread_id"] is None
    assert json.loads(row["metadata"])["why_not"] == "the caller's number is withheld"
    assert json.loads(row["metadata"])["caller"] == caller
    assert twilio.call(caller=caller, sid="CA" + "2" * 32).status_code == 200


def test_a_missed_call_on_a_paused_thread_is_recorded_without_a_draft(twilio):
    twilio.text("hello")
    twilio.run(review.pause_thread, twilio.db, CUSTOMER, "taken over", None)

    twilio.call()

    assert [s for s, _ in drafts(twilio)] == ["PAUSED_THREAD"]
    assert twilio.count("missed_calls") == 1


def test_idle_conversations_are_archived_and_a_new_text_reactivates_them(twilio):
    twilio.text("hello")
    twilio.run(_backdate, twilio, "2000-01-01T00:00:00+00:00")

    archived = twilio.run(jobs.archive_idle, twilio.db, 72)

    assert archived == 1
    assert twilio.conversation()["state"] == "ARCHIVED"
    twilio.text("me again")
    assert twilio.conversation()["state"] == "ACTIVE"
    events = twilio.events()
    assert events.index("Conversation Reactivated") == events.index("Conversation Archived") + 1


def test_recent_conversations_are_not_archived(twilio):
    twilio.text("hello")

    assert twilio.run(jobs.archive_idle, twilio.db, 72) == 0
    assert twilio.conversation()["state"] == "ACTIVE"


async def _backdate(twilio: Twilio, when: str) -> None:
    # the clock is what moves here; state changes still go through the funnel
    def change(conn: Tx) -> Any:
        conn.execute("UPDATE conversations SET last_activity_at = ?", (when,))

    await twilio.db.write(change)


def test_recovery_drafts_messages_a_crash_left_received(twilio):
    # stored, then the process died before drafting
    left = twilio.run(make_inbound, twilio.db, CUSTOMER, "Are you open today?")
    assert [r["status"] for r in twilio.messages()] == ["RECEIVED"]

    assert twilio.run(jobs.recover_undrafted, twilio.db, twilio.drafting) == 1
    twilio.settle()

    inbound, draft = twilio.messages()
    assert (inbound["id"], inbound["status"]) == (left, "DRAFT_PENDING_APPROVAL")
    assert draft["in_reply_to_id"] == left
    assert twilio.run(jobs.recover_undrafted, twilio.db, twilio.drafting) == 0


def test_the_app_registers_its_inbound_jobs(twilio):
    scheduler = twilio.client.app_state["scheduler"]
    assert scheduler.get_job(jobs.ARCHIVE_JOB_ID) is not None
    assert scheduler.get_job(jobs.RECOVERY_JOB_ID) is not None
    assert scheduler.get_job(jobs.PRUNE_JOB_ID) is not None


def test_regenerating_a_pending_draft_makes_a_new_version_and_supersedes_the_old(twilio):
    twilio.run(samples.load, twilio.db, None)  # profile answers come in two wordings
    twilio.text("how much is a beard trim")
    old = twilio.messages()[1]

    new_id = twilio.run(regenerate, twilio.drafting, old["id"], None)

    rows = {r["id"]: r for r in twilio.messages()}
    assert rows[old["id"]]["status"] == "SUPERSEDED"
    assert rows[old["id"]]["superseded_by"] == new_id
    assert (rows[new_id]["status"], rows[new_id]["draft_version"]) == ("DRAFT_PENDING_APPROVAL", 2)


def test_regenerating_a_draft_with_no_other_wording_is_refused_and_changes_nothing(twilio):
    twilio.text("hello")  # no profile: the greeting template has one wording
    before = twilio.messages()

    with pytest.raises(NoOtherWording, match="no other wording"):
        twilio.run(regenerate, twilio.drafting, before[1]["id"], None)
    assert twilio.messages() == before


def test_regenerating_a_message_waiting_for_review_drafts_it(twilio):
    twilio.text("HELP")
    (inbound,) = twilio.messages()

    new_id = twilio.run(regenerate, twilio.drafting, inbound["id"], None)

    rows = {r["id"]: r for r in twilio.messages()}
    assert rows[inbound["id"]]["status"] == "DRAFT_PENDING_APPROVAL"
    assert rows[new_id]["in_reply_to_id"] == inbound["id"]


def test_regenerating_what_is_not_pending_is_refused(twilio):
    twilio.text("hello")
    inbound = twilio.messages()[0]

    with pytest.raises(NotRegenerable, match="only a pending draft"):
        twilio.run(regenerate, twilio.drafting, inbound["id"], None)
    with pytest.raises(workflow.UnknownRecord):
        twilio.run(regenerate, twilio.drafting, "no-such-id", None)


def test_regenerating_on_a_paused_thread_is_refused(twilio):
    twilio.text("HELP")
    (inbound,) = twilio.messages()
    twilio.run(review.pause_thread, twilio.db, CUSTOMER, "taken over", None)

    with pytest.raises(review.ThreadClosed):
        twilio.run(regenerate, twilio.drafting, inbound["id"], None)


def test_a_missed_call_does_not_replace_a_reply_already_waiting_for_review(twilio):
    twilio.text("What are your prices?")
    twilio.call()

    assert [status for status, _ in drafts(twilio)] == ["DRAFT_PENDING_APPROVAL"]
    row = twilio.rows("SELECT metadata FROM audit_log WHERE event = 'Missed Call'")[0]
    assert "already waiting" in row["metadata"]


def test_a_missed_call_from_a_reviewers_phone_drafts_nothing(twilio):
    twilio.run(
        accounts.add_reviewer,
        twilio.db,
        "Ana",
        phone="+14155550123",
        password="x" * 12,
        role=Role.REVIEWER,
    )
    twilio.call(caller="+14155550123")

    assert twilio.count("messages") == 0 and twilio.count("missed_calls") == 0
    assert twilio.rows("SELECT event FROM audit_log ORDER BY id")[-1]["event"] == (
        "Reviewer Call Received"
    )


def test_drafts_cut_short_by_a_shutdown_are_made_at_the_next_start(settings):
    with fake_openai(FakeOpenAI(mode="slow")) as fake:
        slow = dataclasses.replace(
            settings,
            drafter="openai",
            openai_model="fake-model",
            openai_base_url=fake.base_url,
            draft_timeout_seconds=30.0,
        )
        with running(slow) as twilio:
            twilio.text("Are you open today?", wait=False)
            assert [r["status"] for r in twilio.messages()] == ["RECEIVED"]
        # the app stopped while the model was still thinking

    with running(settings) as twilio:  # the built-in drafter, at the next start
        twilio.run(jobs.recover_undrafted, twilio.db, twilio.drafting)
        twilio.settle()
        assert [(r["type"], r["status"]) for r in twilio.messages()] == [
            ("INBOUND", "DRAFT_PENDING_APPROVAL"),
            ("DRAFT", "DRAFT_PENDING_APPROVAL"),
        ]
