"""Issue 12's "Done when", through the signed webhook and the API on a fresh database:
what customers' texts mean drives their conversation, with an audit row for every change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import accounts, jobs
from approval_bot.config import Settings

from .twilio_client import CUSTOMER, PUBLIC, Twilio, running

OTHER = "+14155550101"
REVIEWER_PHONE = "+14155550111"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC)


class Bot(Twilio):
    """The signed webhook, plus the JSON API as the reviewer Ana."""

    token: str

    def api(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def thread(self, thread: str = CUSTOMER) -> Any:
        response = self.api("GET", f"/threads/{thread}")
        assert response.status_code == 200, response.text
        return response.json()

    def drafts(self, thread: str = CUSTOMER) -> list[Any]:
        return [m for m in self.messages(thread) if m["type"] == "DRAFT"]


@pytest.fixture
def bot(settings: Settings) -> Iterator[Bot]:
    with running(settings) as twilio:
        bot = Bot(twilio.client, settings)
        bot.run(
            accounts.add_reviewer,
            bot.db,
            "Ana",
            phone=REVIEWER_PHONE,
            password="correct horse battery",
        )
        bot.token = bot.run(accounts.create_token, bot.db, "ana", "Ana")
        yield bot


def test_two_soft_refusals_pause_the_thread_and_flag_it(bot):
    bot.text("no thanks")
    (first_draft,) = bot.drafts()
    assert first_draft["status"] == "DRAFT_PENDING_APPROVAL"
    assert bot.thread()["conversation"]["soft_no_count"] == 1
    assert bot.conversation()["paused"] == 0

    bot.text("not right now")

    found = bot.thread()
    assert found["conversation"]["soft_no_count"] == 2
    assert found["conversation"]["state"] == "NEEDS_ATTENTION"
    assert found["controls"]["paused"] is True
    assert found["controls"]["pause_kind"] == "counters"
    assert "soft no" in found["controls"]["paused_reason"]
    # the open draft is held; the second text is held too, and nothing new is drafted
    assert [d["status"] for d in bot.drafts()] == ["PAUSED_THREAD"]
    assert bot.messages()[-1]["status"] == "PAUSED_THREAD"
    events = bot.events()
    assert events.count("Text Understood") == 2
    assert "Thread Paused" in events and "Conversation Needs Attention" in events
    assert (
        "approval_bot_rule_pauses_total"
        in bot.client.get("/metrics", headers={"Authorization": f"Bearer {bot.token}"}).text
    )


def test_two_confused_texts_pause_the_thread(bot):
    bot.text("who is this??")
    bot.text("I dont understand")
    found = bot.thread()
    assert found["conversation"]["confusion_count"] == 2
    assert found["controls"]["pause_kind"] == "counters"
    assert "confusion" in found["controls"]["paused_reason"]
    assert found["conversation"]["state"] == "NEEDS_ATTENTION"


@pytest.mark.parametrize("text", ["please stop texting me", "no me envíen más mensajes"])
def test_an_opt_out_in_plain_words_is_held_with_no_draft(bot, text):
    # held for a reviewer to confirm: the text alone does not opt the customer out
    bot.text(text)

    found = bot.thread()
    assert found["controls"] == {
        "paused": True,
        "paused_reason": f"asked to stop: {text}",
        "pause_kind": "opt_out_request",
        "last_updated": found["controls"]["last_updated"],
        "taken_over_by": None,
        "taken_over_at": None,
    }
    assert found["conversation"]["state"] == "NEEDS_ATTENTION"
    assert found["conversation"]["opted_out"] is False
    assert bot.drafts() == []
    (held,) = bot.messages()
    assert held["status"] == "PAUSED_THREAD"
    # the reviewer is told, with a code to answer by text
    (note,) = bot.rows("SELECT body, draft_id FROM notifications")
    assert note["draft_id"] == held["id"]
    (code,) = bot.rows("SELECT code FROM draft_codes WHERE message_id = ?", held["id"])
    assert f"OPTOUT {code['code']}" in note["body"] and f"KEEP {code['code']}" in note["body"]
    assert text in note["body"]


def _as_stop_leaves_it(bot: Bot, thread: str) -> dict[str, Any]:
    found = bot.thread(thread)
    conversation, controls = found["conversation"], found["controls"]
    return {
        "opted_out": conversation["opted_out"],
        "state": conversation["state"],
        "paused": controls["paused"],
        "pause_kind": controls["pause_kind"],
        "paused_reason": controls["paused_reason"],
    }


def test_confirm_opt_out_makes_the_thread_exactly_as_stop_would(bot):
    bot.text("Hi there", sender=OTHER)
    bot.text("STOP", sender=OTHER)
    bot.text("Hi there")
    bot.text("please stop texting me")
    (pending,) = bot.drafts()
    assert pending["status"] == "PAUSED_THREAD"

    response = bot.api("POST", f"/threads/{CUSTOMER}/opt-out")

    assert response.status_code == 200, response.text
    assert _as_stop_leaves_it(bot, CUSTOMER) == _as_stop_leaves_it(bot, OTHER)
    assert _as_stop_leaves_it(bot, CUSTOMER)["opted_out"] is True
    assert [d["status"] for d in bot.drafts()] == ["PAUSED_THREAD"]
    assert "Opted Out" in bot.events()
    # nothing is sent until START: a reviewer cannot resume it, an ordinary text is held
    assert bot.api("POST", f"/threads/{CUSTOMER}/resume").status_code == 409
    bot.text("hello?")
    assert bot.messages()[-1]["status"] == "PAUSED_THREAD"
    bot.text("START")
    assert bot.thread()["controls"]["paused"] is False
    metrics = bot.client.get("/metrics", headers={"Authorization": f"Bearer {bot.token}"}).text
    assert "approval_bot_plain_opt_outs_confirmed_total 1.0" in metrics
    assert 'approval_bot_rule_pauses_total{cause="opt_out_request"} 1.0' in metrics


def test_not_an_opt_out_resumes_and_drafts_the_text(bot):
    bot.text("take me off your list")
    assert bot.drafts() == []

    response = bot.api("POST", f"/threads/{CUSTOMER}/not-opt-out")
    assert response.status_code == 200, response.text
    bot.settle()

    found = bot.thread()
    assert found["controls"]["paused"] is False
    assert found["conversation"]["state"] == "ACTIVE"
    assert found["conversation"]["opted_out"] is False
    (held,) = [m for m in bot.messages() if m["type"] == "INBOUND"]
    (draft,) = bot.drafts()
    assert draft["in_reply_to_id"] == held["id"]
    assert draft["status"] == "DRAFT_PENDING_APPROVAL"
    # the decision is made once: again is a 409 naming why, and changes nothing
    again = bot.api("POST", f"/threads/{CUSTOMER}/not-opt-out")
    assert again.status_code == 409
    assert "not held for an opt-out" in again.json()["error"]["message"]
    assert bot.api("POST", f"/threads/{CUSTOMER}/opt-out").status_code == 409
    assert bot.thread()["conversation"]["opted_out"] is False


def test_the_reviewer_answers_by_text_optout_code(bot):
    bot.text("unsubscribe me please")
    (code,) = bot.rows("SELECT code FROM draft_codes")
    bot.text(f"OPTOUT {code['code']}", sender=REVIEWER_PHONE)
    bot.settle()
    assert bot.thread()["conversation"]["opted_out"] is True
    assert bot.thread()["controls"]["pause_kind"] == "opt_out"
    answers = bot.rows("SELECT body FROM notifications WHERE draft_id IS NULL")
    assert any("Opted out" in row["body"] for row in answers)


def test_the_reviewer_answers_by_text_keep_code(bot):
    bot.text("don't message me again")
    (code,) = bot.rows("SELECT code FROM draft_codes")
    bot.text(f"KEEP {code['code']}", sender=REVIEWER_PHONE)
    bot.settle()
    bot.settle()  # the answer's background task asked for the draft
    assert bot.thread()["controls"]["paused"] is False
    (draft,) = bot.drafts()
    assert draft["status"] == "DRAFT_PENDING_APPROVAL"


def test_a_text_that_merely_says_stop_is_an_ordinary_draft(bot):
    bot.text("can you stop by at 3?")
    (draft,) = bot.drafts()
    assert draft["status"] == "DRAFT_PENDING_APPROVAL"
    found = bot.thread()
    assert found["controls"]["paused"] is False
    (inbound,) = [m for m in found["messages"] if m["type"] == "INBOUND"]
    assert inbound["understanding"]["opt_out_request"] is False


def test_an_appointment_goes_from_invited_to_booked(bot):
    bot.text("Can I book a cleaning?")
    bot.text("sometime next week?")
    assert bot.thread()["conversation"]["appointment_status"] == "INVITED"

    bot.text("9:30 Saturday works")

    conversation = bot.thread()["conversation"]
    assert conversation["appointment_status"] == "BOOKED"
    booked = datetime.fromisoformat(conversation["appointment_at"])
    now = datetime.now(UTC)
    # "9:30 Saturday", in the business's zone (UTC by default), the coming Saturday
    assert (booked.weekday(), booked.hour, booked.minute) == (5, 9, 30)
    assert booked.utcoffset() == timedelta(0)
    assert now < booked <= now + timedelta(days=7)
    assert "Appointment Changed" in bot.events()
    metrics = bot.client.get("/metrics", headers={"Authorization": f"Bearer {bot.token}"}).text
    assert 'approval_bot_appointments_total{status="BOOKED"} 1.0' in metrics


def test_a_vague_time_without_a_booking_wish_invites_nothing(bot):
    bot.text("sometime next week?")
    assert bot.thread()["conversation"]["appointment_status"] == "NONE"


def test_an_archived_thread_texted_again_starts_contact_two(bot):
    bot.text("maybe later")  # neutral words: the thread stays ACTIVE, so it is archived
    bot.text("who is this??")
    assert bot.thread()["conversation"]["soft_no_count"] == 1
    patched = bot.api("PATCH", f"/threads/{CUSTOMER}/facts", {"name": "Ana", "topics": ["teeth"]})
    assert patched.status_code == 200, patched.text
    assert bot.run(jobs.archive_idle, bot.db, 0) == 1
    assert bot.thread()["conversation"]["state"] == "ARCHIVED"

    bot.text("Hello again")

    conversation = bot.thread()["conversation"]
    assert conversation["contact_count"] == 2
    assert (conversation["soft_no_count"], conversation["confusion_count"]) == (0, 0)
    assert conversation["facts"] == {"name": "Ana", "topics": ["teeth"]}
    assert conversation["state"] == "ACTIVE"
    assert "Contact Started" in bot.events()


def test_facts_are_merged_audited_and_bad_patches_refused(bot):
    bot.text("Hi there")
    ok = bot.api("PATCH", f"/threads/{CUSTOMER}/facts", {"name": "Ana", "topics": ["price"]})
    assert ok.json()["conversation"]["facts"] == {"name": "Ana", "topics": ["price"]}
    merged = bot.api("PATCH", f"/threads/{CUSTOMER}/facts", {"topics": ["hours"], "name": None})
    assert merged.json()["conversation"]["facts"] == {"topics": ["price", "hours"]}
    assert bot.events().count("Facts Changed") == 2
    before = bot.thread()["conversation"]["facts"]
    for bad in ([1, 2], {"": 1}, {"a": {"b": {"c": {"d": {"e": 1}}}}}, "name"):
        response = bot.api("PATCH", f"/threads/{CUSTOMER}/facts", bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["message"]
    assert bot.thread()["conversation"]["facts"] == before
    assert bot.events().count("Facts Changed") == 2
    assert bot.api("PATCH", "/threads/+14155550999/facts", {"a": 1}).status_code == 404


def test_the_builtin_drafter_proposes_the_customers_name(bot):
    bot.text("Hi, this is Ana. Are you open today?")
    assert bot.thread()["conversation"]["facts"] == {"name": "Ana"}
    (changed,) = bot.rows("SELECT metadata FROM audit_log WHERE event = 'Facts Changed'")
    assert "drafter builtin" in changed["metadata"]


def test_every_message_says_what_it_is(bot):
    bot.text("Hi there")
    inbound, draft = bot.messages()
    assert (inbound["sender_role"], inbound["mode"]) == ("customer", "reply")
    assert (draft["sender_role"], draft["mode"], draft["template_key"]) == (
        "bot",
        "reply",
        "greeting",
    )
    shown = bot.api("GET", f"/messages/{inbound['id']}").json()
    assert shown["understanding"]["intent"] == "greeting"
    assert shown["sender_role"] == "customer"
    shown_draft = bot.api("GET", f"/messages/{draft['id']}").json()
    assert shown_draft["understanding"] is None
    assert (shown_draft["sender_role"], shown_draft["template_key"]) == ("bot", "greeting")
    edited = bot.api("POST", f"/drafts/{draft['id']}/edit", {"body": "Hello!", "approve": False})
    assert (edited.json()["sender_role"], edited.json()["mode"]) == ("human", "reply")
    bot.call(caller=OTHER)
    (text_back,) = bot.drafts(OTHER)
    assert (text_back["mode"], text_back["template_key"]) == ("missed_call", "missed_call")
