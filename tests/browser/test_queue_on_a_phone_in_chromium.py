"""The queue on a phone (390x844, touch): nothing moves under the thumb, taps hit their card."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, FloatRect, Page, ViewportSize, expect

from approval_bot import review
from approval_bot.models import DecisionChannel
from tests.builders import make_drafted_inbound, make_reviewer, status_of

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"
PHONE: ViewportSize = {"width": 390, "height": 844}
POLL = 15_000  # ms a live update may take: the queue polls every 3 s

pytestmark = pytest.mark.slow  # a server process and a browser per test


def phone(browser: Browser) -> Page:
    return browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()


def phone_page(browser: Browser, server: Server, name: str = "Ana") -> Page:
    page = phone(browser)
    sign_in(page, server, name, PASSWORD)
    return page


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_nothing_moves_under_the_thumb_while_the_queue_updates(
    browser: Browser, server: Server
) -> None:
    server.call(make_reviewer, "Ana")
    bob = server.call(make_reviewer, "Bob")
    first, second, third = (
        server.call(make_drafted_inbound, f"+1415555010{i}", text, "Yes, we can do that.")
        for i, text in enumerate(["Open Sunday?", "Do you deliver?", "Table for 4 at 7?"])
    )
    page = phone(browser)
    page.clock.install()  # timers run as usual; run_for() jumps ahead
    sign_in(page, server, "Ana", PASSWORD)
    # Safari on an iPhone has no scroll anchoring: what moves on the page moves on screen
    page.evaluate("document.documentElement.style.overflowAnchor = 'none'")
    # the reviewer has scrolled to the third card, its Approve under the thumb
    approve = f"#card-{third} .approve-form button"
    page.evaluate(f"window.scrollBy(0, {box(page, approve)['y'] - 600})")
    before = box(page, approve)
    assert 0 < before["y"] and before["y"] + before["height"] < 844

    # a new text arrives
    fourth = server.call(make_drafted_inbound, "+14155550109", "Parking?", "Behind us.")
    expect(page.locator(f"#card-{fourth}")).to_have_count(1, timeout=POLL)
    expect(page.locator("#live-note")).to_contain_text("1 new reply")
    assert box(page, approve) == before, "a new reply moved the card under the thumb"

    # Bob opens the second card's edit box on his phone
    server.call(review.claim, second, bob.id, 5)
    claim_line = page.locator(f"#card-{second} .claim-line")
    expect(claim_line).to_contain_text("Bob is editing", timeout=POLL)
    assert box(page, approve) == before, "Bob's claim on the card above moved this one"

    # Bob approves the first card, which nobody had claimed
    server.call(review.approve, first, review.Decision(bob.id, DecisionChannel.WEB))
    outcome = page.locator(f"#card-{first} .outcome")
    expect(outcome).to_contain_text("Approved by Bob", timeout=POLL)
    assert box(page, approve) == before, "a decision on the card above moved this one"

    # the decided card keeps its place while the reviewer stays on the page
    page.clock.run_for(60_000)
    page.wait_for_timeout(500)  # a poll that may have started answers
    expect(outcome).to_contain_text("Approved by Bob")
    assert box(page, approve) == before, "the decided card went and the cards below moved up"

    # the tap lands on the third card's Approve, and approves that one only
    page.touchscreen.tap(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
    expect(page.locator(".flash")).to_contain_text("Approved")
    assert server.call(status_of, third) in ("APPROVED_TO_SEND", "SENT")
    assert server.call(status_of, second) == "DRAFT_PENDING_APPROVAL"
    assert server.call(status_of, fourth) == "DRAFT_PENDING_APPROVAL"
    page.context.close()


def test_a_reply_back_from_a_pause_takes_its_old_place_without_moving_the_rest(
    browser: Browser, server: Server
) -> None:
    ana_id = server.call(make_reviewer, "Ana").id
    first, second = (
        server.call(make_drafted_inbound, f"+1415555010{i}", text, "Yes, we can do that.")
        for i, text in enumerate(["Open Sunday?", "Do you deliver?"])
    )
    page = phone_page(browser, server)
    page.evaluate("document.documentElement.style.overflowAnchor = 'none'")
    approve = f"#card-{second} .approve-form button"
    page.evaluate(f"window.scrollBy(0, {box(page, approve)['y'] - 600})")
    before = box(page, approve)

    # Ana pauses the first thread on its page, then resumes it: the reply is back for review
    server.call(review.pause_thread, "+14155550100", "owner will call", ana_id)
    expect(page.locator(f"#card-{first} .outcome")).to_contain_text("paused", timeout=POLL)
    server.call(review.resume_thread, "+14155550100", ana_id)
    expect(page.locator(f"#card-{first} .approve-form button")).to_be_visible(timeout=POLL)

    assert box(page, approve) == before, "the returning reply moved the card under the thumb"
    expect(page.locator("article.card")).to_have_count(2)
    expect(page.locator("#pending-count")).to_have_text("2")
    page.context.close()


def test_approve_acts_on_the_version_the_card_shows(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    bob = server.call(make_reviewer, "Bob")
    old = server.call(make_drafted_inbound, "+14155550100", "Open Sunday?", "Yes, 9 to 5.")
    page = phone_page(browser, server)
    # the phone has not polled since: its card still shows version 1
    page.route("**/queue/updates?*", lambda route: route.abort())
    expect(page.locator(f"#card-{old} .draft .label")).to_contain_text("v1")

    # Bob edits the draft on his laptop
    new = server.call(
        review.edit,
        old,
        "Closed on Sundays.",
        review.Decision(bob.id, DecisionChannel.WEB),
        approve=False,
    )
    page.locator(f"#card-{old} .approve-form button").tap()

    refusal = page.locator("[role=alert]")
    expect(refusal).to_contain_text("Already replaced by a newer version by Bob")
    expect(refusal).to_contain_text("nothing was changed")
    expect(page.locator(f"#card-{new} .draft-body")).to_have_text("Closed on Sundays.")
    expect(page.locator(f"#card-{new} .draft .label")).to_contain_text("v2")
    assert server.call(status_of, old) == "SUPERSEDED"
    assert server.call(status_of, new) == "DRAFT_PENDING_APPROVAL"
    page.context.close()


def test_the_first_approve_is_on_screen_big_enough_and_the_text_readable(
    browser: Browser, server: Server
) -> None:
    server.call(make_reviewer, "Ana")
    # the longest a customer's text and a draft can be: 1600 characters each
    long_text = ("Hi, I booked for Saturday but can we move it? " * 40)[:1600]
    long_draft = ("Of course, we can move your booking to Sunday at 7. " * 40)[:1600]
    first = server.call(make_drafted_inbound, "+14155550100", long_text, long_draft)
    server.call(make_drafted_inbound, "+14155550101", "Open Sunday?", "Yes, 9 to 5.")
    page = phone_page(browser, server)

    # the first card's Approve is on the screen as the queue opens, not below it
    approve = box(page, f"#card-{first} .approve-form button")
    assert approve["y"] >= 0 and approve["y"] + approve["height"] <= 844, approve

    # Approve, Edit and Reject are at least 44 x 44 CSS pixels (Apple's and WCAG's target)
    for name in ("Approve", "Edit", "Reject"):
        button = box(page, f"#card-{first} .card-bar button:text-is('{name}')")
        assert button["width"] >= 44 and button["height"] >= 44, (name, button)

    # no zooming needed: the page is as wide as the phone, may be zoomed, and the texts a
    # reviewer decides on are 16 px (iOS zooms into smaller fields), the rest at least 12 px
    viewport = page.locator("meta[name=viewport]").get_attribute("content")
    assert viewport == "width=device-width, initial-scale=1"
    size = "el => parseFloat(getComputedStyle(el).fontSize)"
    assert page.locator(f"#card-{first} .draft-body").evaluate(size) >= 16
    assert page.locator(f"#card-{first} .recent .body").last.evaluate(size) >= 16
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('#cards *')]
            .filter(el => el.checkVisibility() && [...el.childNodes]
                .some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()))
            .map(el => parseFloat(getComputedStyle(el).fontSize)))"""
    )
    assert smallest >= 12
    page.context.close()
