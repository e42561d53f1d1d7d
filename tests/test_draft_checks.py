"""Draft checks flag what a reviewer should look at twice, and never change the draft."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.drafting.checks import MAX_LENGTH, check_draft

KNOWN = "A haircut is $45. Colour from 1,200 USD. Book at https://example.com/book"


def codes(body: str, known: str = KNOWN) -> list[str]:
    return [finding.code for finding in check_draft(body, known)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("See you soon!", []),
        ("", ["empty"]),
        ("   \n", ["empty"]),
        ("x" * MAX_LENGTH, []),
        ("x" * (MAX_LENGTH + 1), ["too_long"]),
        ("A haircut is $45.", []),
        ("A haircut is $45.00.", []),
        ("A haircut is $ 45", []),
        ("It costs 45 dollars.", []),
        ("Colour is $1200.", []),
        ("A haircut is $40.", ["unknown_price"]),
        ("A trim is €45 or 30 EUR.", ["unknown_price"]),
        ("Book at https://example.com/book.", []),
        ("Book at HTTPS://www.Example.com/book/", []),
        ("Book at www.example.com/book", []),
        ("Book at https://evil.example/book", ["unknown_link"]),
        ("Pay $99 at https://evil.example", ["unknown_price", "unknown_link"]),
    ],
)
def test_findings(body, expected):
    assert codes(body) == expected


@pytest.mark.parametrize(
    "body", ["A haircut is $12.", "Only $5 today!", "It is 3 dollars.", "That's $94103."]
)
def test_numbers_that_are_no_prices_in_the_known_text_make_no_price_known(body):
    known = "We're at 12 Market Street, CA 94103, entrance on 3rd Street; open 9 to 5."
    assert codes(body, known) == ["unknown_price"]


def test_findings_name_what_they_found():
    (finding,) = check_draft("Only $19.99 today!", KNOWN)
    assert finding.as_dict() == {
        "code": "unknown_price",
        "detail": "$19.99 appears nowhere in the directives, FAQ or profile",
    }


@given(st.text(alphabet=st.characters(blacklist_characters="$€£¥0123456789:/."), min_size=1))
def test_text_without_prices_or_links_is_only_flagged_for_emptiness_or_length(body):
    expected = (["empty"] if not body.strip() else []) + (
        ["too_long"] if len(body) > MAX_LENGTH else []
    )
    assert codes(body) == expected


@given(st.decimals(min_value=0, max_value=10**6, places=2))
def test_a_price_the_reviewers_wrote_is_never_flagged(amount):
    price = f"${amount}"
    assert codes(f"It is {price}.", known=f"Our price: {price}") == []
