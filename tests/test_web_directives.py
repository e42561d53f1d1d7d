"""Directives and FAQ entries through the web: every change audited, bad input changes nothing."""

from __future__ import annotations

import json

import pytest

from approval_bot import directives
from approval_bot.models import Role
from tests.builders import make_inbound

THREAD = "+14155550100"


@pytest.fixture
def ana(web):
    """An admin: the global directive and FAQ are an admin's to change."""
    reviewer = web.reviewer("Ana", role=Role.ADMIN)
    web.sign_in("Ana")
    return reviewer


def audit_rows(web):
    return web.rows(
        "SELECT actor_id, thread_id, metadata FROM audit_log WHERE event = 'Updated Directive'"
    )


def directive(web, scope="global"):
    rows = web.rows("SELECT body, updated_by FROM directives WHERE scope = ?", scope)
    return (rows[0]["body"], rows[0]["updated_by"]) if rows else None


def test_the_global_directive_is_saved_audited_and_shown(web, ana):
    response = web.post("/directives/global", {"body": "Greeting: Hello from Acme!"})

    assert response.status_code == 303
    assert directive(web) == ("Greeting: Hello from Acme!", ana.id)
    ((actor_id, thread_id, metadata),) = audit_rows(web)
    assert (actor_id, thread_id) == (ana.id, None)
    assert json.loads(metadata)["body"] == "Greeting: Hello from Acme!"
    page = web.client.get("/directives").text
    assert "Greeting: Hello from Acme!" in page and "Last changed by Ana" in page


def test_an_empty_global_directive_clears_it(web, ana):
    web.post("/directives/global", {"body": "Sign-off: Acme"})
    web.post("/directives/global", {"body": ""})
    assert directive(web) == ("", ana.id)
    assert len(audit_rows(web)) == 2


def test_faq_entries_are_added_and_removed(web, ana):
    response = web.post(
        "/directives/faq", {"keywords": "Hours, open ,hours", "answer": "9 to 5 on weekdays."}
    )
    assert response.status_code == 303
    ((entry_id, scope, keywords, answer),) = web.call(directives.list_faq, web.db)
    assert (scope, keywords, answer) == ("global", ("hours", "open"), "9 to 5 on weekdays.")
    page = web.client.get("/directives").text
    assert "hours, open" in page and "9 to 5 on weekdays." in page

    assert web.post(f"/directives/faq/{entry_id}/remove").status_code == 303
    assert web.call(directives.list_faq, web.db) == []
    actions = [json.loads(r["metadata"])["action"] for r in audit_rows(web)]
    assert actions == ["add", "remove"]


def test_an_faq_entry_for_one_customer(web, ana):
    web.post(
        "/directives/faq", {"keywords": "order", "answer": "Yours ships Monday.", "scope": THREAD}
    )
    ((_, scope, _, _),) = web.call(directives.list_faq, web.db)
    assert scope == THREAD
    (row,) = audit_rows(web)
    assert row["thread_id"] == THREAD


def test_a_threads_own_directive_from_its_page(web, ana):
    web.call(make_inbound, web.db, THREAD, "hi")

    response = web.post(
        f"/directives/thread/{THREAD}", {"body": "Greeting: Hi Sam", "next": f"/threads/{THREAD}"}
    )

    assert response.status_code == 303
    assert directive(web, THREAD) == ("Greeting: Hi Sam", ana.id)
    assert audit_rows(web)[0]["thread_id"] == THREAD
    assert "Greeting: Hi Sam" in web.client.get(f"/threads/{THREAD}").text


@pytest.mark.parametrize(
    ("path", "form", "status", "message"),
    [
        ("/directives/global", {"body": "x" * 4001}, 400, "longer than 4000"),
        ("/directives/faq", {"keywords": " , ", "answer": "hi"}, 400, "at least one keyword"),
        ("/directives/faq", {"keywords": "hours", "answer": ""}, 400, "answer is required"),
        ("/directives/faq", {"keywords": "hours", "answer": "a", "scope": "nobody"}, 400, "scope"),
        ("/directives/faq/999/remove", {}, 404, "no FAQ entry 999"),
        ("/directives/faq/abc/remove", {}, 404, "no such FAQ entry"),
        # "²" passes str.isdigit but is no number; 2**63 is past the largest row id
        ("/directives/faq/%C2%B2/remove", {}, 404, "no such FAQ entry"),
        ("/directives/faq/9223372036854775808/remove", {}, 404, "no such FAQ entry"),
        ("/directives/thread/nobody", {"body": "hi"}, 400, "scope must be"),
        ("/directives/thread/global", {"body": "hi"}, 400, "the global directive form"),
        ("/directives/thread/+14155550199", {"body": "hi"}, 404, "no conversation"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(web, ana, path, form, status, message):
    response = web.post(path, form)

    assert response.status_code == status, response.text
    assert message in response.text
    assert web.rows("SELECT * FROM directives") == []
    assert web.rows("SELECT * FROM faq_entries") == []
    assert audit_rows(web) == []


@pytest.mark.parametrize(
    "path", ["/directives/global", "/directives/faq", "/directives/faq/1/remove"]
)
def test_without_csrf_nothing_changes(web, ana, path):
    response = web.client.post(path, data={"body": "x", "keywords": "k", "answer": "a"})
    assert response.status_code == 403
    assert audit_rows(web) == []


def test_signed_out(web):
    page = web.client.get("/directives", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert web.client.post("/directives/global", data={"body": "x"}).status_code == 401
    assert audit_rows(web) == []


def test_directive_text_is_shown_as_text(web, ana):
    web.post(
        "/directives/global", {"body": '<script>alert(1)</script>"><img src=x onerror=alert(1)>'}
    )
    page = web.client.get("/directives").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_only_an_admin_changes_what_every_customer_is_told(web):
    bo = web.reviewer("Bo")
    web.sign_in("Bo")
    web.call(make_inbound, web.db, THREAD)
    entry = web.call(directives.add_faq, web.db, ("hours",), "9 to 5", None)

    assert web.post("/directives/global", {"body": "Be curt."}).status_code == 403
    faq = {"keywords": "parking", "answer": "Round the back."}
    assert web.post("/directives/faq", faq).status_code == 403
    assert web.post(f"/directives/faq/{entry}/remove").status_code == 403
    assert all(row["actor_id"] != bo.id for row in audit_rows(web))
    assert directive(web) is None

    # a thread's own guidance is any reviewer's to set
    response = web.post(f"/directives/thread/{THREAD}", {"body": "Greeting: Hi Sam"})
    assert response.status_code == 303
    assert web.post("/directives/faq", {**faq, "scope": THREAD}).status_code == 303


def test_a_reviewer_sees_the_global_directive_but_no_form_to_change_it(web):
    web.call(directives.set_directive, web.db, directives.GLOBAL, "Greeting: Hello", None)
    web.reviewer("Bo")
    web.sign_in("Bo")
    page = web.client.get("/directives").text
    assert "Greeting: Hello" in page
    assert 'action="/directives/global"' not in page
