"""The first-run checklist and the Business page in Chromium, on a phone and a desktop."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from approval_bot.models import Role
from tests.builders import make_reviewer

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.slow  # a server process and a browser per test


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_a_newcomer_loads_the_sample_business_and_finishes_the_checklist(
    browser: Browser, server: Server, shots: Path, width: int, height: int
) -> None:
    server.call(make_reviewer, "Ada", phone="+14155550111", role=Role.ADMIN)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in(page, server, "Ada", PASSWORD)

    assert page.url == server.url + "/setup"  # the checklist, after the first sign-in
    expect(page.locator("#step-profile .state")).to_have_text("to do")
    page.screenshot(path=str(shots / f"setup-{width}.png"), full_page=True)
    page.locator("#step-profile").get_by_role("button", name="Load the sample business").click()
    expect(page.locator(".flash")).to_contain_text("The sample business is loaded")
    expect(page.locator("#step-profile .state")).to_have_text("done")
    expect(page.locator("#step-faq .state")).to_have_text("done")  # three FAQ entries came too

    page.goto(server.url + "/business")
    expect(page.locator("input[name=name]")).to_have_value("Sample Barbers")
    expect(page.locator("input[name=hours_sat]")).to_have_value("10:00-16:00")
    page.fill("input[name=hours_sat]", "10 till 4")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#profile-error")).to_contain_text("hours.sat")
    expect(page.locator("input[name=hours_sat]")).to_have_value("10 till 4")  # kept
    page.fill("input[name=hours_sat]", "10:00-15:00")
    page.click("#profile-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("The business profile is saved")
    expect(page.locator("input[name=hours_sat]")).to_have_value("10:00-15:00")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"/business scrolls sideways ({scroll}px)"
    page.screenshot(path=str(shots / f"business-{width}.png"), full_page=True)

    page.goto(server.url + "/setup")
    for step in ("reviewers", "twilio"):
        page.locator(f"#step-{step}").get_by_role("button", name="Skip").click()
        expect(page.locator(f"#step-{step} .state")).to_have_text("skipped")
    page.locator("#step-simulator").get_by_role("button", name="Mark done").click()
    expect(page.locator("#setup-finished")).to_be_visible()
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"/setup scrolls sideways ({scroll}px)"
    context.close()
