"""A refused form comes back as its own page, the message beside the form, the text kept."""

from __future__ import annotations

import re

import pytest

from approval_bot import review
from approval_bot.models import DecisionChannel, Role
from tests import ui_seed
from tests.builders import make_drafted_inbound, make_inbound

THREAD = "+14155550100"


@pytest.fixture
def ana(web):
    reviewer = web.reviewer("Ana", role=Role.ADMIN)
    web.sign_in("Ana")
    return reviewer


def form_html(page: str, action: str) -> str:
    """The <form> posting to `action`, whole."""
    match = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', page, re.S)
    assert match, f"no form for {action}"
    return match.group(0)


def error_in(html: str) -> str:
    match = re.search(r'<p class="field-error" role="alert">(.*?)</p>', html, re.S)
    assert match, "no message beside the form"
    return match.group(1)


def test_a_reject_without_a_reason_comes_back_beside_the_reject_form(web, ana):
    draft = web.call(make_drafted_inbound, web.db, THREAD, "Open today?")
    page = web.post(f"/drafts/{draft}/reject", {"reason": " ", "next": "/"})

    assert page.status_code == 400
    form = form_html(page.text, f"/drafts/{draft}/reject")
    assert error_in(form) == "reason is required"
    # the reject panel is open, so the message is seen
    assert re.search(r'<details class="reject" open>\s*<summary>Reject</summary>', page.text)


def test_a_too_long_edit_keeps_what_was_typed(web, ana):
    draft = web.call(make_drafted_inbound, web.db, THREAD, "Open today?", "Yes, 9 to 5.")
    typed = "Yes, we are open " + "really " * 230
    page = web.post(f"/drafts/{draft}/edit", {"body": typed, "approve": "1", "next": "/"})

    assert page.status_code == 400
    form = form_html(page.text, f"/drafts/{draft}/edit")
    assert error_in(form) == "body is longer than 1600 characters"
    assert typed.strip() in form  # the reviewer's text, not the draft's
    assert web.rows("SELECT body FROM messages WHERE id = ?", draft)[0]["body"] == "Yes, 9 to 5."


def test_an_edit_holding_a_nul_character_is_refused_and_keeps_the_draft(web, ana):
    draft = web.call(make_drafted_inbound, web.db, THREAD, "Open today?", "Yes, 9 to 5.")
    page = web.post(f"/drafts/{draft}/edit", {"body": "Yes\x00 no", "approve": "1", "next": "/"})

    assert page.status_code == 400
    assert "body cannot contain a NUL character" in page.text
    assert web.rows("SELECT body FROM messages WHERE id = ?", draft)[0]["body"] == "Yes, 9 to 5."


def test_a_draft_decided_elsewhere_says_who_did_what_on_top(web, ana):
    draft = web.call(make_drafted_inbound, web.db, THREAD, "Open today?")
    bob = web.reviewer("Bob")
    web.call(review.reject, web.db, draft, review.Decision(bob.id, DecisionChannel.SMS, "no"))

    page = web.post(f"/drafts/{draft}/approve", {"next": "/"})

    assert page.status_code == 409
    match = re.search(r'<p class="flash error field-error" role="alert">(.*?)</p>', page.text)
    assert match and match.group(1).startswith("Already rejected by Bob via SMS at ")


def test_an_escalation_without_a_reason_comes_back_on_the_thread(web, ana):
    web.call(make_inbound, web.db, THREAD)
    here = "/threads/%2B14155550100"
    page = web.post(f"{here}/escalate", {"reason": "", "next": here})

    assert page.status_code == 400
    assert error_in(form_html(page.text, f"{here}/escalate")) == "reason is required"


def test_an_empty_reply_keeps_the_thread_page(web, ana):
    web.call(make_inbound, web.db, THREAD)
    here = "/threads/%2B14155550100"
    page = web.post(f"{here}/reply", {"body": "   ", "next": here})

    assert page.status_code == 400
    assert error_in(form_html(page.text, f"{here}/reply")) == "body is required"
    assert "<h1>Thread <bdi>+14155550100</bdi></h1>" in page.text


def test_a_bad_phone_comes_back_beside_that_reviewer(web, ana):
    page = web.post(f"/reviewers/{ana.id}/phone", {"phone": "555-CALL-ME", "next": "/reviewers"})

    assert page.status_code == 400
    form = form_html(page.text, f"/reviewers/{ana.id}/phone")
    td = page.text[page.text.index(form) : page.text.index("</td>", page.text.index(form))]
    assert error_in(td).startswith("phone ")
    assert 'value="555-CALL-ME"' in form


def test_a_faq_entry_without_keywords_keeps_its_answer(web, ana):
    page = web.post(
        "/directives/faq", {"keywords": "", "answer": "We open at 9.", "next": "/directives"}
    )

    assert page.status_code == 400
    form = form_html(page.text, "/directives/faq")
    assert "keywords" in error_in(form)
    assert "We open at 9.</textarea>" in form


def test_a_resume_someone_did_first_names_them(web, ana):
    web.call(make_inbound, web.db, THREAD)
    bob = web.reviewer("Bob")
    web.call(review.pause_thread, web.db, THREAD, "owner will call", bob.id)
    web.call(review.resume_thread, web.db, THREAD, bob.id)

    page = web.post("/threads/%2B14155550100/resume", {"next": "/paused"})

    assert page.status_code == 409
    assert "by Bob" in page.text.split('role="alert">')[1].split("</p>")[0]


def test_an_opted_out_thread_offers_no_resume_and_no_send(web, ana):
    web.call(make_drafted_inbound, web.db, THREAD, "STOP please")

    def opt_out(conn):
        from approval_bot import workflow
        from approval_bot.models import PauseKind

        workflow.set_opted_out(conn, THREAD, opted_out=True, source="keyword")
        review.hold_thread(conn, THREAD, "opt-out", None, kind=PauseKind.OPT_OUT)

    web.call(web.db.write, opt_out)
    thread = web.client.get(f"/threads/{THREAD}").text
    paused = web.client.get("/paused").text

    for page in (thread, paused):
        assert "/resume" not in page
    assert "/reply" not in thread and "/approve" not in thread
    assert "nothing can be sent until they text START" in thread


def test_a_bare_error_page_is_in_the_site_layout(web, ana):
    page = web.client.get("/threads/+19999999999", headers={"accept": "text/html"})

    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert 'class="nav wide"' in page.text  # the menu: the site's own layout


def test_a_too_long_fact_key_comes_back_beside_the_facts_form(web, ana):
    web.call(make_inbound, web.db, THREAD)
    here = "/threads/%2B14155550100"
    key = "k" * 65  # the facts' keys are at most 64 characters
    page = web.post(f"{here}/facts", {"key": key, "value": "Sam", "next": here})

    assert page.status_code == 400
    form = form_html(page.text, f"{here}/facts")
    assert "64" in error_in(form)
    assert 'value="Sam"' in form  # what was typed is kept
    assert web.rows("SELECT facts FROM conversations")[0]["facts"] in (None, "{}")


def test_a_template_with_an_unknown_placeholder_comes_back_beside_its_form(web, ana):
    typed = "Hi {nickname}, we are open."
    page = web.post("/templates/greeting", {"body": typed, "channel": "any", "next": "/templates"})

    assert page.status_code == 422
    form = form_html(page.text, "/templates/greeting")
    assert "unknown placeholder {nickname}" in error_in(form)
    assert typed in form
    assert "<h1>Templates</h1>" in page.text


def test_a_closed_conversation_offers_no_take_over_close_or_reply(web, ana):
    web.call(make_drafted_inbound, web.db, THREAD, "All sorted, thanks")
    web.call(review.close, web.db, THREAD, ana.id)
    here = "/threads/%2B14155550100"
    thread = web.client.get(here).text

    for action in ("/takeover", "/close", "/reply"):
        assert f'action="{here}{action}"' not in thread, action
    assert "The conversation is closed" in thread


def test_a_whatsapp_card_past_its_window_offers_the_template_not_approve(web, ana):
    web.call(ui_seed.seed_every_status, web.db, ana.id)
    queue = web.client.get("/").text
    card = queue.split(f"/threads/{ui_seed.WHATSAPP.replace('+', '%2B')}", 1)[1]
    card = card.split("</article>", 1)[0]

    assert "Send template booking_news" in card
    assert "/approve" not in card and "Write own reply" not in card
    assert "Reject" in card  # rejecting it still works
