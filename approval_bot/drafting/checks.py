"""Draft checks: what a reviewer should look at twice. Pure; they flag, never fix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

MAX_LENGTH = 1600  # Twilio's limit for one message body

# $45, $1,200.50, € 9, 30 USD, 12.50 dollars
_PRICE = re.compile(
    r"[$€£¥]\s?\d[\d,]*(?:\.\d+)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|dollars?|euros?|pounds?)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
NOWHERE = "appears nowhere in the directives, FAQ or profile"


@dataclass(frozen=True)
class Finding:
    """One thing a check noticed about a draft, for the reviewer to judge."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _amount(number: str) -> Decimal:
    """45, 45.00 and 45.0 are one amount; 1,200 is 1200."""
    return Decimal(number.replace(",", "")).normalize()


def _price_amount(price: str) -> Decimal:
    """The amount of a price `prices` found ("$1,200.50" is 1200.5)."""
    number = _NUMBER.search(price)
    assert number is not None, price  # every price pattern holds a number
    return _amount(number.group(0))


def _url_key(text: str) -> str:
    url = text.rstrip(_TRAILING).lower()
    url = re.sub(r"^https?://", "", url)
    return url.removeprefix("www.").rstrip("/")


def prices(text: str) -> list[str]:
    return [match.group(0) for match in _PRICE.finditer(text)]


def urls(text: str) -> list[str]:
    return [match.group(0).rstrip(_TRAILING) for match in _URL.finditer(text)]


def phones(text: str) -> list[str]:
    """International phone numbers in `text` (+1 415 555 0123), as E.164."""
    return [
        phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        for match in phonenumbers.PhoneNumberMatcher(text, None)
    ]


def check_draft(body: str, known_text: str) -> tuple[Finding, ...]:
    """Findings for a draft `body`; `known_text` is what reviewers wrote (directives, FAQ,
    the business profile).

    A price, link or international phone number is flagged when it appears nowhere in
    `known_text` (a price as a price: with its currency, as reviewers write one): the
    drafter may have made it up.
    """
    findings: list[Finding] = []
    if not body.strip():
        findings.append(Finding("empty", "the draft has no text"))
    if len(body) > MAX_LENGTH:
        findings.append(
            Finding("too_long", f"{len(body)} characters, over the {MAX_LENGTH} a text may have")
        )
    # only amounts written as prices: "12 Market Street" or "open 9 to 5" makes no $12 or $5
    known_amounts = {_price_amount(price) for price in prices(known_text)}
    for price in dict.fromkeys(prices(body)):
        if _price_amount(price) not in known_amounts:
            findings.append(Finding("unknown_price", f"{price} {NOWHERE}"))
    known_urls = {_url_key(u) for u in urls(known_text)}
    for url in dict.fromkeys(urls(body)):
        if _url_key(url) not in known_urls:
            findings.append(Finding("unknown_link", f"{url} {NOWHERE}"))
    known_phones = set(phones(known_text))
    for phone in dict.fromkeys(phones(body)):
        if phone not in known_phones:
            findings.append(Finding("unknown_phone", f"{phone} {NOWHERE}"))
    return tuple(findings)


def unknown_values(findings: object) -> list[str]:
    """The prices, links and phones stored findings (`as_dict`) say reviewers never wrote."""
    if not isinstance(findings, list):
        return []
    return [
        str(f["detail"]).removesuffix(f" {NOWHERE}")
        for f in findings
        if isinstance(f, dict) and str(f.get("code", "")).startswith("unknown_") and "detail" in f
    ]
