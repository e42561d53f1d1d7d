"""The live segment count (static/segments.js) in Chromium agrees with the server's count.

The JS is a port of `sms_text.count_segments` with the alphabet the server's codec gives
it; this runs both over the boundary table, every GSM character alone, and random texts,
and types into a card's edit box to see the meter and its warning.
"""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Browser, expect

from approval_bot.sms_text import GSM_BASIC, GSM_EXTENDED, count_segments
from tests.builders import make_drafted_inbound, make_reviewer

from .conftest import Server, sign_in

pytestmark = pytest.mark.slow  # a server process and a browser

PASSWORD = "correct horse battery"
ALPHABET = sorted(GSM_BASIC | GSM_EXTENDED) + list("çł—“”😀🙂€`ñЖ中")


def texts() -> list[str]:
    rng = random.Random(14)
    table = ["a" * n for n in (0, 1, 152, 153, 160, 161, 306, 307, 459, 460)] + [
        "€" * 80,
        "€" * 81,
        "a" * 152 + "€" + "a" * 153,
        "a" * 69 + "ç",
        "a" * 70 + "ç",
        "a" * 66 + "😀" + "a" * 67,
        "😀" * 36,
    ]
    singles = ALPHABET
    randoms = ["".join(rng.choices(ALPHABET, k=rng.randint(1, 700))) for _ in range(300)]
    return table + singles + randoms


def test_the_browser_counts_as_the_server_does(browser: Browser, server: Server) -> None:
    server.call(make_reviewer, "Ana")
    draft = server.call(make_drafted_inbound, "+14155550100", "Hi", "Yes, 9 to 5.")
    page = browser.new_context().new_page()
    sign_in(page, server, "Ana", PASSWORD)

    cases = texts()
    answers = page.evaluate("(texts) => texts.map((t) => window.countSegments(t))", cases)
    for text, answer in zip(cases, answers, strict=True):
        count = count_segments(text)
        expected = {
            "encoding": count.encoding,
            "segments": count.segments,
            "units": count.units,
            "forced_by": count.forced_by,
        }
        assert answer == expected, text

    card = page.locator(f"#card-{draft}")
    card.locator("summary", has_text="Edit").click()
    box = card.locator("textarea[name=body]").first
    meter = card.locator("details.edit .segment-meter")
    expect(meter).to_have_text("GSM-7 · 1 segment")
    box.fill("a" * 161)
    expect(meter).to_have_text("GSM-7 · 2 segments")
    box.fill("Thanks 😀 " + "a" * 200)
    expect(meter).to_have_text("UCS-2 · 4 segments — over 3; UCS-2 because of “😀”")
    expect(meter).to_have_class("segment-meter warn")
    page.context.close()
