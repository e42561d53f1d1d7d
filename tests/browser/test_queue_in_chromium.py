"""The reviewer's loop in a real browser: Debian's Chromium, headless, through Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from approval_bot import review
from approval_bot.models import Role
from tests.builders import make_drafted_inbound, make_reviewer, status_of

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"
THREAD = "+14155550100"

pytestmark = pytest.mark.slow  # a server process and a browser per test


def queue_with_draft(
    server: Server, text: str = "Are you open today?", draft: str = "Yes, 9 to 5."
) -> str:
    return server.call(make_drafted_inbound, THREAD, text, draft)


def ana_page(browser: Browser, server: Server, name: str = "Ana") -> Page:
    page = browser.new_context().new_page()
    sign_in(page, server, name, PASSWORD)
    return page


def test_sign_in_and_approve(browser: Browser, server: Server, shots: Path) -> None:
    server.call(make_reviewer, "Ana")
    draft = queue_with_draft(server)
    page = ana_page(browser, server)

    expect(page.locator(f"#card-{draft} .draft-body")).to_have_text("Yes, 9 to 5.")
    page.screenshot(path=str(shots / "queue.png"), full_page=True)
    page.locator(f"#card-{draft} .approve-form button").click()

    expect(page.locator(".flash")).to_contain_text("Approved")
    expect(page.locator(f"#card-{draft}")).to_have_count(0)
    assert server.call(status_of, draft) in ("APPROVED_TO_SEND", "SENT")
    page.context.close()


def test_edit_and_approve_shows_the_new_version_and_keeps_the_original(
    browser: Browser, server: Server, shots: Path
) -> None:
    server.call(make_reviewer, "Ana")
    draft = queue_with_draft(server, draft="We open at 9.")
    page = ana_page(browser, server)

    card = page.locator(f"#card-{draft}")
    card.locator("summary", has_text="Edit").click()
    card.locator("textarea[name=body]").first.fill("We open at 10 on Saturdays.")
    card.locator("button", has_text="Edit & approve").click()
    expect(page.locator(".flash")).to_contain_text("Edited and approved")

    page.goto(f"{server.url}/threads/%2B14155550100")
    expect(page.locator(".timeline")).to_contain_text("We open at 9.")
    expect(page.locator(".timeline")).to_contain_text("We open at 10 on Saturdays.")
    page.locator("details.versions summary").first.click()
    expect(page.locator(".versions .after ins").first).to_contain_text("10")
    expect(page.locator(".status-superseded")).to_have_count(1)
    page.screenshot(path=str(shots / "thread.png"), full_page=True)
    assert server.call(status_of, draft) == "SUPERSEDED"
    page.context.close()


def test_reject_with_a_reason(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    draft = queue_with_draft(server)
    page = ana_page(browser, server)

    card = page.locator(f"#card-{draft}")
    card.locator("summary", has_text="Reject").click()
    card.locator("details.reject input[name=reason]").fill("we are closed today")
    card.locator("button.danger", has_text="Reject").click()

    expect(page.locator(".flash")).to_contain_text("Rejected")
    assert server.call(status_of, draft) == "REJECTED"
    page.goto(server.url + "/needs-review")
    expect(page.locator("main")).to_contain_text("Are you open today?")
    page.context.close()


def test_pause_and_resume_a_thread(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    draft = queue_with_draft(server)
    page = ana_page(browser, server)
    page.goto(f"{server.url}/threads/%2B14155550100")

    page.fill(".controls input[name=reason]", "customer is upset")
    page.click(".controls button:has-text('Pause thread')")
    paused_tag = page.locator("#conversation-state .paused-tag")
    expect(paused_tag).to_contain_text("Paused by Ana: customer is upset")
    assert server.call(status_of, draft) == "PAUSED_THREAD"

    page.click(".controls button:has-text('Resume thread')")
    expect(paused_tag).to_have_count(0)
    assert server.call(status_of, draft) == "DRAFT_PENDING_APPROVAL"
    page.context.close()


def test_a_second_reviewer_sees_who_decided(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    server.call(make_reviewer, "Bob")
    draft = queue_with_draft(server)
    ana = ana_page(browser, server, "Ana")
    bob = ana_page(browser, server, "Bob")
    expect(bob.locator(f"#card-{draft}")).to_be_visible()

    ana.locator(f"#card-{draft} .approve-form button").click()
    expect(ana.locator(".flash")).to_contain_text("Approved")

    outcome = bob.locator(f"#card-{draft} .outcome")
    expect(outcome).to_contain_text("Approved by Ana on the web", timeout=15_000)
    expect(bob.locator(f"#card-{draft} .actions")).to_have_count(0)
    ana.context.close()
    bob.context.close()


def test_new_drafts_appear_without_a_reload(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    page = ana_page(browser, server)
    expect(page.locator("#empty")).to_be_visible()

    draft = queue_with_draft(server, "Is parking free?", "Yes, behind the shop.")

    expect(page.locator(f"#card-{draft} .draft-body")).to_have_text(
        "Yes, behind the shop.", timeout=15_000
    )
    page.context.close()


def test_a_resumed_reply_comes_back_to_an_open_queue(browser: Browser, server: Server) -> None:
    ana_id = server.call(make_reviewer, "Ana").id
    draft = queue_with_draft(server)
    page = ana_page(browser, server)
    card = page.locator(f"#card-{draft}")
    expect(card.locator(".approve-form")).to_be_visible()

    # Ana pauses the thread elsewhere (its page, her phone): the card says so and goes
    server.call(review.pause_thread, THREAD, "owner will call", ana_id)
    expect(card.locator(".outcome")).to_contain_text(
        "held because the thread was paused", timeout=15_000
    )

    # the resume sends the reply back to review: it is back on the open queue, approvable
    server.call(review.resume_thread, THREAD, ana_id)
    expect(card.locator(".approve-form button")).to_be_visible(timeout=15_000)
    expect(card.locator(".outcome")).to_be_hidden()
    expect(page.locator("#pending-count")).to_have_text("1")
    card.locator(".approve-form button").click()
    expect(page.locator(".flash")).to_contain_text("Approved")
    assert server.call(status_of, draft) in {"APPROVED_TO_SEND", "SENT"}
    page.context.close()


def test_keyboard_shortcuts_approve(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    draft = queue_with_draft(server)
    page = ana_page(browser, server)

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    expect(page.locator(f"#card-{draft}")).to_have_class("card current")
    page.keyboard.press("a")

    expect(page.locator(".flash")).to_contain_text("Approved")
    assert server.call(status_of, draft) in ("APPROVED_TO_SEND", "SENT")
    page.context.close()


def test_hostile_text_is_shown_as_text_and_runs_nothing(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script> javascript:alert(3)'
    draft = queue_with_draft(server, payload, payload)
    page = ana_page(browser, server)
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)

    page.reload()
    expect(page.locator(f"#card-{draft} .draft-body")).to_have_text(payload)
    expect(page.locator(f"#card-{draft} img")).to_have_count(0)
    page.goto(f"{server.url}/threads/%2B14155550100")
    expect(page.locator(".timeline .body").first).to_have_text(payload)
    page.goto(f"{server.url}/audit")

    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    page.context.close()


def test_fits_a_phone_screen(browser: Browser, server: Server, shots: Path) -> None:
    server.call(make_reviewer, "Ana", role=Role.ADMIN)
    queue_with_draft(server, "x" * 1600, "y" * 1600)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server, "Ana", PASSWORD)

    for path in ["/", "/threads/%2B14155550100", "/audit", "/reviewers"]:
        page.goto(server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone ({width}px)"
    page.goto(server.url + "/")
    page.screenshot(path=str(shots / "queue-phone.png"), full_page=True)
    context.close()
