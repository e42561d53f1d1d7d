"""The newcomer's loop in a real browser: the phone simulator, the queue, regenerate."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from approval_bot.models import Role
from tests.builders import make_drafted_inbound, make_reviewer, status_of

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"
CUSTOMER = "+14155550100"
ANA_PHONE = "+14155550111"

pytestmark = pytest.mark.slow  # a server process and a browser per test


def text_the_bot(page: Page, server: Server, sender: str, body: str) -> None:
    page.goto(server.url + "/simulator")
    page.fill("#simulator-form input[name=from]", sender)
    page.fill("#simulator-form textarea[name=body]", body)
    page.click("#simulator-form button[type=submit]")
    page.wait_for_url(f"{server.url}/simulator?number=%2B{sender.removeprefix('+')}")


def test_customer_writes_reviewer_approves_reply_arrives(
    browser: Browser, server: Server, shots: Path
) -> None:
    server.call(make_reviewer, "Ana", phone=ANA_PHONE)
    context = browser.new_context()
    phone = context.new_page()
    sign_in(phone, server, "Ana", PASSWORD)

    text_the_bot(phone, server, CUSTOMER, "Hello, are you open on Sunday?")
    expect(phone.locator("#phone-texts .text.out")).to_contain_text(
        "Hello, are you open on Sunday?"
    )

    queue = context.new_page()
    queue.goto(server.url + "/")
    card = queue.locator("article.card", has_text="Hello, are you open on Sunday?")
    expect(card).to_have_count(1, timeout=15_000)  # drafting runs after the webhook answered
    draft_text = card.locator(".draft-body").inner_text()
    assert draft_text.strip()
    card.locator("details.more > summary").click()
    card.locator("input[name=notes]").fill("looks right")
    card.locator(".approve-form button").click()
    expect(queue.locator(".flash")).to_contain_text("Approved")

    # the phone view polls: the approved reply arrives without a reload
    expect(phone.locator("#phone-texts .text.in")).to_contain_text(draft_text, timeout=15_000)
    phone.screenshot(path=str(shots / "simulator.png"), full_page=True)
    context.close()


def test_a_reviewer_phone_texting_L_gets_an_answer(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana", phone=ANA_PHONE)
    page = browser.new_context().new_page()
    sign_in(page, server, "Ana", PASSWORD)
    text_the_bot(page, server, CUSTOMER, "Do you deliver to Leith?")
    # Ana's phone is texted the new draft with its code
    page.goto(f"{server.url}/simulator?number=%2B{ANA_PHONE[1:]}")
    expect(page.locator("#phone-texts .text.in").first).to_contain_text(
        "Do you deliver to Leith?", timeout=15_000
    )

    text_the_bot(page, server, ANA_PHONE, "L")

    expect(page.locator("#phone-texts .text.out .body")).to_have_text(["L"])
    answer = page.locator("#phone-texts .text.in").last
    expect(answer).to_contain_text("Open, oldest first", timeout=15_000)
    expect(answer).to_contain_text(CUSTOMER)
    page.context.close()


def test_regenerate_from_the_queue(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    draft = server.call(make_drafted_inbound, CUSTOMER, "hello", "An old draft to replace.")
    page = browser.new_context().new_page()
    sign_in(page, server, "Ana", PASSWORD)

    page.locator(f"#card-{draft} details.more > summary").click()
    page.locator(f"#card-{draft} .regenerate-form button").click()

    expect(page.locator(".flash")).to_contain_text("A new draft replaced the old one")
    expect(page.locator(f"#card-{draft}")).to_have_count(0)
    expect(page.locator("article.card .draft-body")).to_have_count(1)
    expect(page.locator("article.card .draft-body")).not_to_have_text("An old draft to replace.")
    assert server.call(status_of, draft) == "SUPERSEDED"
    page.context.close()


def test_directives_and_simulator_fit_a_phone_screen(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana", role=Role.ADMIN)  # the global FAQ is an admin's
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server, "Ana", PASSWORD)
    page.goto(server.url + "/directives")
    page.fill("form[action='/directives/faq'] input[name=keywords]", "hours, open")
    page.fill("form[action='/directives/faq'] textarea[name=answer]", "9 to 5 on weekdays.")
    page.click("form[action='/directives/faq'] button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("FAQ entry 1 added")
    expect(page.locator(".faq-list")).to_contain_text("9 to 5 on weekdays.")
    for path in ["/directives", f"/simulator?number=%2B{CUSTOMER[1:]}"]:
        page.goto(server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone ({width}px)"
    context.close()
