"""The JSON API: tokens, every endpoint's success and refusals, and that refusals change nothing."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import accounts, directives, draft_notices, ladder, review, workflow
from approval_bot.models import MessageStatus, PauseKind, Role
from approval_bot.store import Tx, sql
from tests.builders import make_drafted_inbound, status_of

S = MessageStatus
APPROVED = {S.APPROVED_TO_SEND, S.SENT}
THREAD = "+14155550100"
OTHER = "+14155550101"

pytestmark = pytest.mark.both_backends


class Api:
    """A token-carrying client of /api/v1 on the `web` fixture's app."""

    def __init__(self, web, token: str) -> None:
        self.web, self.token = web, token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, **params):
        return self.web.client.get(f"/api/v1{path}", params=params, headers=self.headers())

    def post(self, path: str, body=None, token: str | None = None):
        kwargs = {} if body is None else {"json": body}
        return self.web.client.post(f"/api/v1{path}", headers=self.headers(token), **kwargs)

    def put(self, path: str, body, token: str | None = None):
        return self.web.client.put(f"/api/v1{path}", json=body, headers=self.headers(token))


def token_for(web, reviewer_name: str, token_name: str | None = None) -> str:
    token: str = web.call(accounts.create_token, web.db, token_name or reviewer_name, reviewer_name)
    return token


@pytest.fixture
def api(web):
    web.reviewer("Ana", phone="+14155550111")
    return Api(web, token_for(web, "Ana"))


def pending(web, thread=THREAD, text="Are you open today?", draft="Yes, 9 to 5."):
    """(the customer's text, its pending draft), written together: between two writes the
    running app's recovery job could find the text waiting and draft it a second time."""
    draft_id = web.call(make_drafted_inbound, web.db, thread, text, draft)
    (row,) = web.rows("SELECT in_reply_to_id FROM messages WHERE id = :id", id=draft_id)
    return row["in_reply_to_id"], draft_id


def status(web, message_id):
    return web.call(status_of, web.db, message_id)


def sent(web, message_id):
    """Wait for the sandbox sender the approval woke, so a later snapshot is stable."""
    deadline = time.monotonic() + 20
    while status(web, message_id) != S.SENT and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(web, message_id) == S.SENT


def state(web):
    """Everything a refused request must leave as it was."""
    return [
        [tuple(row[key] for key in row.keys()) for row in web.rows(query)]
        for query in (
            "SELECT id, status, body FROM messages ORDER BY id",
            "SELECT count(*) AS n FROM audit_log",
            "SELECT count(*) AS n FROM approvals",
            "SELECT thread_id, paused, paused_reason FROM thread_controls ORDER BY thread_id",
            "SELECT thread_id, state, opted_out FROM conversations ORDER BY thread_id",
            "SELECT scope, body FROM directives ORDER BY scope",
            "SELECT id, scope, keywords, answer FROM faq_entries ORDER BY id",
            "SELECT * FROM templates ORDER BY key",
        )
    ]


def refused(response, status_code: int) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == status_code and error["message"]
    return error


# --- tokens ----------------------------------------------------------------------------------


def test_no_token_or_a_wrong_one_is_401_and_changes_nothing(web, api):
    _, draft = pending(web)
    before = state(web)
    bare = web.client.post(f"/api/v1/drafts/{draft}/approve")
    error = refused(bare, 401)
    assert "Bearer" in error["message"] and bare.headers["www-authenticate"] == "Bearer"
    refused(api.post(f"/drafts/{draft}/approve", token="abt_not-a-real-token"), 401)
    basic = web.client.get("/api/v1/drafts", headers={"Authorization": "Basic YW5hOng="})
    refused(basic, 401)
    assert state(web) == before


def test_a_revoked_token_is_401_at_once(web, api):
    assert api.get("/drafts").status_code == 200
    web.call(accounts.revoke_token, web.db, "Ana")
    error = refused(api.get("/drafts"), 401)
    assert "revoked" in error["message"]


def test_a_disabled_reviewers_token_is_401(web, api):
    _, draft = pending(web)
    web.call(accounts.disable_reviewer, web.db, "Ana")
    before = state(web)
    refused(api.post(f"/drafts/{draft}/approve"), 401)
    assert state(web) == before and status(web, draft) == S.DRAFT_PENDING_APPROVAL


def test_the_openapi_description_needs_no_token(web):
    response = web.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


# --- drafts ----------------------------------------------------------------------------------


def test_drafts_lists_pending_replies_with_context_findings_and_code(web, api):
    inbound, first = pending(web, THREAD, "Are you open today?", "Yes, 9 to 5.")
    _, second = pending(web, OTHER, "Do you deliver?", "We deliver on Fridays.")

    async def seed(db):
        def change(conn: Tx) -> Any:
            conn.run(
                sql("UPDATE messages SET draft_meta = :meta WHERE id = :id"),
                meta=json.dumps({"drafter": "builtin", "findings": ["a link: x.io"]}),
                id=first,
            )
            draft_notices.issue_code(conn, first)

        await db.write(change)

    web.call(seed, web.db)
    code = web.rows("SELECT code FROM draft_codes WHERE message_id = :id", id=first)[0]["code"]

    body = api.get("/drafts").json()

    assert [item["id"] for item in body["items"]] == [first, second]
    item = body["items"][0]
    assert item["code"] == code and item["findings"] == ["a link: x.io"]
    assert (
        item["recent"][-1]["id"] == inbound and item["recent"][-1]["body"] == "Are you open today?"
    )
    assert item["conversation_state"] == "ACTIVE" and item["paused"] is False
    assert body["next_cursor"] is None


def test_drafts_give_the_review_deadline_due_and_step(web, api):
    _, draft = pending(web)
    (clock,) = web.rows("SELECT started_at FROM review_clocks WHERE draft_id = :id", id=draft)
    started = datetime.fromisoformat(clock["started_at"])

    # the defaults (issue 15): reminder at 10 minutes, escalation at 30, always open
    item = api.get("/drafts").json()["items"][0]
    assert item["sla_step"] == "none"
    assert datetime.fromisoformat(item["due_at"]) == started + timedelta(minutes=10)

    web.call(ladder.run_pass, web.db, datetime.now(UTC) + timedelta(minutes=11))
    item = api.get("/drafts").json()["items"][0]
    assert item["sla_step"] == "reminded"
    assert datetime.fromisoformat(item["due_at"]) == started + timedelta(minutes=30)

    web.call(ladder.run_pass, web.db, datetime.now(UTC) + timedelta(minutes=31))
    item = api.get("/drafts").json()["items"][0]
    # no holding reply by default: nothing is left to come
    assert (item["sla_step"], item["due_at"]) == ("escalated", None)


def test_drafts_page_with_a_cursor_and_filter_by_thread_and_status(web, api):
    ids = [pending(web, f"+1415555020{i}")[1] for i in range(3)]
    first = api.get("/drafts", limit=2).json()
    assert [i["id"] for i in first["items"]] == ids[:2] and first["next_cursor"]
    second = api.get("/drafts", limit=2, cursor=first["next_cursor"]).json()
    assert [i["id"] for i in second["items"]] == ids[2:] and second["next_cursor"] is None

    assert [i["id"] for i in api.get("/drafts", thread_id="+14155550201").json()["items"]] == [
        ids[1]
    ]
    api.post(f"/drafts/{ids[0]}/reject", {"notes": "no"})
    rejected = api.get("/drafts", status="REJECTED").json()["items"]
    assert [i["id"] for i in rejected] == [ids[0]]


@pytest.mark.parametrize(
    ("params", "status_code", "field"),
    [
        ({"cursor": "nonsense"}, 400, "cursor"),
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"status": "LOST"}, 422, "status"),
        ({"colour": "blue"}, 422, "colour"),
    ],
)
def test_drafts_refuses_bad_query_strings_naming_the_field(web, api, params, status_code, field):
    error = refused(api.get("/drafts", **params), status_code)
    assert error.get("field") == field


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/drafts", "status=REJECTED&status=SENT", "status"),
        ("/drafts", "limit=1&thread_id=%2B14155550100&limit=2", "limit"),
        ("/threads", "state=ACTIVE&state=ARCHIVED", "state"),
        (f"/threads/{THREAD}/messages", "limit=5&limit=5", "limit"),
        (f"/threads/{THREAD}", "before=a&before=b", "before"),
        ("/audit", "event=Draft%20Approved&event=Draft%20Rejected", "event"),
        ("/directives", "scope=global&scope=global", "scope"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_naming_it(web, api, path, query, name):
    pending(web)
    before = state(web)
    error = refused(web.client.get(f"/api/v1{path}?{query}", headers=api.headers()), 400)
    assert error["field"] == name and name in error["message"]
    assert state(web) == before


def test_a_message_with_its_decisions(web, api):
    inbound, draft = pending(web)
    api.post(f"/drafts/{draft}/approve", {"notes": "fine"})
    body = api.get(f"/messages/{draft}").json()
    assert body["id"] == draft and body["type"] == "DRAFT" and body["in_reply_to_id"] == inbound
    (approval,) = body["approvals"]
    assert approval["reviewer_name"] == "Ana" and approval["channel"] == "api"
    assert approval["notes"] == "fine" and approval["action"] == "APPROVE"
    assert api.get(f"/messages/{inbound}").json()["type"] == "INBOUND"
    refused(api.get("/messages/nope"), 404)


def test_approve_queues_the_reply_and_names_the_api_as_channel(web, api):
    _, draft = pending(web)
    response = api.post(f"/drafts/{draft}/approve")
    assert response.status_code == 200, response.text
    assert S(response.json()["status"]) in APPROVED
    assert status(web, draft) in APPROVED
    rows = web.rows("SELECT channel, reviewer_id FROM approvals WHERE draft_id = :id", id=draft)
    assert [(r["channel"], r["reviewer_id"]) for r in rows] == [("api", 1)]


def test_approving_twice_is_409_naming_who_decided(web, api):
    _, draft = pending(web)
    web.reviewer("Ben")
    ben = token_for(web, "Ben")
    assert api.post(f"/drafts/{draft}/approve", token=ben).status_code == 200
    sent(web, draft)
    before = state(web)
    error = refused(api.post(f"/drafts/{draft}/approve"), 409)
    assert "by Ben" in error["message"]
    assert state(web) == before


def test_approving_a_draft_a_close_withdrew_says_who_closed_the_conversation(web, api):
    # before: "Already replaced by a newer version", though no newer version exists
    _, draft = pending(web)
    ben = web.reviewer("Ben")
    web.call(review.close, web.db, THREAD, ben.id)
    before = state(web)

    error = refused(api.post(f"/drafts/{draft}/approve"), 409)

    assert error["message"].startswith("Already withdrawn: Ben closed the conversation at ")
    assert error["message"].endswith(" UTC; nothing was changed.")
    assert error["decided_by"] == "Ben"
    assert state(web) == before


def test_approving_a_draft_an_edit_replaced_says_replaced(web, api):
    _, draft = pending(web)
    edited = api.post(f"/drafts/{draft}/edit", {"body": "Open 9 to 6.", "approve": False})
    assert edited.status_code == 200, edited.text

    error = refused(api.post(f"/drafts/{draft}/approve"), 409)

    assert error["message"].startswith("Already replaced by a newer version by Ana")


def test_two_concurrent_approvals_one_wins_the_other_is_told_who(web, api):
    _, draft = pending(web)
    web.reviewer("Ben")
    tokens = {"Ana": api.token, "Ben": token_for(web, "Ben")}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(api.post, f"/drafts/{draft}/approve", None, token)
            for name, token in tokens.items()
        }
        answers = {name: future.result() for name, future in futures.items()}
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200, 409]
    winner = next(name for name, r in answers.items() if r.status_code == 200)
    loser = next(r for r in answers.values() if r.status_code == 409)
    assert f"by {winner}" in loser.json()["error"]["message"]
    assert len(web.rows("SELECT 1 FROM approvals WHERE draft_id = :id", id=draft)) == 1


def test_approve_on_a_paused_thread_is_409_and_changes_nothing(web, api):
    _, draft = pending(web)
    api.post(f"/threads/{THREAD}/pause", {"reason": "checking"})
    before = state(web)
    error = refused(api.post(f"/drafts/{draft}/approve"), 409)
    assert "paused" in error["message"]
    assert state(web) == before


def test_approve_on_an_opted_out_thread_is_409(web, api):
    _, draft = pending(web)

    async def opt_out(db):
        def change(conn: Tx) -> Any:
            from approval_bot import workflow

            workflow.set_opted_out(conn, THREAD, opted_out=True, source="test")

        await db.write(change)

    web.call(opt_out, web.db)
    before = state(web)
    error = refused(api.post(f"/drafts/{draft}/approve"), 409)
    assert "opted out" in error["message"]
    assert state(web) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status_code"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b'{"notes": "ok"}', "text/plain", 415),
        (b"[1, 2]", "application/json", 422),
        (b'{"notes": "' + b"x" * 501 + b'"}', "application/json", 422),
        (b'{"note": "typo"}', "application/json", 422),
        (b'{"notes": "' + b"x" * (65 * 1024) + b'"}', "application/json", 413),
    ],
)
def test_approve_refuses_bad_bodies_and_changes_nothing(
    web, api, content, content_type, status_code
):
    _, draft = pending(web)
    before = state(web)
    response = web.client.post(
        f"/api/v1/drafts/{draft}/approve",
        content=content,
        headers={**api.headers(), "Content-Type": content_type},
    )
    error = refused(response, status_code)
    if status_code == 422 and content.startswith(b"{"):
        assert error["field"] in ("notes", "note")
    assert state(web) == before


@pytest.mark.parametrize("action", ["approve", "reject", "edit"])
def test_decisions_on_unknown_drafts_or_customer_messages_are_404(web, api, action):
    inbound, _ = pending(web)
    before = state(web)
    body = {"body": "Hi", "approve": True} if action == "edit" else {}
    for target in ("no-such-id", inbound):
        refused(api.post(f"/drafts/{target}/{action}", body), 404)
    assert state(web) == before


def test_reject_sends_the_customer_message_back_to_review(web, api):
    inbound, draft = pending(web)
    response = api.post(f"/drafts/{draft}/reject", {"notes": "wrong hours"})
    assert response.status_code == 200 and response.json()["status"] == "REJECTED"
    assert status(web, inbound) == S.NEEDS_REVIEW
    error = refused(api.post(f"/drafts/{draft}/reject"), 409)
    assert "Already rejected by Ana" in error["message"]


def test_edit_returns_the_new_version_pending_or_approved(web, api):
    _, draft = pending(web)
    saved = api.post(f"/drafts/{draft}/edit", {"body": "Yes, 9 to 6.", "approve": False}).json()
    assert saved["id"] != draft and saved["body"] == "Yes, 9 to 6."
    assert saved["status"] == "DRAFT_PENDING_APPROVAL" and saved["draft_version"] == 2
    assert status(web, draft) == S.SUPERSEDED
    approved = api.post(
        f"/drafts/{saved['id']}/edit", {"body": "Yes, 9 to 7.", "approve": True, "notes": "hours"}
    ).json()
    assert S(approved["status"]) in APPROVED and approved["draft_version"] == 3
    assert approved["approvals"][0]["action"] == "EDIT"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"approve": True}, "body"),
        ({"body": "   ", "approve": True}, "body"),
        ({"body": "x" * 1601, "approve": False}, "body"),
        ({"body": "Hi"}, "approve"),
        ({"body": "Hi", "approve": "perhaps"}, "approve"),
    ],
)
def test_edit_refuses_invalid_fields_naming_them(web, api, body, field):
    _, draft = pending(web)
    before = state(web)
    error = refused(api.post(f"/drafts/{draft}/edit", body), 422)
    assert error["field"] == field
    assert state(web) == before


def test_regenerate_makes_a_new_version_and_refuses_a_decided_draft(web, api):
    _, draft = pending(web)
    response = api.post(f"/drafts/{draft}/regenerate")
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["id"] != draft and new["status"] == "DRAFT_PENDING_APPROVAL"
    assert status(web, draft) == S.SUPERSEDED
    api.post(f"/drafts/{new['id']}/approve")
    sent(web, new["id"])
    before = state(web)
    refused(api.post(f"/drafts/{new['id']}/regenerate"), 409)
    refused(api.post("/drafts/nope/regenerate"), 404)
    assert state(web) == before


def test_regenerate_refuses_an_older_text_while_a_newer_one_has_its_draft_pending(web, api):
    first, first_draft = pending(web, text="Are you open today?")
    api.post(f"/drafts/{first_draft}/reject", {"notes": "wrong"})
    second, second_draft = pending(web, text="And tomorrow?")
    before = state(web)
    error = refused(api.post(f"/drafts/{first}/regenerate"), 409)
    assert second in error["message"]
    assert state(web) == before  # the newer text's draft is still the live one
    assert status(web, second_draft) == S.DRAFT_PENDING_APPROVAL


# --- threads ---------------------------------------------------------------------------------


def test_a_thread_with_its_controls_and_messages_in_order(web, api):
    inbound, draft = pending(web)
    body = api.get(f"/threads/{THREAD}").json()
    assert body["conversation"]["thread_id"] == THREAD and body["controls"]["paused"] is False
    assert [m["id"] for m in body["messages"]] == [inbound, draft]
    assert body["earlier_cursor"] is None
    refused(api.get("/threads/+19999999999"), 404)
    error = refused(api.get(f"/threads/{THREAD}", before="bad"), 400)
    assert error["field"] == "before"  # the parameter's own name
    error = refused(api.get(f"/threads/{THREAD}/messages", before="bad"), 400)
    assert error["field"] == "before"


def test_pause_resume_and_their_conflicts(web, api):
    _, draft = pending(web)
    paused = api.post(f"/threads/{THREAD}/pause", {"reason": "angry customer"}).json()
    assert paused["controls"] == {
        "paused": True,
        "paused_reason": "angry customer",
        "pause_kind": "reviewer",
        "last_updated": paused["controls"]["last_updated"],
        "taken_over_by": None,
        "taken_over_at": None,
    }
    assert status(web, draft) == S.PAUSED_THREAD
    before = state(web)
    error = refused(api.post(f"/threads/{THREAD}/pause", {"reason": "again"}), 409)
    assert "already paused" in error["message"] and "Ana" in error["message"]
    assert state(web) == before

    resumed = api.post(f"/threads/{THREAD}/resume").json()
    assert resumed["controls"]["paused"] is False
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    before = state(web)
    refused(api.post(f"/threads/{THREAD}/resume"), 409)
    refused(api.post("/threads/+19999999999/pause", {}), 404)
    assert state(web) == before


def test_escalate_pauses_and_flags_the_thread(web, api):
    pending(web)
    before = state(web)
    error = refused(api.post(f"/threads/{THREAD}/escalate", {}), 422)
    assert error["field"] == "reason"
    assert state(web) == before
    body = api.post(f"/threads/{THREAD}/escalate", {"reason": "legal question"}).json()
    assert body["controls"]["paused"] is True
    assert body["conversation"]["state"] == "NEEDS_ATTENTION"
    assert body["conversation"]["attention_reason"] == "legal question"
    refused(api.post("/threads/+19999999999/escalate", {"reason": "x"}), 404)


def test_reply_supersedes_the_draft_and_answers_the_latest_text(web, api):
    inbound, draft = pending(web)
    response = api.post(f"/threads/{THREAD}/reply", {"body": "Open till 5 today."})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["type"] == "OUTBOUND" and reply["in_reply_to_id"] == inbound
    assert S(reply["status"]) in APPROVED
    assert status(web, draft) == S.SUPERSEDED


def test_reply_refusals_change_nothing(web, api):
    pending(web)
    _, other = pending(web, OTHER)
    other_inbound = web.rows("SELECT in_reply_to_id FROM messages WHERE id = :id", id=other)[0][
        "in_reply_to_id"
    ]
    before = state(web)
    assert refused(api.post(f"/threads/{THREAD}/reply", {"body": " "}), 422)["field"] == "body"
    nul = refused(api.post(f"/threads/{THREAD}/reply", {"body": "a\u0000b"}), 422)
    assert (nul["field"], "NUL" in nul["message"]) == ("body", True)
    error = refused(
        api.post(f"/threads/{THREAD}/reply", {"body": "Hi", "in_reply_to_id": other_inbound}), 422
    )
    assert error["field"] == "in_reply_to_id"
    refused(api.post("/threads/+19999999999/reply", {"body": "Hi"}), 404)
    assert state(web) == before
    web.call(web.db.write, opt_out)
    before = state(web)
    error = refused(api.post(f"/threads/{THREAD}/reply", {"body": "Hi"}), 409)
    # the issue's sentence, word for word
    assert error["message"] == "Conversation is opted out (DNC); no further messages allowed."
    assert state(web) == before


def opt_out(conn: Tx) -> None:
    """The customer of THREAD opted out, as their STOP records it."""
    workflow.set_opted_out(conn, THREAD, opted_out=True, source="keyword")
    review.hold_thread(conn, THREAD, "opt-out", None, kind=PauseKind.OPT_OUT)


# --- audit and directives ------------------------------------------------------------------


def test_audit_filters_and_pages(web, api):
    _, draft = pending(web)
    _, other = pending(web, OTHER)
    api.post(f"/drafts/{draft}/approve")
    mine = api.get("/audit", actor="1").json()["items"]
    assert mine and all(item["actor_name"] == "Ana" for item in mine)
    approved = api.get("/audit", event="Approved", thread_id=THREAD).json()["items"]
    assert [item["message_id"] for item in approved] == [draft]
    assert approved[0]["metadata"]["channel"] == "api"
    assert all(i["actor"] == "System" for i in api.get("/audit", actor="system").json()["items"])

    first = api.get("/audit", limit=2).json()
    second = api.get("/audit", limit=2, cursor=first["next_cursor"]).json()
    assert first["items"][-1]["id"] > second["items"][0]["id"]
    assert api.get("/audit", since="2999-01-01T00:00:00Z").json()["items"] == []
    assert api.get("/audit", until="2000-01-01T00:00:00").json()["items"] == []

    refused(api.get("/audit", cursor="x"), 400)
    assert refused(api.get("/audit", since="yesterday"), 422)["field"] == "since"
    assert refused(api.get("/audit", actor="Ana"), 422)["field"] == "actor"


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        # "²" passes str.isdigit but is no number; 2**63 is past the largest row id
        ({"cursor": "²"}, 400, "cursor"),
        ({"cursor": str(2**63)}, 400, "cursor"),
        # a valid time that UTC puts before year 1 or after year 9999
        ({"since": "9999-12-31T23:59:59-05:00"}, 422, "since"),
        ({"until": "0001-01-01T00:00:00+05:00"}, 422, "until"),
    ],
)
def test_audit_refuses_a_cursor_or_time_it_cannot_use(web, api, query, status, field):
    assert refused(api.get("/audit", **query), status)["field"] == field


def test_threads_refuse_a_holder_id_past_the_largest_row_id(web, api):
    # a reviewer id is a 64-bit row id on either backend; 2**63 cannot name anyone
    error = refused(api.get("/threads", taken_over_by=str(2**63)), 422)
    assert error["field"] == "taken_over_by"


def test_directives_read_and_replace_by_an_admin(web, api):
    web.reviewer("Boss", role=Role.ADMIN)
    boss = token_for(web, "Boss")
    web.call(directives.add_faq, web.db, ("hours",), "Old hours", None)
    response = api.put(
        "/directives",
        {
            "scope": THREAD,
            "directive": "Sign-off: Ana",
            "faq": [{"keywords": ["parking"], "answer": "Behind the shop."}],
        },
        token=boss,
    )
    assert response.status_code == 200, response.text
    assert response.json()["directives"][0]["body"] == "Sign-off: Ana"
    every = api.get("/directives").json()
    assert [(f["scope"], f["answer"]) for f in every["faq"]] == [
        ("global", "Old hours"),
        (THREAD, "Behind the shop."),
    ]
    replaced = api.put(
        "/directives", {"faq": [{"keywords": ["hours"], "answer": "9-5"}]}, token=boss
    ).json()
    assert [f["answer"] for f in replaced["faq"]] == ["9-5"]
    assert api.get("/directives", scope=THREAD).json()["directives"][0]["scope"] == THREAD
    events = web.rows("SELECT count(*) AS n FROM audit_log WHERE event = 'Updated Directive'")
    # the seed; the thread's directive and FAQ entry; the global entry removed, one added
    assert events[0]["n"] == 5


def test_directives_refusals_change_nothing(web, api):
    web.reviewer("Boss", role=Role.ADMIN)
    boss = token_for(web, "Boss")
    before = state(web)
    error = refused(api.put("/directives", {"directive": "Be rude."}), 403)
    assert "admin" in error["message"]
    assert refused(api.put("/directives", {"scope": "mars"}, token=boss), 422)["field"] == "scope"
    bad_faq = {"faq": [{"keywords": [], "answer": "x"}]}
    assert refused(api.put("/directives", bad_faq, token=boss), 422)["field"].startswith("faq")
    # NUL, which PostgreSQL's text refuses, is refused before the database on both backends
    nul_faq = {"faq": [{"keywords": ["park\u0000ing"], "answer": "x"}]}
    nul = refused(api.put("/directives", nul_faq, token=boss), 422)
    assert (nul["field"], "NUL" in nul["message"]) == ("faq.0.keywords.0", True)
    assert state(web) == before


def test_api_actions_use_the_review_module(web, api, monkeypatch):
    """The API is a door, not a second implementation: approve goes through review.approve."""
    _, draft = pending(web)
    calls = []
    real = review.approve

    async def spy(db, draft_id, decision, **options):
        calls.append((draft_id, decision.channel))
        await real(db, draft_id, decision, **options)

    monkeypatch.setattr(review, "approve", spy)
    assert api.post(f"/drafts/{draft}/approve").status_code == 200
    assert calls == [(draft, "api")]


def test_an_unknown_api_path_or_method_answers_json(web, api):
    refused(api.get("/nothing-here"), 404)
    wrong = web.client.get("/api/v1/drafts/x/approve", headers=api.headers())
    refused(wrong, 405)
