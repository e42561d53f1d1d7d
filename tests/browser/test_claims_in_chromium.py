"""Claims across two browser sessions in Debian's Chromium: Ana opens a card's edit box,
Bob's queue says "Ana is editing", his approve is refused beside the card, and his
"Approve anyway" goes through; `c` claims, Release lets go."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from approval_bot.store import Store
from tests.builders import make_drafted_inbound, make_reviewer, status_of

from .conftest import Server, sign_in

PASSWORD = "correct horse battery"
THREAD = "+14155550100"

pytestmark = pytest.mark.slow  # a server process and a browser


def signed_in(browser: Browser, server: Server, name: str) -> Page:
    page = browser.new_context().new_page()  # a context of its own: its own session
    sign_in(page, server, name, PASSWORD)
    return page


async def _claimer(db: Store, draft: str) -> str | None:
    row = await db.fetchone(
        "SELECT reviewers.name FROM draft_claims JOIN reviewers ON reviewers.id = reviewer_id"
        " WHERE draft_id = ?",
        (draft,),
    )
    return None if row is None else str(row["name"])


async def _audited(db: Store, draft: str) -> list[str]:
    rows = await db.fetchall(
        "SELECT event FROM audit_log WHERE message_id = ? AND event LIKE 'Draft Claim%'"
        " ORDER BY id",
        (draft,),
    )
    return [row["event"] for row in rows]


def test_two_reviewers_one_edits_the_other_is_told_and_confirms(
    browser: Browser, server: Server, shots: Path
) -> None:
    server.call(make_reviewer, "Ana")
    server.call(make_reviewer, "Bob")
    draft = server.call(make_drafted_inbound, THREAD, "Are you open today?", "Yes, 9 to 5.")
    ana, bob = signed_in(browser, server, "Ana"), signed_in(browser, server, "Bob")

    ana_card = ana.locator(f"#card-{draft}")
    ana_card.locator("button.open-edit").click()  # the bottom bar's Edit opens the edit box
    expect(ana_card.locator(".claim-text")).to_contain_text("You are editing this draft")
    assert server.call(_claimer, draft) == "Ana"

    # Bob's queue learns it by its live updates, without a reload
    bob_card = bob.locator(f"#card-{draft}")
    expect(bob_card.locator(".claim-text")).to_contain_text("Ana is editing", timeout=10_000)
    bob.screenshot(path=str(shots / "queue-claimed.png"), full_page=True)

    bob_card.locator(".approve-form button").click()
    bob_card = bob.locator(f"#card-{draft}")  # the page came back with the refusal
    expect(bob_card.locator(".field-error")).to_contain_text("Ana is editing this draft (until")
    assert server.call(status_of, draft) == "DRAFT_PENDING_APPROVAL"

    bob_card.get_by_role("button", name="Approve anyway").click()
    expect(bob.locator(".flash")).to_contain_text("Approved")
    assert server.call(status_of, draft) in ("APPROVED_TO_SEND", "SENT")
    assert server.call(_audited, draft) == ["Draft Claimed", "Draft Claim Taken Over"]
    assert server.call(_claimer, draft) is None
    # Ana's queue shows the card decided by Bob
    expect(ana_card.locator(".outcome")).to_contain_text("Bob", timeout=10_000)
    ana.context.close()
    bob.context.close()


def test_c_claims_the_current_card_and_release_lets_it_go(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    server.call(make_reviewer, "Bob")
    draft = server.call(make_drafted_inbound, THREAD, "Do you do weekends?", "Saturdays, yes.")
    ana, bob = signed_in(browser, server, "Ana"), signed_in(browser, server, "Bob")

    ana.keyboard.press("j")
    ana.keyboard.press("c")
    card = ana.locator(f"#card-{draft}")
    expect(card.locator(".claim-text")).to_contain_text("You are editing this draft")
    expect(bob.locator(f"#card-{draft} .claim-text")).to_contain_text(
        "Ana is editing", timeout=10_000
    )

    card.get_by_role("button", name="Release").click()
    expect(ana.locator(".flash")).to_contain_text("Released")
    assert server.call(_claimer, draft) is None
    expect(bob.locator(f"#card-{draft} .claim-line")).to_be_hidden(timeout=10_000)
    ana.context.close()
    bob.context.close()
