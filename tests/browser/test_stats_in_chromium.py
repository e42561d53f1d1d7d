"""The stats page in a real browser: its charts render from a seeded database."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.stats_seed import seed

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.slow  # a server process and a browser


def test_the_stats_page_draws_its_charts(
    browser: Browser, unstarted_server: Server, shots: Path
) -> None:
    server = unstarted_server
    # seeded before the server runs: its sender would otherwise send the reply the seed
    # records as refused by Twilio, before the seed records it
    server.call(seed)
    server.start()
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    sign_in(page, server, "Ana", PASSWORD)

    page.get_by_role("link", name="Stats").click()
    page.wait_for_url(server.url + "/stats")

    expect(page.get_by_role("heading", name="Stats")).to_be_visible()
    expect(page.locator("#decided")).to_have_text("4")
    # each chart is drawn: the queue's line, a column per day and series, a bar per reviewer
    expect(page.locator("#queue-depth svg path.line")).to_have_count(1)
    expect(page.locator("#time-to-decision svg rect")).to_have_count(4)
    expect(page.locator("#per-reviewer svg rect")).to_have_count(2)
    expect(page.locator("#failures svg")).to_contain_text("21211")
    box = page.locator("#queue-depth svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    page.screenshot(path=str(shots / "stats.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the charts shrink to fit
    box = page.locator("#time-to-decision svg").bounding_box()
    assert box is not None and box["width"] <= 390
    page.screenshot(path=str(shots / "stats-phone.png"), full_page=True)
    # nothing refused by the Content-Security-Policy (a missing favicon is no matter)
    assert [e for e in errors if "Content Security Policy" in e] == []
    page.context.close()
