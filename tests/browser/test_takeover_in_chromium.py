"""Take over → reply → release on a phone-width screen, in Debian's Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, expect

from approval_bot import worklists
from approval_bot.store import Priority, Store
from tests.builders import make_drafted_inbound, make_reviewer

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"
THREAD = "+14155550100"
WIDTH = 390  # a phone's CSS width

pytestmark = pytest.mark.slow  # a server process and a browser


async def _holder(db: Store) -> int | None:
    row = await db.fetchone(
        "SELECT taken_over_by FROM thread_controls WHERE thread_id = ?", (THREAD,)
    )
    assert row is not None
    holder: int | None = row["taken_over_by"]
    return holder


async def _replies(db: Store) -> list[str]:
    rows = await db.fetchall(
        "SELECT body FROM messages WHERE thread_id = ? AND type = 'OUTBOUND'", (THREAD,)
    )
    return [row["body"] for row in rows]


async def _places(db: Store) -> dict[str, worklists.WorkList | None]:
    return await db.write(lambda conn: worklists.place(conn, THREAD), priority=Priority.BULK)


def test_take_over_reply_and_release_on_a_phone(
    browser: Browser, server: Server, shots: Path
) -> None:
    ana = server.call(make_reviewer, "Ana")
    server.call(make_drafted_inbound, THREAD, "Can I change my booking?")
    context = browser.new_context(viewport={"width": WIDTH, "height": 800}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server, "Ana", PASSWORD)
    page.goto(f"{server.url}/threads/{quote(THREAD)}")

    page.get_by_role("button", name="Take over").click()
    expect(page.locator("#holder")).to_contain_text("You have this thread since")
    assert server.call(_holder) == ana.id
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"the thread page scrolls sideways on a phone ({width}px)"
    page.screenshot(path=str(shots / "thread-taken-over-phone.png"), full_page=True)

    page.locator("textarea[name=body]").last.fill("Yes: which day suits you?")
    page.get_by_role("button", name="Send my reply").click()
    expect(page.locator(".flash")).to_contain_text("on its way")
    assert server.call(_replies) == ["Yes: which day suits you?"]

    page.get_by_role("button", name="Release to the bot").click()
    expect(page.locator(".flash")).to_contain_text("Released")
    expect(page.get_by_role("button", name="Take over")).to_be_visible()
    assert server.call(_holder) is None
    assert server.call(_places) == {}  # the customer's text is answered
    context.close()
