"""Issue 13's "Done when", as a new user tries it in the simulator: every step through the
web pages and the sandbox's signed webhook, nothing called behind the app's back."""

from __future__ import annotations

import json
from urllib.parse import quote

from .test_web_simulator import ANA_PHONE, CUSTOMER, pending_draft, texts, wait_for

THREAD = f"/threads/{quote(CUSTOMER)}"


def text(web, body):
    assert web.post("/simulator/send", {"from": CUSTOMER, "body": body}).status_code == 303


def draft_answering(web, body):
    """The pending draft written after the customer's `body`, once drafting made it."""

    def found():
        draft = pending_draft(web)
        (inbound,) = web.rows(
            "SELECT timestamp FROM messages WHERE type = 'INBOUND' AND body = ?", body
        )
        if draft is None:
            return None
        (row,) = web.rows("SELECT timestamp FROM messages WHERE id = ?", draft["id"])
        return draft if row["timestamp"] > inbound["timestamp"] else None

    return wait_for(found)


def conversation(web):
    return web.rows(
        "SELECT * FROM conversations JOIN thread_controls USING (thread_id) WHERE thread_id = ?",
        CUSTOMER,
    )[0]


def test_pause_text_resume_escalate_reply_release_close_as_a_new_user_would(web):
    web.reviewer("Ana", phone=ANA_PHONE)
    web.sign_in("Ana")
    text(web, "Hello")
    assert draft_answering(web, "Hello")

    # pause a thread, text it, resume: the text is in the queue
    assert web.post(f"{THREAD}/pause", {"reason": "checking"}).status_code == 303
    text(web, "Are you there?")
    assert web.post(f"{THREAD}/resume").status_code == 303
    draft = draft_answering(web, "Are you there?")
    assert draft is not None, "the text held by the pause never came back to the queue"
    assert draft["id"] in web.client.get("/").text

    # escalate, reply as a manager: the reply arrives, the thread is no longer flagged and
    # shows you as holding it
    assert web.post(f"{THREAD}/escalate", {"reason": "wants a manager"}).status_code == 303
    assert conversation(web)["state"] == "NEEDS_ATTENTION"
    answer = web.post(f"{THREAD}/reply", {"body": "This is the manager: all sorted."})
    assert answer.status_code == 303, answer.text
    assert wait_for(lambda: ("in", "This is the manager: all sorted.") in texts(web, CUSTOMER))
    now = conversation(web)
    assert (now["state"], now["attention_reason"], now["paused"]) == ("ACTIVE", None, 0)
    page = web.client.get(THREAD).text
    assert "You have this thread since" in page
    assert CUSTOMER not in web.client.get("/attention").text

    # release: the next text is drafted
    assert web.post(f"{THREAD}/release").status_code == 303
    text(web, "When do you open tomorrow?")
    assert draft_answering(web, "When do you open tomorrow?")

    # close: the next text opens the next contact
    assert web.post(f"{THREAD}/close").status_code == 303
    assert conversation(web)["state"] == "CLOSED"
    text(web, "Hi again, new question")
    assert conversation(web)["state"] == "ACTIVE"
    (reopened,) = web.rows(
        "SELECT metadata FROM audit_log WHERE event = 'Conversation Reactivated'"
    )
    assert json.loads(reopened["metadata"])["from"] == "CLOSED"
    assert draft_answering(web, "Hi again, new question")
