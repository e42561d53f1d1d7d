"""Phone numbers: E.164 for SMS, `whatsapp:` + E.164 for WhatsApp, as Twilio writes them."""

from __future__ import annotations

import re

import phonenumbers

from .models import Channel

WHATSAPP_PREFIX = "whatsapp:"
# ASCII digits only: `\d` matches every script's digits, and phonenumbers reads them all
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
E164_CHARS = 16  # the longest number: "+" and 15 digits


class InvalidPhone(ValueError):
    """Not a valid E.164 number (optionally with the `whatsapp:` prefix)."""


def parse_e164(value: str) -> str:
    """Check that `value` is a valid number written in E.164 (`+14155550100`) in ASCII digits;
    return it in the canonical E.164 form phonenumbers writes."""
    if not _E164.fullmatch(value):
        raise InvalidPhone(f"must be an E.164 number such as +14155550100, not {value!r}")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{value!r} is not a valid phone number for its country code")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_address(value: str) -> tuple[Channel, str]:
    """Split a Twilio address into its channel and E.164 number."""
    if value.startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, parse_e164(value.removeprefix(WHATSAPP_PREFIX))
    return Channel.SMS, parse_e164(value)
