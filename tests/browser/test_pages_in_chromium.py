"""Every page at phone and desktop width: no sideways scroll, axe-core clean, a screenshot each.

PAGES is the list to extend when a page is added (name, path); each runs at both sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, StorageState, ViewportSize, expect

from approval_bot.models import Role
from tests import ui_seed
from tests.builders import make_reviewer

from .conftest import Server, sign_in

pytestmark = pytest.mark.slow  # a server process and a browser

PASSWORD = "correct horse battery"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
PAGES = [
    ("queue", "/"),
    ("thread", f"/threads/{ui_seed.EDITED}"),
    ("thread-paused", f"/threads/{ui_seed.PAUSED}"),
    ("thread-closed", f"/threads/{ui_seed.CLOSED}"),
    ("thread-taken-over", f"/threads/{ui_seed.TAKEN}"),
    ("thread-opt-out-request", f"/threads/{ui_seed.STOP_ASKED}"),
    ("thread-whatsapp-window-closed", f"/threads/{ui_seed.WHATSAPP}"),
    ("thread-claimed", f"/threads/{ui_seed.CLAIMED}"),
    ("needs-reply", "/needs-review"),
    ("attention", "/attention"),
    ("paused", "/paused"),
    ("audit", "/audit"),
    ("stats", "/stats"),
    ("reviewers", "/reviewers"),
    ("directives", "/directives"),
    ("templates", "/templates"),
    ("settings", "/settings"),
    ("business", "/business"),
    ("setup", "/setup"),
    ("webhooks", "/webhooks"),
    ("simulator", f"/simulator?number={ui_seed.SENT}"),
]
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, on a history with every status, signed-in pages to visit."""
    server = Server(tmp_path_factory.mktemp("pages"))
    try:

        async def seed(db: Any) -> None:
            admin = await make_reviewer(db, "Ana", role=Role.ADMIN)
            await ui_seed.seed_every_status(db, admin.id)

        server.call(seed)
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, site: Server) -> StorageState:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, site, "Ana", PASSWORD)
    state = context.storage_state()
    context.close()
    return state


def _blocking(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in violations
        if v.get("impact") in BLOCKING
    ]


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize(("name", "path"), PAGES, ids=[name for name, _ in PAGES])
def test_page_fits_and_passes_axe(
    browser: Browser,
    site: Server,
    signed_in: StorageState,
    shots: Path,
    name: str,
    path: str,
    size: str,
) -> None:
    viewport = VIEWPORTS[size]
    context = browser.new_context(viewport=viewport, storage_state=signed_in)
    page = context.new_page()
    try:
        page.goto(site.url + path)
        expect(page.locator("main h1")).to_be_visible()

        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways at {size}: {width}"

        menu = page.locator("details.menu")
        if size == "phone":
            expect(menu).to_be_visible()
            expect(page.locator("nav.wide")).to_be_hidden()
            # the menu opens from the keyboard
            menu.locator("summary").focus()
            page.keyboard.press("Enter")
            expect(menu.locator("nav a", has_text="Queue")).to_be_visible()
            page.keyboard.press("Enter")
        else:
            expect(menu).to_be_hidden()
            expect(page.locator("nav.wide a", has_text="Queue")).to_be_visible()

        if name == "queue":
            bar = page.locator(".card-bar").first
            expect(bar.locator("button", has_text="Approve")).to_be_visible()
            expect(bar.locator("button", has_text="Edit")).to_be_visible()
            expect(bar.locator("button", has_text="Reject")).to_be_visible()
            position = bar.evaluate("el => getComputedStyle(el).position")
            card_height = page.locator("article.card").first.evaluate(
                "el => el.getBoundingClientRect().height"
            )
            if size == "phone":
                assert position == "sticky"
                assert card_height <= viewport["height"]
            # a keyboard only where there is one: a headless phone-sized page still has a
            # fine pointer, so the shortcuts' button follows the pointer, not the width
            fine = page.evaluate("matchMedia('(hover: hover) and (pointer: fine)').matches")
            expect(page.locator("#shortcuts-toggle")).to_be_visible(visible=fine)

        page.screenshot(path=str(shots / f"{name}-{size}.png"), full_page=True)
        results = Axe().run(page)
        blocking = _blocking(results.response["violations"])
        assert blocking == [], "\n".join(blocking)
    finally:
        context.close()


def test_touch_screens_get_no_keyboard_shortcuts(
    browser: Browser, site: Server, signed_in: StorageState
) -> None:
    context = browser.new_context(
        viewport=PHONE,
        storage_state=signed_in,
        has_touch=True,
        is_mobile=True,
    )
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        expect(page.locator(".card-bar").first).to_be_visible()
        fine = page.evaluate("matchMedia('(hover: hover) and (pointer: fine)').matches")
        assert fine is False
        expect(page.locator("#shortcuts-toggle")).to_be_hidden()
    finally:
        context.close()


def test_bottom_bar_edit_opens_the_cards_edit_form(
    browser: Browser, site: Server, signed_in: StorageState
) -> None:
    context = browser.new_context(viewport=PHONE, storage_state=signed_in)
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        card = page.locator("article.card").first
        card.locator(".card-bar button", has_text="Edit").click()
        expect(card.locator("details.edit textarea")).to_be_focused()
    finally:
        context.close()
