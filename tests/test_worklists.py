"""Issue 13, item 5: nothing a customer writes is left on no list.

Every path that can leave a text unanswered is walked through the app's own doors, and
after each step every unanswered text must be on exactly one of the lists the pages show:
the Queue (a reply drafted after it, or "Being drafted"), Needs reply, or Attention.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from approval_bot import inbound, jobs, worklists
from approval_bot.config import Settings
from approval_bot.models import Channel
from approval_bot.store.views import lists as list_views
from approval_bot.store.views import menu as menu_view
from approval_bot.store.views import queue as queue_view

from .test_takeover import Desk, desk_for
from .twilio_client import BUSINESS, CUSTOMER, PUBLIC

W = worklists.WorkList


@pytest.fixture
def desk(make_settings: Callable[..., Settings]) -> Iterator[Desk]:
    yield from desk_for(make_settings(PUBLIC_BASE_URL=PUBLIC))


def lists_showing(desk: Desk) -> dict[str, list[W]]:
    """For each unanswered text of the thread, the lists whose page shows it."""
    run, db = desk.twilio.run, desk.web.db
    queue = run(queue_view.queue, db, None, 200).rows
    drafting = {m["id"] for m in run(queue_view.awaiting_draft, db)}
    needs = [m for m in run(list_views.needs_review, db, None, 200).rows]
    attention = {
        w["id"]
        for t in run(list_views.threads_needing_attention, db, None, 200).rows
        for w in t["waiting"]
    }
    shown: dict[str, list[W]] = {}
    for text in desk.twilio.messages():
        if text["type"] != "INBOUND" or text["id"] not in desk.places():
            continue
        lists = []
        drafted_after = any(
            card["thread_id"] == CUSTOMER and card["timestamp"] > text["timestamp"]
            for card in queue
        )
        # being drafted, or answered by the draft of a later text being drafted
        drafting_after = any(
            m["id"] in drafting and m["timestamp"] >= text["timestamp"]
            for m in desk.twilio.messages()
        )
        if drafting_after or drafted_after:
            lists.append(W.QUEUE)
        # on the page itself; or, with no draft of its own, answered by a reply to a later
        # text that is on it
        if text["id"] in {m["id"] for m in needs} or (
            not drafted_after
            and any(
                m["thread_id"] == CUSTOMER and m["timestamp"] > text["timestamp"] for m in needs
            )
        ):
            lists.append(W.NEEDS_REPLY)
        if text["id"] in attention:
            lists.append(W.ATTENTION)
        shown[text["id"]] = lists
    return shown


def on_exactly_one_list(desk: Desk) -> dict[str, W]:
    """Assert every unanswered text is on one list, as the pages and `place` both say."""
    shown = lists_showing(desk)
    places = desk.places()
    assert set(shown) == set(places)
    for text_id, lists in shown.items():
        assert len(lists) == 1, (text_id, lists)
        assert places[text_id] is lists[0]
    return {text_id: lists[0] for text_id, lists in shown.items()}


def where(desk: Desk, body: str) -> W | None:
    return on_exactly_one_list(desk).get(
        next(m["id"] for m in desk.twilio.messages() if m["body"] == body)
    )


def test_a_pause_holds_texts_on_attention_and_resume_sends_them_to_drafting(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/pause", {"reason": "checking"})
    desk.text("Hello?")
    assert where(desk, "Hello?") is W.ATTENTION
    desk.api.post(f"/threads/{CUSTOMER}/resume")
    desk.twilio.settle()
    assert where(desk, "Hello?") is W.QUEUE  # drafted


def test_a_pause_resumed_while_taken_over_sends_held_texts_to_needs_reply(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/pause", {"reason": "checking"})
    desk.text("Hello?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.api.post(f"/threads/{CUSTOMER}/resume")
    desk.twilio.settle()
    assert where(desk, "Hello?") is W.NEEDS_REPLY


def test_marking_a_paused_thread_dealt_with_hands_its_held_texts_to_needs_reply(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/escalate", {"reason": "legal"})
    desk.text("Hello?")
    desk.web.sign_in("Ana")
    assert desk.web.post(f"/threads/{CUSTOMER}/resolve").status_code == 303
    assert where(desk, "Hello?") is W.NEEDS_REPLY


def test_opt_out_and_opt_in(desk):
    desk.text("Do you deliver?")
    desk.text("STOP")
    assert on_exactly_one_list(desk) == {}  # STOP closed the contact
    desk.text("one more thing")  # the next contact, still opted out
    assert where(desk, "one more thing") is W.ATTENTION
    desk.text("START")
    assert where(desk, "START") is None  # not a to-do
    assert where(desk, "one more thing") is W.ATTENTION


def test_takeover_then_release(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("Hi?")
    assert where(desk, "Hi?") is W.NEEDS_REPLY
    desk.api.post(f"/threads/{CUSTOMER}/release")
    desk.twilio.settle()
    assert where(desk, "Hi?") is W.QUEUE


def test_not_an_opt_out_on_a_taken_over_thread_leaves_the_text_on_needs_reply(desk):
    desk.text("please stop texting me")
    assert where(desk, "please stop texting me") is W.ATTENTION
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.api.post(f"/threads/{CUSTOMER}/not-opt-out")
    desk.twilio.settle()
    # the bot does not draft on a thread a human holds: the text is theirs to answer
    assert where(desk, "please stop texting me") is W.NEEDS_REPLY


def test_a_rejected_draft_leaves_its_text_on_needs_reply(desk):
    desk.text("First")
    desk.text("Second")
    (draft,) = [
        m["id"]
        for m in desk.twilio.messages()
        if m["type"] == "DRAFT" and m["status"] == "DRAFT_PENDING_APPROVAL"
    ]
    desk.api.post(f"/drafts/{draft}/reject", {"notes": "wrong"})
    assert where(desk, "First") is W.NEEDS_REPLY
    assert where(desk, "Second") is W.NEEDS_REPLY


def test_a_failed_regeneration_leaves_the_text_where_it_was(desk):
    desk.text("   ")  # the built-in drafter cannot answer an empty text
    (text,) = [m for m in desk.twilio.messages() if m["type"] == "INBOUND"]
    assert where(desk, "   ") is W.NEEDS_REPLY
    assert desk.api.post(f"/drafts/{text['id']}/regenerate").status_code == 503
    assert where(desk, "   ") is W.NEEDS_REPLY


def test_close_then_a_new_contact(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/close")
    assert on_exactly_one_list(desk) == {}
    desk.text("Back again")
    assert where(desk, "Back again") is W.QUEUE


def test_a_crash_between_storing_and_drafting(desk):
    sms = inbound.InboundSms("SM" + uuid.uuid4().hex, CUSTOMER, BUSINESS, "Open?", Channel.SMS)
    desk.twilio.run(inbound.receive_sms, desk.web.db, sms)  # stored; the draft never asked
    assert where(desk, "Open?") is W.QUEUE  # "Being drafted" on the queue page
    desk.web.sign_in("Ana")
    assert "Being drafted" in desk.web.client.get("/").text
    desk.twilio.run(jobs.recover_undrafted, desk.web.db, desk.twilio.drafting)
    desk.twilio.settle()
    assert where(desk, "Open?") is W.QUEUE
    assert desk.twilio.messages()[-1]["type"] == "DRAFT"


def _settled(desk: Desk) -> dict[str, bool]:
    return {
        m["body"]: m["settled_at"] is not None
        for m in desk.twilio.messages()
        if m["type"] == "INBOUND"
    }


def test_texts_answered_by_a_sent_reply_or_dismissed_leave_the_open_needs_reply_index(desk):
    desk.text("First")
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    desk.api.post(f"/drafts/{draft}/reject", {"notes": "wrong"})
    counts = desk.twilio.run(menu_view.menu_counts, desk.web.db)
    assert counts["needs_review"] == 1
    assert _settled(desk) == {"First": False}

    # a reply waiting to be sent answers the text for now, but is not yet for good
    desk.web.sign_in("Bob")
    assert desk.web.post(f"/threads/{CUSTOMER}/reply", {"body": "Sorted."}).status_code == 303
    deadline = time.monotonic() + 20
    while desk.twilio.messages()[-1]["status"] != "SENT":
        assert time.monotonic() < deadline, "the reply was never sent"
        time.sleep(0.05)
    assert _settled(desk) == {"First": True}
    assert desk.twilio.run(menu_view.menu_counts, desk.web.db)["needs_review"] == 0
    assert desk.twilio.run(list_views.needs_review, desk.web.db, None, 50).rows == []

    # the reply took the thread over: a later text waits for Bob, and dismissed, is settled
    desk.text("Second")
    assert where(desk, "Second") is W.NEEDS_REPLY
    assert _settled(desk) == {"First": True, "Second": False}
    assert desk.api.post(f"/threads/{CUSTOMER}/dismiss").status_code == 200
    assert _settled(desk) == {"First": True, "Second": True}
    assert desk.twilio.run(menu_view.menu_counts, desk.web.db)["needs_review"] == 0


def test_a_text_before_one_waiting_for_its_draft_waits_on_the_queue_with_it():
    """The stateful machine's find: a manager's reply failed, then the thread was released;
    the older text, whose own draft that reply had replaced, waited on no list while the
    newer one waited for its draft. The bot drafts the latest text, which answers both."""
    rows = [
        {"id": "older", "status": "DRAFT_PENDING_APPROVAL", "timestamp": "2026-01-01T10:00"},
        {"id": "newer", "status": "RECEIVED", "timestamp": "2026-01-01T10:05"},
    ]
    assert worklists.place_rows(rows, None, "ACTIVE") == {"older": W.QUEUE, "newer": W.QUEUE}
    # a text after the one being drafted is not answered by that draft
    later = [*rows, {"id": "later", "status": "NEEDS_REVIEW", "timestamp": "2026-01-01T10:09"}]
    assert worklists.place_rows(later, None, "ACTIVE") == {
        "older": W.QUEUE,
        "newer": W.QUEUE,
        "later": W.NEEDS_REPLY,
    }


def test_an_older_text_is_not_redrafted_over_the_draft_of_a_newer_one(desk):
    # "First" went to Needs reply; "Second" came and was drafted. A new draft for "First"
    # would replace Second's, and once rejected leave "Second" on no list
    desk.text("First")
    (first_draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    desk.api.post(f"/drafts/{first_draft}/reject", {"notes": "wrong"})
    desk.text("Second")
    first, second = (
        next(m for m in desk.twilio.messages() if m["body"] == body) for body in ("First", "Second")
    )
    refused = desk.api.post(f"/drafts/{first['id']}/regenerate")
    assert refused.status_code == 409
    assert second["id"] in refused.json()["error"]["message"]
    assert where(desk, "First") is W.QUEUE and where(desk, "Second") is W.QUEUE

    # with Second's draft rejected, both texts wait for a person: First may be redrafted
    (pending,) = [
        m["id"]
        for m in desk.twilio.messages()
        if m["type"] == "DRAFT" and m["status"] == "DRAFT_PENDING_APPROVAL"
    ]
    desk.api.post(f"/drafts/{pending}/reject", {"notes": "wrong"})
    redrafted = desk.api.post(f"/drafts/{first['id']}/regenerate")
    assert redrafted.status_code == 200
    desk.api.post(f"/drafts/{redrafted.json()['id']}/reject", {"notes": "still wrong"})
    assert where(desk, "First") is W.NEEDS_REPLY and where(desk, "Second") is W.NEEDS_REPLY
