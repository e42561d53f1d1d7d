"""The queue and every review action through the web, as a reviewer's browser sends them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import accounts, ladder, review, scheduler
from approval_bot.drafting.checks import Finding
from approval_bot.models import DecisionChannel, MessageStatus
from approval_bot.store import Tx
from tests.builders import make_draft, make_drafted_inbound, make_inbound, status_of

S = MessageStatus
# approved, and perhaps already sent by the sandbox sender the approval woke
APPROVED = {S.APPROVED_TO_SEND, S.SENT}
THREAD = "+14155550100"
OTHER = "+14155550101"


@pytest.fixture
def ana(web):
    reviewer = web.reviewer("Ana", phone="+14155550111")
    web.sign_in("Ana")
    return reviewer


def pending(web, thread=THREAD, text="Are you open today?", draft="Yes, 9 to 5."):
    """(the customer's text, its pending draft), written together: between two writes the
    running app's recovery job could find the text waiting and draft it a second time."""
    draft_id = web.call(make_drafted_inbound, web.db, thread, text, draft)
    (row,) = web.rows("SELECT in_reply_to_id FROM messages WHERE id = :id", id=draft_id)
    return row["in_reply_to_id"], draft_id


def status(web, message_id):
    return web.call(status_of, web.db, message_id)


def test_queue_sorts_by_urgency_and_cards_say_the_step_and_time_left(web, ana):
    _, first = pending(web, THREAD, "Are you open today?")
    _, second = pending(web, OTHER, "Do you deliver?")
    # a new version of the first reply is newer than the second, but its clock runs on
    edited = web.call(
        review.edit,
        web.db,
        first,
        "Yes, 9 to 6.",
        review.Decision(ana.id, DecisionChannel.WEB),
        approve=False,
    )
    page = web.client.get("/").text
    assert page.index(f'id="card-{edited}"') < page.index(f'id="card-{second}"')
    assert "waiting 0 s — reminder in 10 min" in page  # the default: 10 minutes

    # 31 minutes on (the defaults: reminder at 10, escalation at 30): both escalated
    web.call(ladder.run_pass, web.db, datetime.now(UTC) + timedelta(minutes=31))
    page = web.client.get("/").text
    card = page.split(f'id="card-{edited}"')[1].split("</header>")[0]
    assert 'class="waited overdue"' in card and "— overdue, escalated</span>" in card


def test_queue_shows_pending_drafts_oldest_first_with_their_context(web, ana):
    _, first = pending(web, THREAD, "Are you open today?", "Yes, 9 to 5.")
    _, second = pending(web, OTHER, "Do you deliver?", "We deliver on Fridays.")

    page = web.client.get("/")

    assert page.status_code == 200
    text = page.text
    assert text.index(f"card-{first}") < text.index(f"card-{second}")
    assert "Are you open today?" in text and "Yes, 9 to 5." in text
    assert "Do you deliver?" in text and "waiting" in text
    assert 'id="pending-count">2<' in text


def test_queue_pages_with_a_keyset(web, ana, monkeypatch):
    from approval_bot.store.views import queue

    monkeypatch.setattr(queue, "QUEUE_PAGE_SIZE", 2)
    ids = [pending(web, f"+1415555020{i}")[1] for i in range(3)]
    first = web.client.get("/").text
    assert f"card-{ids[0]}" in first and f"card-{ids[1]}" in first
    assert f"card-{ids[2]}" not in first
    link = first.split('href="/?after=')[1].split('"')[0]
    second = web.client.get("/?after=" + link.replace("&amp;", "&")).text
    assert f"card-{ids[2]}" in second and f"card-{ids[0]}" not in second


def test_a_malformed_cursor_is_400(web, ana):
    assert web.client.get("/?after=nonsense").status_code == 400


def test_approve_queues_the_reply_and_wakes_the_sender(web, ana):
    _, draft = pending(web)
    sched = web.client.app_state["scheduler"]

    async def push_the_next_tick_an_hour_out():
        job = sched.get_job(scheduler.SENDER_JOB_ID)
        job.modify(next_run_time=datetime.now(UTC) + timedelta(hours=1))

    web.call(push_the_next_tick_an_hour_out)

    response = web.post(f"/drafts/{draft}/approve")

    assert response.status_code == 303
    (approval,) = web.rows("SELECT * FROM approvals WHERE draft_id = ?", draft)
    assert (approval["action"], approval["channel"], approval["reviewer_id"]) == (
        "APPROVE",
        "web",
        ana.id,
    )
    deadline = time.monotonic() + 10  # the tick is an hour away: only a wake sends it now
    while status(web, draft) != S.SENT and time.monotonic() < deadline:
        time.sleep(0.02)
    assert status(web, draft) == S.SENT
    assert len(web.rows("SELECT * FROM sandbox_messages")) == 1
    assert "Approved" in web.client.get("/").text  # the flash message


def test_the_second_decision_is_told_who_was_first(web, ana):
    _, draft = pending(web)
    bob = web.reviewer("Bob")
    web.call(review.approve, web.db, draft, review.Decision(bob.id, DecisionChannel.SMS))

    response = web.post(f"/drafts/{draft}/reject", {"reason": "too late"})

    assert response.status_code == 409
    assert "Already approved by Bob" in response.text
    assert status(web, draft) in APPROVED
    assert len(web.rows("SELECT * FROM approvals WHERE draft_id = ?", draft)) == 1


@pytest.mark.both_backends
def test_a_decision_on_a_draft_a_close_withdrew_says_the_conversation_was_closed(web, ana):
    # before, the refusal and the queue's live update said "replaced by a newer version"
    _, draft = pending(web)
    bob = web.reviewer("Bob")
    web.call(review.close, web.db, THREAD, bob.id)

    response = web.post(f"/drafts/{draft}/approve")

    assert response.status_code == 409
    assert "Already withdrawn: Bob closed the conversation at " in response.text
    assert "newer version" not in response.text
    (decided,) = web.client.get("/queue/updates", params={"ids": draft}).json()["decided"]
    assert decided["text"].startswith("Withdrawn: Bob closed the conversation at ")
    assert decided["text"].endswith(" UTC")


@pytest.mark.both_backends
def test_a_draft_withdrawn_when_the_customer_opted_out_says_so(web, ana):
    _, draft = pending(web)

    def opt_out(conn: Tx) -> None:
        review.close_conversation(conn, THREAD, "the customer opted out", None, keep_held=True)

    web.call(web.db.write, opt_out)

    response = web.post(f"/drafts/{draft}/reject", {"reason": "no"})

    assert response.status_code == 409
    assert (
        "Already withdrawn: the conversation was closed (the customer opted out) at "
        in response.text
    )
    (decided,) = web.client.get("/queue/updates", params={"ids": draft}).json()["decided"]
    assert decided["text"].startswith(
        "Withdrawn: the conversation was closed (the customer opted out) at "
    )


@pytest.mark.both_backends
def test_a_decision_on_a_draft_a_newer_draft_replaced_says_replaced(web, ana):
    _, draft = pending(web)
    edited = web.post(f"/drafts/{draft}/edit", {"body": "Open 9 to 6", "approve": "0"})
    assert edited.status_code == 303

    response = web.post(f"/drafts/{draft}/approve")

    assert response.status_code == 409
    assert "Already replaced by a newer version" in response.text
    (decided,) = web.client.get("/queue/updates", params={"ids": draft}).json()["decided"]
    assert decided["text"].endswith("; replaced by a newer version")


@pytest.mark.both_backends
def test_approving_a_version_edited_elsewhere_is_refused_and_the_new_one_waits(web, ana):
    _, draft = pending(web, draft="Yes, 9 to 5.")
    bob = web.reviewer("Bob")
    new = web.call(
        review.edit,
        web.db,
        draft,
        "Closed on Sundays.",
        review.Decision(bob.id, DecisionChannel.WEB),
        approve=False,
    )

    # the card rendered before Bob's edit posts to its own version
    response = web.post(f"/drafts/{draft}/approve")

    assert response.status_code == 409
    assert "Already replaced by a newer version by Bob" in response.text
    assert "nothing was changed" in response.text
    assert status(web, draft) == S.SUPERSEDED
    assert status(web, new) == S.DRAFT_PENDING_APPROVAL
    assert web.rows("SELECT * FROM approvals") == []


@pytest.mark.parametrize("and_approve", ["0", "1"])
def test_edit_makes_a_new_version_and_keeps_the_original(web, ana, and_approve):
    _, draft = pending(web, draft="Open 9-5")

    response = web.post(f"/drafts/{draft}/edit", {"body": "Open 9 to 6", "approve": and_approve})

    assert response.status_code == 303
    (new,) = web.rows("SELECT * FROM messages WHERE superseded_by IS NULL AND draft_version = 2")
    assert new["body"] == "Open 9 to 6"
    assert new["status"] in (APPROVED if and_approve == "1" else {S.DRAFT_PENDING_APPROVAL})
    assert status(web, draft) == S.SUPERSEDED
    thread = web.client.get(f"/threads/{THREAD}").text
    assert "Open 9-5" in thread and "Open 9 to 6" in thread
    assert "<del>9-5</del>" in thread and "<ins>9 to 6</ins>" in thread


def test_an_empty_edit_is_400_and_changes_nothing(web, ana):
    _, draft = pending(web)
    response = web.post(f"/drafts/{draft}/edit", {"body": "   ", "approve": "1"})
    assert response.status_code == 400
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    assert len(web.rows("SELECT * FROM messages")) == 2


def test_reject_needs_a_reason_and_sends_the_message_to_needs_reply(web, ana):
    inbound, draft = pending(web, text="Where is my order #123?")

    assert web.post(f"/drafts/{draft}/reject", {"reason": ""}).status_code == 400
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL

    assert web.post(f"/drafts/{draft}/reject", {"reason": "wrong hours"}).status_code == 303
    assert status(web, draft) == S.REJECTED
    assert status(web, inbound) == S.NEEDS_REVIEW
    (approval,) = web.rows("SELECT * FROM approvals WHERE draft_id = ?", draft)
    assert approval["notes"] == "wrong hours"
    assert "Where is my order #123?" in web.client.get("/needs-review").text


def test_writing_a_reply_supersedes_the_draft_and_leaves_needs_reply(web, ana):
    inbound, draft = pending(web)
    web.post(f"/drafts/{draft}/reject", {"reason": "no"})

    response = web.post(
        f"/threads/{THREAD}/reply", {"body": "We open at 10 today.", "in_reply_to_id": inbound}
    )

    assert response.status_code == 303
    (reply,) = web.rows("SELECT * FROM messages WHERE type = 'OUTBOUND'")
    assert reply["body"] == "We open at 10 today." and reply["status"] in APPROVED
    assert "Are you open today?" not in web.client.get("/needs-review").text


def test_a_reply_to_another_threads_message_is_400(web, ana):
    other_inbound, _ = pending(web, OTHER)
    pending(web, THREAD)
    response = web.post(f"/threads/{THREAD}/reply", {"body": "hi", "in_reply_to_id": other_inbound})
    assert response.status_code == 400
    assert not web.rows("SELECT * FROM messages WHERE type = 'OUTBOUND'")


def test_pause_holds_the_draft_and_resume_brings_it_back(web, ana):
    _, draft = pending(web)

    assert web.post(f"/threads/{THREAD}/pause", {"reason": "angry customer"}).status_code == 303
    assert status(web, draft) == S.PAUSED_THREAD
    assert "angry customer" in web.client.get("/paused").text
    assert web.post(f"/threads/{THREAD}/pause").status_code == 409

    assert web.post(f"/threads/{THREAD}/resume").status_code == 303
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    assert web.post(f"/threads/{THREAD}/resume").status_code == 409


def test_approving_on_a_paused_thread_is_refused(web, ana):
    _, draft = pending(web)
    web.post(f"/threads/{THREAD}/pause")
    web.post(f"/threads/{THREAD}/resume")
    web.call(review.pause_thread, web.db, THREAD, "wait", ana.id)
    response = web.post(f"/drafts/{draft}/approve")
    assert response.status_code == 409
    assert status(web, draft) == S.PAUSED_THREAD


def test_escalate_pauses_and_flags_the_thread_in_one_go(web, ana):
    _, draft = pending(web)

    assert web.post(f"/threads/{THREAD}/escalate", {"reason": ""}).status_code == 400
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL

    assert web.post(f"/threads/{THREAD}/escalate", {"reason": "legal threat"}).status_code == 303
    (conversation,) = web.rows(
        "SELECT state, attention_reason FROM conversations WHERE thread_id = ?", THREAD
    )
    assert (conversation["state"], conversation["attention_reason"]) == (
        "NEEDS_ATTENTION",
        "legal threat",
    )
    assert status(web, draft) == S.PAUSED_THREAD
    assert "legal threat" in web.client.get("/attention").text

    assert web.post(f"/threads/{THREAD}/resolve").status_code == 303
    assert web.rows("SELECT state FROM conversations")[0]["state"] == "ACTIVE"
    assert web.post(f"/threads/{THREAD}/resolve").status_code == 409


ACTIONS = [
    ("/drafts/{draft}/approve", {}),
    ("/drafts/{draft}/edit", {"body": "x", "approve": "1"}),
    ("/drafts/{draft}/reject", {"reason": "x"}),
    ("/threads/{thread}/reply", {"body": "x"}),
    ("/threads/{thread}/pause", {"reason": "x"}),
    ("/threads/{thread}/escalate", {"reason": "x"}),
]


@pytest.mark.parametrize(("path", "data"), ACTIONS)
def test_actions_without_csrf_are_403_and_change_nothing(web, ana, path, data):
    _, draft = pending(web)
    before = web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"]

    response = web.client.post(path.format(draft=draft, thread=THREAD), data=data)

    assert response.status_code == 403
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    assert web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"] == before


@pytest.mark.parametrize(("path", "data"), ACTIONS)
def test_actions_need_a_signed_in_reviewer(web, path, data):
    web.reviewer("Ana")
    _, draft = pending(web)
    token = web.csrf("/login")
    url = path.format(draft=draft, thread=THREAD)

    scripted = web.client.post(url, data=data, headers={"x-csrf-token": token})
    from_a_form = web.client.post(
        url,
        data={"csrf_token": token, **data},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )

    assert scripted.status_code == 401
    assert from_a_form.status_code == 303 and from_a_form.headers["location"] == "/login"
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL


@pytest.mark.parametrize(
    "path", ["/drafts/nope/approve", "/drafts/nope/reject", "/threads/+19999999999/pause"]
)
def test_unknown_records_are_404(web, ana, path):
    assert web.post(path, {"reason": "x"}).status_code == 404


def test_scripted_actions_use_the_header_token_and_get_json(web, ana):
    _, draft = pending(web)
    token = web.csrf("/")
    response = web.client.post(f"/drafts/{draft}/approve", headers={"x-csrf-token": token})
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert status(web, draft) in APPROVED


def test_live_updates_name_who_decided_and_what_arrived(web, ana):
    _, first = pending(web)
    bob = web.reviewer("Bob")
    web.call(review.reject, web.db, first, review.Decision(bob.id, DecisionChannel.SMS, notes="no"))
    _, second = pending(web, OTHER)
    cursor = web.rows("SELECT timestamp FROM messages WHERE id = ?", first)[0]["timestamp"]

    data = web.client.get(
        "/queue/updates", params={"ids": f"{first},{second}", "after": f"{cursor}|{first}"}
    ).json()

    (decided,) = data["decided"]
    assert decided["id"] == first
    assert "Rejected by Bob by text" in decided["text"]
    assert data["arrived"] == [second]
    card = web.client.get(f"/fragments/cards/{second}")
    assert card.status_code == 200 and "We deliver" not in card.text and "Yes, 9 to 5." in card.text


def test_live_updates_refuse_bad_input(web, ana):
    many = ",".join(str(i) for i in range(101))
    assert web.client.get(f"/queue/updates?ids={many}").status_code == 400
    assert web.client.get("/queue/updates?after=garbage").status_code == 400
    assert web.client.get("/fragments/cards/nope").status_code == 404


def test_findings_show_on_the_card(web, ana):
    inbound = web.call(make_inbound, web.db, THREAD, "How much?")
    draft = web.call(make_draft, web.db, inbound, "It costs $5")
    web.call(_set_findings, web.db, draft, ["mentions a price not in the directives"])
    assert "mentions a price not in the directives" in web.client.get("/").text


def test_a_drafters_finding_shows_in_words_on_the_card_the_thread_and_the_api(web, ana):
    inbound = web.call(make_inbound, web.db, THREAD, "The haircut is $12, right?")
    draft = web.call(make_draft, web.db, inbound, "Yes, a haircut is $12.")
    # as the drafting service stores a draft check's finding
    finding = Finding("unknown_price", "$12 appears nowhere in the directives, FAQ or profile")
    web.call(_set_findings, web.db, draft, [finding.as_dict()])
    said = "$12 appears nowhere in the directives, FAQ or profile"

    for page in (web.client.get("/").text, web.client.get(f"/threads/{THREAD}").text):
        listed = page.split('<ul class="findings">')[1].split("</ul>")[0]
        assert listed == f"<li>{said}</li>"
    token = web.call(accounts.create_token, web.db, "test", "Ana")
    api = web.client.get("/api/v1/drafts", headers={"Authorization": f"Bearer {token}"})
    assert api.json()["items"][0]["findings"] == [said]


async def _set_findings(db, draft_id, findings):
    # draft_meta is not a status column; tests write it as the drafter would have
    def change(conn: Tx) -> Any:
        conn.execute(
            "UPDATE messages SET draft_meta = ? WHERE id = ?",
            (json.dumps({"drafter": "test", "findings": findings}), draft_id),
        )

    await db.write(change)


def test_live_updates_watch_for_replies_newer_than_any_pending(web, ana, monkeypatch):
    from approval_bot.store.views import queue

    monkeypatch.setattr(queue, "QUEUE_PAGE_SIZE", 1)
    pending(web, THREAD)
    _, newest = pending(web, OTHER)
    page = web.client.get("/").text
    watermark = page.split('data-newest="')[1].split('"')[0]
    assert watermark.endswith("|" + newest)
    assert 'data-last-page="0"' in page

    quiet = web.client.get("/queue/updates", params={"after": watermark}).json()
    assert quiet == {"claims": {}, "decided": [], "arrived": [], "newest": watermark}

    _, arrived = pending(web, "+14155550102")
    data = web.client.get("/queue/updates", params={"after": watermark}).json()
    assert data["arrived"] == [arrived]
    assert data["newest"].endswith("|" + arrived)


@pytest.mark.both_backends
def test_live_updates_bring_back_a_reply_a_resume_returns_to_the_queue(web, ana):
    # Ana's queue shows the other thread's reply; Bob had paused this one, holding its reply
    _, held = pending(web, THREAD)
    bob = web.reviewer("Bob")
    web.call(review.pause_thread, web.db, THREAD, "owner will call", bob.id)
    _, shown = pending(web, OTHER)
    page = web.client.get("/").text
    assert f'id="card-{held}"' not in page
    watermark = page.split('data-newest="')[1].split('"')[0]

    # Bob resumes the thread: its reply waits for approval again, and Ana's page is told
    web.call(review.resume_thread, web.db, THREAD, bob.id)
    assert status(web, held) == S.DRAFT_PENDING_APPROVAL
    data = web.client.get("/queue/updates", params={"ids": shown, "after": watermark}).json()
    assert data["arrived"] == [held]
    assert held in web.client.get("/queue/updates", params={"after": watermark}).json()["arrived"]


@pytest.mark.both_backends
def test_a_reply_with_line_breaks_counts_and_sends_as_the_edit_box_showed(web, ana):
    # the edit box (and its segment meter) counts a line break as one character; the
    # browser submits it as CRLF (HTML's form submission), which must not cost one more
    in_the_box = "Open 9 to 6 today\n" * 8 + "a" * 16  # 8 × 18 + 16 = 160 characters
    _, draft = pending(web)
    submitted = in_the_box.replace("\n", "\r\n")
    assert web.post(f"/drafts/{draft}/edit", {"body": submitted, "approve": "1"}).status_code == 303
    (new,) = web.rows("SELECT id, body FROM messages WHERE draft_version = 2")
    assert new["body"] == in_the_box
    token = web.call(accounts.create_token, web.db, "t", "Ana")
    answer = web.client.get(
        f"/api/v1/messages/{new['id']}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    # 160 GSM-7 characters are one segment (Twilio: 160 in one, 153 a part beyond)
    assert (answer["encoding"], answer["segments"]) == ("GSM-7", 1)

    # a reply as long as the box allows (1,600 with its line breaks) is taken, not a 400
    inbound, _ = pending(web, OTHER)
    longest = "\n".join(["b" * 99] * 16)  # 16 × 99 + 15 line breaks = 1,599
    response = web.post(
        f"/threads/{OTHER}/reply",
        {"body": longest.replace("\n", "\r\n") + "c", "in_reply_to_id": inbound},
    )
    assert response.status_code == 303
    (reply,) = web.rows("SELECT body FROM messages WHERE type = 'OUTBOUND'")
    assert reply["body"] == longest + "c"
