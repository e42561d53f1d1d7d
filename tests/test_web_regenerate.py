"""Regenerate from the queue, the thread page and the needs-reply view; approve with notes."""

from __future__ import annotations

import pytest

from approval_bot import review
from approval_bot.drafting import DraftUnavailable
from approval_bot.models import DecisionChannel, MessageStatus
from tests.builders import make_drafted_inbound, status_of

S = MessageStatus
THREAD = "+14155550100"


@pytest.fixture
def ana(web):
    reviewer = web.reviewer("Ana")
    web.sign_in("Ana")
    return reviewer


def pending(web, text="Hello there", draft="Old draft text."):
    """(the customer's text, its pending draft), written together: between two writes the
    running app's recovery job could find the text waiting and draft it a second time."""
    draft_id = web.call(make_drafted_inbound, web.db, THREAD, text, draft)
    (row,) = web.rows("SELECT in_reply_to_id FROM messages WHERE id = :id", id=draft_id)
    return row["in_reply_to_id"], draft_id


def open_drafts(web):
    return web.rows(
        "SELECT * FROM messages WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
    )


def test_regenerate_replaces_the_draft_with_a_new_pending_version(web, ana):
    _, draft = pending(web)

    response = web.post(f"/messages/{draft}/regenerate")

    assert response.status_code == 303
    assert web.call(status_of, web.db, draft) == S.SUPERSEDED
    (new,) = open_drafts(web)
    assert new["draft_version"] == 2 and new["body"] != "Old draft text."
    assert "pending approval" in web.client.get("/").text  # the flash
    queue = web.client.get("/").text
    assert f"card-{new['id']}" in queue and f"card-{draft}" not in queue
    (event,) = web.rows(
        "SELECT actor_id FROM audit_log WHERE event = 'Superseded' AND message_id = ?", draft
    )
    assert event["actor_id"] == ana.id


def test_regenerate_a_message_that_needs_a_reply(web, ana):
    inbound, draft = pending(web)
    web.post(f"/drafts/{draft}/reject", {"reason": "not us"})
    assert web.call(status_of, web.db, inbound) == S.NEEDS_REVIEW
    assert f"/messages/{inbound}/regenerate" in web.client.get("/needs-review").text

    assert web.post(f"/messages/{inbound}/regenerate").status_code == 303

    assert web.call(status_of, web.db, inbound) == S.DRAFT_PENDING_APPROVAL
    (new,) = open_drafts(web)
    assert new["in_reply_to_id"] == inbound


def test_regenerate_answers_json_to_a_script(web, ana):
    _, draft = pending(web)
    token = web.csrf("/")
    response = web.client.post(f"/messages/{draft}/regenerate", headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and response.json()["ok"] is True


def test_regenerate_a_decided_draft_is_409_and_changes_nothing(web, ana):
    _, draft = pending(web)
    bob = web.reviewer("Bob")
    web.call(review.approve, web.db, draft, review.Decision(bob.id, DecisionChannel.WEB))

    response = web.post(f"/messages/{draft}/regenerate")

    assert response.status_code == 409
    assert "only a pending draft" in response.text
    assert open_drafts(web) == []


def test_regenerate_on_a_paused_thread_is_409(web, ana):
    _, draft = pending(web)
    web.call(review.pause_thread, web.db, THREAD, "hold on", ana.id)
    response = web.post(f"/messages/{draft}/regenerate")
    assert response.status_code == 409
    assert "paused" in response.text
    assert web.rows("SELECT * FROM messages WHERE type = 'DRAFT' AND draft_version = 2") == []


def test_regenerate_an_unknown_message_is_404(web, ana):
    assert web.post("/messages/nope/regenerate").status_code == 404


def test_a_drafter_that_cannot_draft_is_422(web, ana, monkeypatch):
    _, draft = pending(web)
    service = web.client.app_state["drafting"]

    async def no_draft(context):
        raise DraftUnavailable("the model is away")

    monkeypatch.setattr(service.drafter, "draft", no_draft)

    response = web.post(f"/messages/{draft}/regenerate")

    assert response.status_code == 422
    assert "write your own reply" in response.text
    assert web.call(status_of, web.db, draft) == S.DRAFT_PENDING_APPROVAL


def test_regenerate_needs_sign_in_and_csrf(web):
    web.reviewer("Ana")
    _, draft = pending(web)
    assert web.client.post(f"/messages/{draft}/regenerate").status_code == 401
    web.sign_in("Ana")
    assert web.client.post(f"/messages/{draft}/regenerate").status_code == 403
    assert web.call(status_of, web.db, draft) == S.DRAFT_PENDING_APPROVAL


def test_the_queue_and_thread_offer_regenerate_and_approval_notes(web, ana):
    _, draft = pending(web)
    for page in (web.client.get("/").text, web.client.get(f"/threads/{THREAD}").text):
        assert f'action="/messages/{draft}/regenerate"' in page
        assert 'name="notes"' in page


def test_approve_with_notes_records_them(web, ana):
    _, draft = pending(web)
    assert web.post(f"/drafts/{draft}/approve", {"notes": "checked the hours"}).status_code == 303
    (approval,) = web.rows("SELECT notes FROM approvals WHERE draft_id = ?", draft)
    assert approval["notes"] == "checked the hours"
    assert "checked the hours" in web.client.get(f"/threads/{THREAD}").text
