"""Phone numbers in other scripts' digits are refused everywhere; numbers are stored in E.164.

`\\d` matches every script's digits (Arabic-Indic ٥٢٣, full-width １２３) and phonenumbers
reads them all as 5 2 3 and 1 2 3, so they passed as valid numbers and were stored as typed.
"""

from __future__ import annotations

import pytest

from approval_bot.models import Role
from approval_bot.phones import InvalidPhone, parse_address, parse_e164

from .twilio_client import PUBLIC, running

ARABIC_INDIC = "+1415\u0665\u0662\u06638801"  # +1415٥٢٣8801
FULL_WIDTH = "+1415\uff11\uff12\uff138801"  # +1415１２３8801
NON_ASCII = [
    pytest.param(ARABIC_INDIC, id="arabic-indic"),
    pytest.param(FULL_WIDTH, id="full-width"),
]


@pytest.mark.parametrize("phone", NON_ASCII)
def test_the_parser_refuses_digits_of_other_scripts(phone):
    with pytest.raises(InvalidPhone, match="E.164"):
        parse_e164(phone)
    with pytest.raises(InvalidPhone, match="E.164"):
        parse_address("whatsapp:" + phone)


def test_the_parser_returns_the_e164_form():
    assert parse_e164("+14155238801") == "+14155238801"
    assert parse_address("whatsapp:+390612345678") == ("whatsapp", "+390612345678")


@pytest.mark.parametrize("phone", NON_ASCII)
def test_the_reviewers_form_refuses_them_with_a_400(web, phone):
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    cleo = web.reviewer("Cleo")

    added = web.post("/reviewers/add", {"name": "Dee", "phone": phone})
    changed = web.post(f"/reviewers/{cleo.id}/phone", {"phone": phone})

    assert (added.status_code, changed.status_code) == (400, 400)
    assert "E.164" in added.text and "E.164" in changed.text
    assert [row["phone"] for row in web.rows("SELECT phone FROM reviewers ORDER BY id")] == [
        None,
        None,
    ]


@pytest.mark.parametrize("phone", NON_ASCII)
@pytest.mark.parametrize("field", ["From", "To"])
def test_a_webhook_from_or_to_them_is_a_400_and_stores_nothing(make_settings, phone, field):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        response = twilio.text("hello", **{field: phone})

        assert response.status_code == 400
        assert field in response.json()["error"]["message"]
        assert (twilio.count("webhook_events"), twilio.count("messages")) == (0, 0)
        call = twilio.post(
            "/webhooks/twilio/voice",
            {
                "CallSid": "CA" + "c" * 32,
                "AccountSid": "AC" + "0" * 32,
                "From": phone if field == "From" else "+14155550100",
                "To": phone if field == "To" else "+14155550199",
            },
        )
        assert call.status_code == 400
        assert twilio.count("missed_calls") == 0
