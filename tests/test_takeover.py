"""Issue 13: take over, release, close, a manager's reply, the override window, No reply
needed, and "Already decided" naming the human, through the web and the API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from approval_bot import jobs, review, sms_text, workflow, worklists
from approval_bot.app import create_app
from approval_bot.config import Settings
from approval_bot.models import DecisionChannel, MessageStatus, Role
from approval_bot.sending import message_lane
from approval_bot.store import Priority, SqliteStore, Tx, load_migrations

from .builders import first_start, make_inbound, make_reviewer
from .test_api import Api, sent, token_for
from .twilio_client import CUSTOMER, PUBLIC, Twilio
from .webclient import Web

S = MessageStatus
OPTED_OUT = "Conversation is opted out (DNC); no further messages allowed."


class Desk:
    """One running app seen from every door: Twilio's webhooks, the web, the API."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.twilio = Twilio(client, settings)
        self.web = Web(client)
        self.ana = self.web.reviewer("Ana", phone="+14155550111")
        self.bob = self.web.reviewer("Bob")
        self.web.reviewer("Root", role=Role.ADMIN)
        self.api = Api(self.web, token_for(self.web, "Ana"))
        self.bob_api = Api(self.web, token_for(self.web, "Bob"))
        self.root_api = Api(self.web, token_for(self.web, "Root"))

    def text(self, body: str) -> None:
        self.twilio.text(body)

    def statuses(self) -> list[tuple[str, str, str]]:
        return [(m["type"], m["status"], m["body"]) for m in self.twilio.messages()]

    def places(self) -> dict[str, worklists.WorkList | None]:
        return self.twilio.run(
            self.web.db.write,
            lambda conn: worklists.place(conn, CUSTOMER),
            priority=Priority.BULK,
        )

    def place_of(self, body: str) -> worklists.WorkList | None:
        (message,) = [
            m for m in self.twilio.messages() if m["type"] == "INBOUND" and m["body"] == body
        ]
        return self.places().get(message["id"])

    def controls(self) -> Any:
        return self.twilio.conversation()

    def snapshot(self) -> list[Any]:
        return [
            [tuple(row) for row in self.twilio.rows(sql)]
            for sql in (
                "SELECT id, status FROM messages ORDER BY id",
                "SELECT count(*) FROM audit_log",
                "SELECT * FROM thread_controls",
                "SELECT * FROM conversations",
                "SELECT count(*) FROM dismissals",
            )
        ]


def desk_for(settings: Settings) -> Iterator[Desk]:
    with TestClient(create_app(settings), base_url=PUBLIC) as client:
        yield Desk(client, settings)


@pytest.fixture
def desk(make_settings: Callable[..., Settings]) -> Iterator[Desk]:
    yield from desk_for(make_settings(PUBLIC_BASE_URL=PUBLIC))


def test_a_takeover_stops_drafting_and_new_texts_wait_on_needs_reply_for_the_holder(desk):
    desk.text("Do you deliver?")
    answer = desk.api.post(f"/threads/{CUSTOMER}/takeover")
    assert answer.status_code == 200, answer.text
    controls = answer.json()["controls"]
    assert controls["taken_over_by"] == "Ana" and controls["taken_over_at"]

    desk.text("Hello? Anyone there?")
    assert desk.statuses()[-1] == ("INBOUND", "NEEDS_REVIEW", "Hello? Anyone there?")
    assert [t for t, _, _ in desk.statuses()].count("DRAFT") == 1  # nothing new drafted
    assert desk.place_of("Hello? Anyone there?") is worklists.WorkList.NEEDS_REPLY
    # Ana has a phone: she is told by SMS
    (notice,) = desk.twilio.rows(
        "SELECT body FROM notifications WHERE reviewer_id = ? AND draft_id IS NULL", desk.ana.id
    )
    assert "Hello? Anyone there?" in notice["body"] and CUSTOMER in notice["body"]

    # Bob sees who has it, and a takeover of his is refused, naming her, changing nothing
    desk.web.sign_in("Bob")
    desk.web.csrf("/")
    since = controls["taken_over_at"][11:16]
    assert f"Ana has this thread since {since}" in desk.web.client.get(f"/threads/{CUSTOMER}").text
    before = desk.snapshot()
    refused = desk.bob_api.post(f"/threads/{CUSTOMER}/takeover")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == f"Ana has this thread since {since} UTC"
    assert desk.web.post(f"/threads/{CUSTOMER}/takeover").status_code == 409
    assert desk.snapshot() == before

    # an admin takes it anyway, audited as forced
    assert desk.root_api.post(f"/threads/{CUSTOMER}/takeover").json()["controls"][
        "taken_over_by"
    ] == ("Root")
    (row,) = desk.twilio.rows(
        "SELECT metadata FROM audit_log WHERE event = 'Thread Taken Over' ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(row["metadata"]) == {"from_reviewer": desk.ana.id, "forced": True}


def test_release_drafts_the_latest_unanswered_text_at_once(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("And on Sundays?")
    before = desk.snapshot()
    assert desk.bob_api.post(f"/threads/{CUSTOMER}/release").status_code == 409  # not his
    assert desk.snapshot() == before

    released = desk.api.post(f"/threads/{CUSTOMER}/release")
    assert released.status_code == 200 and released.json()["controls"]["taken_over_by"] is None
    desk.twilio.settle()
    last = desk.twilio.messages()[-1]
    assert (last["type"], last["status"]) == ("DRAFT", S.DRAFT_PENDING_APPROVAL)
    assert desk.place_of("And on Sundays?") is worklists.WorkList.QUEUE
    assert "Thread Released" in desk.twilio.events()
    assert desk.api.post(f"/threads/{CUSTOMER}/release").status_code == 409  # nothing to release


@pytest.mark.both_backends
def test_a_release_while_paused_drafts_the_texts_it_left_once_the_thread_is_resumed(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("And on Sundays?")
    assert desk.place_of("And on Sundays?") is worklists.WorkList.NEEDS_REPLY
    assert desk.api.post(f"/threads/{CUSTOMER}/pause", {"reason": "checking"}).status_code == 200
    assert desk.api.post(f"/threads/{CUSTOMER}/release").status_code == 200
    desk.twilio.settle()
    assert desk.place_of("And on Sundays?") is worklists.WorkList.NEEDS_REPLY  # still paused

    assert desk.api.post(f"/threads/{CUSTOMER}/resume").status_code == 200
    desk.twilio.settle()
    last = desk.twilio.messages()[-1]
    assert (last["type"], last["status"]) == ("DRAFT", S.DRAFT_PENDING_APPROVAL)
    assert desk.place_of("And on Sundays?") is worklists.WorkList.QUEUE

    # the release is given back once: a later pause and resume finds nothing deferred
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("Hello?")
    desk.api.post(f"/threads/{CUSTOMER}/pause", {"reason": "checking"})
    desk.api.post(f"/threads/{CUSTOMER}/resume")
    desk.twilio.settle()
    assert desk.place_of("Hello?") is worklists.WorkList.NEEDS_REPLY  # Ana still has it


@pytest.mark.both_backends
def test_a_start_after_twilios_opt_out_gives_back_what_a_release_left_for_the_resume(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("And on Sundays?")
    assert desk.place_of("And on Sundays?") is worklists.WorkList.NEEDS_REPLY
    # a send to the customer came back from Twilio with 21610: they had texted STOP
    desk.twilio.run(
        desk.web.db.write,
        lambda conn: message_lane.opt_out_thread(conn, CUSTOMER),
        priority=Priority.BULK,
    )
    assert desk.api.post(f"/threads/{CUSTOMER}/release").status_code == 200
    desk.twilio.settle()
    assert desk.place_of("And on Sundays?") is worklists.WorkList.NEEDS_REPLY  # still opted out

    desk.text("START")
    desk.twilio.settle()

    # the thread is nobody's now: its text is drafted, not left on Needs reply for Ana
    assert desk.place_of("And on Sundays?") is worklists.WorkList.QUEUE
    last = desk.twilio.messages()[-1]
    assert (last["type"], last["status"]) == ("DRAFT", S.DRAFT_PENDING_APPROVAL)
    # and the release is given back once: a later takeover's pause and resume keeps its text
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("Hello?")
    desk.api.post(f"/threads/{CUSTOMER}/pause", {"reason": "checking"})
    desk.api.post(f"/threads/{CUSTOMER}/resume")
    desk.twilio.settle()
    assert desk.place_of("Hello?") is worklists.WorkList.NEEDS_REPLY


@pytest.mark.both_backends
def test_a_close_or_a_stop_ends_a_takeover_with_its_release_on_record(desk):
    def releases() -> list[tuple[Any, ...]]:
        audited = desk.twilio.rows(
            "SELECT actor, actor_id, metadata FROM audit_log WHERE event = 'Thread Released'"
            " ORDER BY id"
        )
        emitted = desk.twilio.rows(
            "SELECT data FROM event_outbox WHERE type = 'thread.released' ORDER BY seq"
        )
        assert len(audited) == len(emitted)
        return [
            (row["actor"], row["actor_id"], json.loads(row["metadata"]), json.loads(event["data"]))
            for row, event in zip(audited, emitted, strict=True)
        ]

    ana, bob = {"id": desk.ana.id, "name": "Ana"}, {"id": desk.bob.id, "name": "Bob"}
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    assert desk.bob_api.post(f"/threads/{CUSTOMER}/close").status_code == 200
    assert releases() == [
        (
            "Human",
            desk.bob.id,
            {"holder": desk.ana.id, "reason": "ended by the close"},
            {"by": bob, "holder": ana},
        )
    ]
    events = desk.twilio.events()
    assert events.index("Thread Released") < events.index("Conversation Closed")

    desk.text("Me again")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("STOP")
    assert releases()[1:] == [
        (
            "System",
            None,
            {"holder": desk.ana.id, "reason": "ended by the opt-out"},
            {"by": None, "holder": ana},
        )
    ]
    assert desk.controls()["taken_over_by"] is None


def test_a_missed_call_on_a_taken_over_thread_is_the_holders_to_return(desk):
    desk.text("Do you deliver?")
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    desk.api.post(f"/drafts/{draft}/reject", {"notes": "a human must answer"})
    desk.api.post(f"/threads/{CUSTOMER}/takeover")

    desk.twilio.call()

    (row,) = desk.twilio.rows("SELECT metadata FROM audit_log WHERE event = 'Missed Call'")
    metadata = json.loads(row["metadata"])
    assert (metadata["text_back"], metadata["why_not"]) == (False, "the thread is taken over")
    assert [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"] == [draft]
    (notice,) = desk.twilio.rows(
        "SELECT body FROM notifications WHERE reviewer_id = :ana AND draft_id IS NULL",
        ana=desk.ana.id,
    )
    assert notice["body"] == (
        f"{CUSTOMER} called you on your thread and got no answer.\nCall back or reply on the web."
    )


def test_a_managers_reply_on_an_escalated_thread_sends_and_resolves_it(desk):
    desk.text("I want a refund")
    desk.api.post(f"/threads/{CUSTOMER}/escalate", {"reason": "refund question"})
    desk.text("Hello??")
    assert desk.place_of("Hello??") is worklists.WorkList.ATTENTION

    desk.web.sign_in("Bob")
    answer = desk.web.post(f"/threads/{CUSTOMER}/reply", {"body": "Refund is on its way."})
    assert answer.status_code == 303, answer.text
    controls = desk.controls()
    assert (controls["paused"], controls["paused_reason"], controls["pause_kind"]) == (
        0,
        None,
        None,
    )
    assert (controls["state"], controls["attention_reason"]) == ("ACTIVE", None)
    assert controls["taken_over_by"] == desk.bob.id
    reply = desk.twilio.messages()[-1]
    assert (reply["type"], reply["body"]) == ("OUTBOUND", "Refund is on its way.")
    assert reply["status"] in (S.APPROVED_TO_SEND, S.SENT)
    assert desk.places() == {}  # both texts are answered
    assert desk.api.get(f"/threads/{CUSTOMER}").json()["controls"]["taken_over_by"] == "Bob"


def test_a_reply_to_an_opted_out_customer_is_refused_in_the_issues_words(desk):
    desk.text("Do you deliver?")
    desk.text("STOP")
    desk.web.sign_in("Ana")
    before = desk.snapshot()
    refused = desk.api.post(f"/threads/{CUSTOMER}/reply", {"body": "Please come back"})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == OPTED_OUT
    web_refused = desk.web.post(f"/threads/{CUSTOMER}/reply", {"body": "Please come back"})
    assert web_refused.status_code == 409 and OPTED_OUT in web_refused.text
    assert desk.snapshot() == before
    page = desk.web.client.get(f"/threads/{CUSTOMER}").text
    assert OPTED_OUT in page


def test_stop_closes_and_the_next_text_opens_the_next_contact(desk):
    desk.text("Do you deliver?")
    desk.text("STOP")
    assert desk.controls()["state"] == "CLOSED"
    desk.text("START")
    assert desk.controls()["state"] == "ACTIVE"
    assert desk.places() == {}  # START is not a to-do
    events = desk.twilio.events()
    assert events.count("Conversation Closed") == 1 and "Conversation Reactivated" in events


def test_close_supersedes_open_replies_and_a_new_text_reopens_like_an_archived_one(desk):
    desk.text("Do you deliver?")
    (draft,) = [m for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    closed = desk.api.post(f"/threads/{CUSTOMER}/close")
    assert closed.status_code == 200 and closed.json()["conversation"]["state"] == "CLOSED"
    assert desk.twilio.rows("SELECT status FROM messages WHERE id = ?", draft["id"])[0][0] == (
        S.SUPERSEDED
    )
    assert desk.places() == {}
    before = desk.snapshot()
    assert desk.api.post(f"/threads/{CUSTOMER}/close").status_code == 409
    assert desk.snapshot() == before

    desk.text("Me again")
    assert desk.controls()["state"] == "ACTIVE"
    (reopened,) = desk.twilio.rows(
        "SELECT metadata FROM audit_log WHERE event = 'Conversation Reactivated'"
    )
    assert json.loads(reopened["metadata"])["from"] == "CLOSED"
    assert desk.place_of("Me again") is worklists.WorkList.QUEUE  # drafted as usual


def test_the_web_closes_too(desk):
    desk.text("Do you deliver?")
    desk.web.sign_in("Ana")
    assert desk.web.post(f"/threads/{CUSTOMER}/close").status_code == 303
    assert desk.controls()["state"] == "CLOSED"


def test_within_the_override_window_a_text_waits_for_the_human_who_replied(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/reply", {"body": "Yes, every day."})
    desk.text("Great, tomorrow then")
    assert desk.statuses()[-1] == ("INBOUND", "NEEDS_REVIEW", "Great, tomorrow then")
    assert desk.place_of("Great, tomorrow then") is worklists.WorkList.NEEDS_REPLY
    (stored,) = desk.twilio.rows(
        "SELECT metadata FROM audit_log WHERE event = 'Left For A Human' ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(stored["metadata"])["for"] == desk.ana.id


def test_with_no_override_window_the_bot_drafts_right_after_a_human_reply(make_settings):
    for desk in desk_for(make_settings(PUBLIC_BASE_URL=PUBLIC, HUMAN_OVERRIDE_WINDOW_SECONDS="0")):
        desk.text("Do you deliver?")
        desk.api.post(f"/threads/{CUSTOMER}/reply", {"body": "Yes, every day."})
        desk.text("Great, tomorrow then")
        assert desk.twilio.messages()[-1]["type"] == "DRAFT"


def test_no_reply_needed_takes_texts_off_every_list_audited(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("thanks!")
    assert desk.place_of("thanks!") is worklists.WorkList.NEEDS_REPLY
    answer = desk.api.post(f"/threads/{CUSTOMER}/dismiss", {"reason": "No reply needed"})
    assert answer.status_code == 200, answer.text
    # the first text's draft is still in the queue; "thanks!" is on no list, and not lost
    assert list(desk.places().values()) == [worklists.WorkList.QUEUE]
    assert desk.place_of("thanks!") is None
    (row,) = desk.twilio.rows(
        "SELECT metadata, actor_id FROM audit_log WHERE event = ?", "No Reply Needed"
    )
    assert json.loads(row["metadata"])["reason"] == "No reply needed"
    assert row["actor_id"] == desk.ana.id
    page = desk.web
    page.sign_in("Ana")
    assert "thanks!" not in page.client.get("/needs-review").text
    page.csrf("/")
    before = desk.snapshot()
    assert desk.api.post(f"/threads/{CUSTOMER}/dismiss").status_code == 409  # nothing left
    assert page.post(f"/threads/{CUSTOMER}/dismiss").status_code == 409
    assert desk.snapshot() == before


def test_already_decided_names_the_human_and_the_channel_after_the_send(desk):
    desk.text("Do you deliver?")
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    decision = review.Decision(desk.ana.id, DecisionChannel.SMS, reviewer_phone="+14155550111")
    desk.twilio.run(review.approve, desk.web.db, draft, decision)
    sent(desk.web, draft)  # the sender acted last; the answer still names Ana
    desk.web.sign_in("Bob")
    refused = desk.web.post(f"/drafts/{draft}/approve")
    assert refused.status_code == 409
    assert "Already approved and sent by Ana via SMS at" in refused.text
    api_refused = desk.bob_api.post(f"/drafts/{draft}/approve").json()["error"]["message"]
    assert "by Ana via SMS at" in api_refused


@pytest.mark.anyio
async def test_a_thread_that_needs_attention_is_never_archived(db):
    await make_inbound(db, CUSTOMER, "hello")

    def flag_long_ago(conn: Tx) -> None:
        workflow.flag_conversation(conn, CUSTOMER, "a human must look")
        conn.execute("UPDATE conversations SET last_activity_at = '2000-01-01'")

    await db.write(flag_long_ago)
    assert await jobs.archive_idle(db, 1) == 0
    row = await db.fetchone("SELECT state FROM conversations")
    assert row["state"] == "NEEDS_ATTENTION"


def test_an_idempotency_key_sends_one_reply_however_often_it_is_repeated(desk):
    desk.text("Do you deliver?")
    key = {"Idempotency-Key": "reply-1"}
    path = f"/api/v1/threads/{CUSTOMER}/reply"
    first = desk.web.client.post(
        path, json={"body": "Yes, daily."}, headers={**desk.api.headers(), **key}
    )
    assert first.status_code == 200, first.text
    sent(desk.web, first.json()["id"])  # the sender is done with it: a snapshot holds still
    before = desk.snapshot()
    again = desk.web.client.post(
        path, json={"body": "Yes, daily."}, headers={**desk.api.headers(), **key}
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = desk.web.client.post(path, json={"body": "No."}, headers={**desk.api.headers(), **key})
    assert other.status_code == 409
    assert desk.snapshot() == before  # nothing new sent, or changed
    # the key is Ana's own: Bob's same key is another reply
    bob = desk.web.client.post(
        path, json={"body": "Yes, daily."}, headers={**desk.bob_api.headers(), **key}
    )
    assert bob.status_code == 200 and bob.json()["id"] != first.json()["id"]


def test_the_web_forms_key_makes_a_double_submit_one_reply(desk):
    desk.text("Do you deliver?")
    desk.web.sign_in("Ana")
    page = desk.web.client.get(f"/threads/{CUSTOMER}").text
    form_key = page.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    for _ in range(2):
        answer = desk.web.post(
            f"/threads/{CUSTOMER}/reply", {"body": "Yes, daily.", "form_key": form_key}
        )
        assert answer.status_code == 303
    replies = [m for m in desk.twilio.messages() if m["type"] == "OUTBOUND"]
    assert len(replies) == 1


@pytest.mark.anyio
async def test_keys_older_than_24_hours_are_pruned(db):
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    inbound_id = await make_inbound(db, CUSTOMER, "hello")
    first = await review.write_reply(
        db, CUSTOMER, "hi", ana.id, in_reply_to_id=inbound_id, idempotency_key="k"
    )
    await db.write(
        lambda conn: conn.execute(
            "UPDATE idempotency_keys SET created_at = '2000-01-01T00:00:00+00:00'"
        )
    )
    assert await review.prune_idempotency_keys(db) == 1
    again = await review.write_reply(
        db, CUSTOMER, "hi", ana.id, in_reply_to_id=inbound_id, idempotency_key="k"
    )
    assert again != first


def test_listing_threads_newest_activity_first_by_state_phone_and_holder(desk):
    for number in ("+14155550100", "+14155550102", "+14155550103"):
        desk.twilio.text("hello", sender=number)
    desk.api.post("/threads/+14155550102/takeover")
    desk.api.post("/threads/+14155550103/close")
    everyone = desk.api.get("/threads", limit=2).json()
    assert [t["conversation"]["thread_id"] for t in everyone["items"]] == [
        "+14155550103",
        "+14155550102",
    ]
    rest = desk.api.get("/threads", limit=2, cursor=everyone["next_cursor"]).json()
    assert [t["conversation"]["thread_id"] for t in rest["items"]] == ["+14155550100"]
    assert rest["next_cursor"] is None
    held = desk.api.get("/threads", taken_over_by=str(desk.ana.id)).json()["items"]
    assert [(t["conversation"]["thread_id"], t["controls"]["taken_over_by"]) for t in held] == [
        ("+14155550102", "Ana")
    ]
    closed = desk.api.get("/threads", state="CLOSED").json()["items"]
    assert [t["conversation"]["state"] for t in closed] == ["CLOSED"]
    by_phone = desk.api.get("/threads", phone="+14155550100").json()["items"]
    assert [t["conversation"]["thread_id"] for t in by_phone] == ["+14155550100"]
    assert desk.api.get("/threads", state="OPEN").status_code == 422
    assert desk.api.get("/threads", cursor="nonsense").status_code == 400


def test_a_threads_messages_page_backwards(desk):
    for body in ("one", "two", "three"):
        desk.text(body)
    page = desk.api.get(f"/threads/{CUSTOMER}/messages", limit=2).json()
    assert len(page["items"]) == 2 and page["earlier_cursor"]
    earlier = desk.api.get(
        f"/threads/{CUSTOMER}/messages", limit=50, before=page["earlier_cursor"]
    ).json()
    everything = [m["id"] for m in earlier["items"]] + [m["id"] for m in page["items"]]
    assert everything == [m["id"] for m in desk.twilio.messages()]
    assert desk.api.get("/threads/+19999999999/messages").status_code == 404


def metric(desk: Desk, name: str, labels: dict[str, str] | None = None) -> float:
    scraped = desk.web.client.get("/metrics", headers=desk.api.headers())
    assert scraped.status_code == 200
    value = desk.twilio.client.app_state["metrics"].registry.get_sample_value(name, labels or {})
    return float(value or 0.0)


def test_metrics_count_takeovers_releases_closes_and_the_takeover_ratio(desk):
    for number in ("+14155550100", "+14155550102", "+14155550103", "+14155550104"):
        desk.twilio.text("hello", sender=number)
    desk.api.post("/threads/+14155550102/takeover")
    desk.root_api.post("/threads/+14155550102/takeover")  # forced: an admin's
    desk.api.post("/threads/+14155550100/takeover")
    desk.api.post("/threads/+14155550100/release")
    desk.api.post("/threads/+14155550103/close")
    desk.twilio.text("STOP", sender="+14155550104")
    counted = "approval_bot_thread_actions_total"
    assert metric(desk, counted, {"action": "takeover", "by": "reviewer"}) == 2
    assert metric(desk, counted, {"action": "takeover", "by": "admin"}) == 1
    assert metric(desk, counted, {"action": "release", "by": "reviewer"}) == 1
    assert metric(desk, counted, {"action": "close", "by": "reviewer"}) == 1
    assert metric(desk, counted, {"action": "close", "by": "opt_out"}) == 1
    # 2 of the 4 threads with activity this week were taken over
    assert metric(desk, "approval_bot_human_takeover_ratio") == 0.5


def test_metrics_count_the_release_a_close_or_a_stop_makes_of_a_taken_over_thread(desk):
    for number in ("+14155550100", "+14155550102", "+14155550103"):
        desk.twilio.text("hello", sender=number)
    desk.api.post("/threads/+14155550100/takeover")
    desk.api.post("/threads/+14155550102/takeover")
    desk.bob_api.post("/threads/+14155550100/close")
    desk.twilio.text("STOP", sender="+14155550102")
    desk.bob_api.post("/threads/+14155550103/close")  # nobody had it: nothing released
    counted = "approval_bot_thread_actions_total"
    assert metric(desk, counted, {"action": "release", "by": "reviewer"}) == 1
    assert metric(desk, counted, {"action": "release", "by": "opt_out"}) == 1
    assert metric(desk, counted, {"action": "close", "by": "reviewer"}) == 2
    assert metric(desk, counted, {"action": "close", "by": "opt_out"}) == 1


def test_a_customer_text_whose_reply_was_sent_shows_as_answered(desk):
    desk.text("Do you deliver?")
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    (text,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "INBOUND"]
    first = desk.api.get(f"/threads/{CUSTOMER}").json()["messages"]
    assert [m["answered"] for m in first if m["id"] == text] == [False]
    desk.api.post(f"/drafts/{draft}/approve")
    sent(desk.web, draft)
    messages = desk.api.get(f"/threads/{CUSTOMER}").json()["messages"]
    assert [m["answered"] for m in messages if m["id"] == text] == [True]
    assert [m["answered"] for m in messages if m["id"] == draft] == [None]
    desk.web.sign_in("Ana")
    page = desk.web.client.get(f"/threads/{CUSTOMER}").text
    customer = page.split(f'id="msg-{text}"', 1)[1].split("</li>", 1)[0]
    assert '<span class="status">answered</span>' in customer
    assert "DRAFT_PENDING_APPROVAL" not in customer


@pytest.mark.parametrize("text", ["Are you open?", "é" * 5000, "long words " * 900])
def test_the_holders_text_fits_three_sms_segments(text):
    notice = sms_text.holder_notification(CUSTOMER, text)
    assert sms_text.segments(notice) <= 3
    assert notice.startswith(f"{CUSTOMER} wrote on your thread:")


def _escalated_thread_before_takeover(conn: Tx) -> None:
    now = "2026-01-01T00:00:00+00:00"
    conn.execute(
        "INSERT INTO conversations (thread_id, state, attention_reason, last_activity_at,"
        " created_at) VALUES (?, 'NEEDS_ATTENTION', 'a human must look', ?, ?)",
        (CUSTOMER, now, now),
    )
    conn.execute(
        "INSERT INTO thread_controls (thread_id, paused, paused_reason, pause_kind,"
        " last_updated) VALUES (?, 1, 'escalated: a human must look', 'escalation', ?)",
        (CUSTOMER, now),
    )
    conn.execute(
        "INSERT INTO messages (id, thread_id, sender, receiver, body, status, type, timestamp,"
        " updated_at) VALUES ('in-1', ?, ?, '+14155550199', 'hello', 'PAUSED_THREAD',"
        " 'INBOUND', ?, ?)",
        (CUSTOMER, CUSTOMER, now, now),
    )


@pytest.mark.anyio
async def test_the_migration_keeps_every_conversation_and_what_refers_to_it(db_path):
    migrations = load_migrations()
    (takeover,) = [m for m in migrations if m.name == "takeover"]
    db = await SqliteStore.open(db_path)
    try:
        await db.migrate([m for m in migrations if m.version < takeover.version])
        # rows as the code of that schema wrote them (today's code needs the later tables)
        await db.write(_escalated_thread_before_takeover)
        before = await db.fetchall("SELECT * FROM conversations")
        await db.migrate(migrations)
        assert [tuple(r) for r in await db.fetchall("SELECT * FROM conversations")] == [
            tuple(r) for r in before
        ]
        assert await db.fetchall("PRAGMA foreign_key_check") == []
        # the indexes on conversations came back, and CLOSED is a state now
        names = {
            r["name"]
            for r in await db.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                ("conversations",),
            )
        }
        assert {"conversations_state_activity", "conversations_activity"} <= names
        ana = await make_reviewer(db, "Ana")  # today's code, on today's schema
        await review.close(db, CUSTOMER, ana.id)
        row = await db.fetchone("SELECT state FROM conversations")
        assert row is not None and row["state"] == "CLOSED"
        await make_inbound(db, "+14155550102", "a new thread after the rebuild")  # FKs hold
    finally:
        await db.close()


def _needs_reply_card(page: str, body: str) -> str:
    return page.split(body, 1)[1].split("</article>", 1)[0]


def _rejected_then_escalated(desk: Desk, text: str, reason: str) -> None:
    """The customer writes `text`; its draft is rejected and the thread escalated."""
    desk.text(text)
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    rejected = desk.api.post(f"/drafts/{draft}/reject", {"notes": "a manager must answer"})
    assert rejected.status_code == 200
    desk.api.post(f"/threads/{CUSTOMER}/escalate", {"reason": reason})


def test_needs_reply_offers_the_managers_reply_on_an_escalated_thread(desk):
    # the issue's reproduction: "a reply on a paused or escalated thread is refused
    # ('resume it first')"; Needs reply must offer the reply that resolves it, as the
    # thread page does, not send the reviewer off to resume (and let the bot draft again)
    _rejected_then_escalated(desk, "I want a refund", "refund question")
    assert desk.place_of("I want a refund") is worklists.WorkList.NEEDS_REPLY
    desk.web.sign_in("Bob")
    card = _needs_reply_card(desk.web.client.get("/needs-review").text, "I want a refund")
    assert "resume it" not in card and "/regenerate" not in card  # the bot drafts nothing
    assert f'action="/threads/{CUSTOMER.replace("+", "%2B")}/reply"' in card
    form_key = card.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    (text,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "INBOUND"]
    sent_back = desk.web.post(
        f"/threads/{CUSTOMER}/reply",
        {"body": "Your refund is on its way.", "in_reply_to_id": text, "form_key": form_key},
    )
    assert sent_back.status_code == 303, sent_back.text
    controls = desk.controls()
    assert (controls["paused"], controls["state"], controls["taken_over_by"]) == (
        0,
        "ACTIVE",
        desk.bob.id,
    )


def test_needs_reply_says_why_no_reply_can_go_on_a_thread_that_stays_closed(desk):
    _rejected_then_escalated(desk, "Do you deliver?", "unclear order")
    desk.text("STOP")  # a thread that needs attention is not closed by a STOP
    assert desk.place_of("Do you deliver?") is worklists.WorkList.NEEDS_REPLY
    desk.web.sign_in("Ana")
    card = _needs_reply_card(desk.web.client.get("/needs-review").text, "Do you deliver?")
    assert OPTED_OUT in card and "resume it" not in card
    assert "/reply" not in card


def _texts_to_reviewers_sent(desk: Desk) -> None:
    """Wait for the sender to deliver the reviewers' texts (it audits each), so a later
    snapshot holds still."""
    deadline = time.monotonic() + 20
    while desk.twilio.rows("SELECT id FROM notifications WHERE status = 'PENDING'"):
        assert time.monotonic() < deadline, "the reviewers' texts were never sent"
        time.sleep(0.05)


def test_a_draft_asked_for_on_a_taken_over_thread_is_refused_naming_the_holder(desk):
    desk.text("Do you deliver?")
    desk.api.post(f"/threads/{CUSTOMER}/takeover")
    desk.text("Hello? Anyone there?")
    (text,) = [m["id"] for m in desk.twilio.messages() if m["body"] == "Hello? Anyone there?"]
    desk.web.sign_in("Bob")
    _texts_to_reviewers_sent(desk)
    before = desk.snapshot()
    refused = desk.bob_api.post(f"/drafts/{text}/regenerate")
    assert refused.status_code == 409
    # not "paused or opted out": it is neither, and resuming would not help
    assert refused.json()["error"]["message"] == (
        f"Ana has taken thread {CUSTOMER} over: the bot drafts nothing on it until it is released"
    )
    web_refused = desk.web.post(f"/messages/{text}/regenerate")
    assert web_refused.status_code == 409 and "Ana has taken thread" in web_refused.text
    assert desk.snapshot() == before
    # and a button that cannot work is not offered
    card = _needs_reply_card(desk.web.client.get("/needs-review").text, "Hello? Anyone there?")
    assert "/regenerate" not in card and "/reply" in card
    thread_page = desk.web.client.get(f"/threads/{CUSTOMER}").text
    assert f'action="/messages/{text}/regenerate"' not in thread_page


def test_a_draft_asked_for_on_a_closed_conversation_says_it_is_closed(desk):
    desk.text("Do you deliver?")
    (draft,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "DRAFT"]
    desk.api.post(f"/drafts/{draft}/reject", {"notes": "a human must answer"})
    desk.api.post(f"/threads/{CUSTOMER}/close")
    (text,) = [m["id"] for m in desk.twilio.messages() if m["type"] == "INBOUND"]
    refused = desk.api.post(f"/drafts/{text}/regenerate")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        f"the conversation with {CUSTOMER} is closed: the customer's next text opens it again"
    )


def test_closing_a_closed_conversation_says_who_closed_it_on_every_door(desk):
    desk.text("Do you deliver?")
    closed = desk.api.post(f"/threads/{CUSTOMER}/close")
    assert closed.status_code == 200
    desk.web.sign_in("Bob")
    desk.web.csrf("/")
    before = desk.snapshot()
    (at,) = desk.twilio.rows(
        "SELECT timestamp FROM audit_log WHERE event = 'Conversation Closed' AND actor_id = :ana",
        ana=desk.ana.id,
    )
    when = at["timestamp"][:19].replace("T", " ")
    words = f"The thread is already closed (last change by Ana at {when} UTC); nothing was changed."
    again = desk.bob_api.post(f"/threads/{CUSTOMER}/close")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == words  # not "… on event <ConversationEvent…>"
    assert again.json()["error"]["decided_by"] == "Ana"
    web_again = desk.web.post(f"/threads/{CUSTOMER}/close")
    assert web_again.status_code == 409 and words in web_again.text
    assert desk.snapshot() == before
