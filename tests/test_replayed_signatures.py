"""A captured webhook replayed with characters moved between parameters: refused, nothing stored.

Twilio's signature is HMAC-SHA1 over the URL followed by each parameter's name and value,
sorted by name, with no separator: `MessageSid=SM…&NumMedia=0` signs exactly as
`MessageSid=SM…NumMedia0`. The SID shapes are those of Twilio's API description
(`^(SM|MM)[0-9a-fA-F]{32}$`, `^CA[0-9a-fA-F]{32}$`, `^AC[0-9a-fA-F]{32}$`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from twilio.request_validator import RequestValidator

from approval_bot.config import Settings
from approval_bot.web.twilio_edge import SANDBOX_ACCOUNT_SID

from .twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, new_sid, running, sign

SMS, VOICE, STATUS = "/webhooks/twilio/sms", "/webhooks/twilio/voice", "/webhooks/twilio/status"
OTHER_ACCOUNT = "AC" + "9" * 32


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC)


@pytest.fixture
def twilio(settings: Settings) -> Iterator[Twilio]:
    with running(settings) as twilio:
        yield twilio


def text_form(**extra: str) -> dict[str, str]:
    return {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "Body": "Are you open today?",
        "From": CUSTOMER,
        "MessageSid": new_sid(),
        "NumMedia": "0",
        "To": BUSINESS,
        **extra,
    }


def shifted(form: dict[str, str], into: str, taken: str) -> dict[str, str]:
    """`taken`'s name and value appended to `into`'s value, and `taken` removed."""
    moved = {**form, into: form[into] + taken + form[taken]}
    del moved[taken]
    return moved


def still_valid(settings: Settings, path: str, form: dict[str, str], signature: str) -> bool:
    validator = RequestValidator(str(settings.twilio_auth_token))
    return bool(validator.validate(PUBLIC + path, form, signature))


def stored(twilio: Twilio) -> tuple[int, int, int]:
    return (twilio.count("webhook_events"), twilio.count("messages"), twilio.count("missed_calls"))


def test_a_text_replayed_with_num_media_moved_into_the_sid_is_refused(twilio, settings):
    form = text_form()
    signature = sign(settings, PUBLIC + SMS, form)
    replay = shifted(form, "MessageSid", "NumMedia")
    assert still_valid(settings, SMS, replay, signature)  # the attack is real

    response = twilio.post(SMS, replay, signature=signature)
    twilio.settle()

    assert response.status_code == 400
    assert "MessageSid" in response.json()["error"]["message"]
    assert stored(twilio) == (0, 0, 0)
    # the capture itself still goes through, once
    assert twilio.post(SMS, form, signature=signature).status_code == 200
    twilio.settle()
    assert twilio.count("webhook_events") == 1


def test_a_call_replayed_with_call_status_moved_into_the_sid_is_refused(twilio, settings):
    form = {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "CallSid": new_sid("CA"),
        "CallStatus": "ringing",
        "From": CUSTOMER,
        "To": BUSINESS,
    }
    signature = sign(settings, PUBLIC + VOICE, form)
    replay = shifted(form, "CallSid", "CallStatus")
    assert still_valid(settings, VOICE, replay, signature)

    response = twilio.post(VOICE, replay, signature=signature)
    twilio.settle()

    assert response.status_code == 400
    assert "CallSid" in response.json()["error"]["message"]
    assert stored(twilio) == (0, 0, 0)


def test_a_status_callback_replayed_with_the_status_moved_into_the_sid_is_refused(twilio, settings):
    sid = new_sid()
    form = {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessageSid": sid,
        "MessageStatus": "delivered",
        "SmsSid": sid,
        "SmsStatus": "delivered",
    }
    signature = sign(settings, PUBLIC + STATUS, form)
    replay = shifted(form, "MessageSid", "MessageStatus")
    assert still_valid(settings, STATUS, replay, signature)

    response = twilio.post(STATUS, replay, signature=signature)

    assert response.status_code == 400
    assert stored(twilio) == (0, 0, 0)


def test_a_status_callback_with_its_message_sid_folded_into_the_account_is_refused(
    twilio, settings
):
    sid = new_sid()
    form = {"AccountSid": SANDBOX_ACCOUNT_SID, "MessageSid": sid, "SmsSid": sid}
    form["MessageStatus"] = "sent"
    signature = sign(settings, PUBLIC + STATUS, form)
    replay = shifted(form, "AccountSid", "MessageSid")  # SmsSid would stand in for it
    assert still_valid(settings, STATUS, replay, signature)

    response = twilio.post(STATUS, replay, signature=signature)

    assert response.status_code == 400
    assert "AccountSid" in response.json()["error"]["message"]
    assert stored(twilio) == (0, 0, 0)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        pytest.param(text_form(AccountSid=OTHER_ACCOUNT), "AccountSid", id="another-account"),
        pytest.param(
            {k: v for k, v in text_form().items() if k != "AccountSid"},
            "AccountSid",
            id="no-account",
        ),
        pytest.param(
            {k: v for k, v in text_form().items() if k != "NumMedia"}, "NumMedia", id="no-num-media"
        ),
        pytest.param(text_form(NumMedia="٣"), "NumMedia", id="arabic-indic-num-media"),
        pytest.param(
            text_form(MediaUrl0="https://api.twilio.com/m.jpg"),
            "MediaUrl0",
            id="media-beyond-count",
        ),
        pytest.param(
            text_form(NumMedia="1", MediaUrl0="https://api.twilio.com/m.jpg", MediaUrl1="x"),
            "MediaUrl1",
            id="one-more-media",
        ),
        pytest.param(text_form(MessageSid="SM" + "g" * 32), "MessageSid", id="not-hex"),
        pytest.param(text_form(MessageSid="SM" + "a" * 31), "MessageSid", id="too-short"),
        pytest.param(text_form(MessageSid="XX" + "a" * 32), "MessageSid", id="wrong-prefix"),
        pytest.param(text_form(MessageSid="SM" + "a" * 32 + "\n"), "MessageSid", id="newline"),
        pytest.param(text_form(SmsSid="SM" + "b" * 32), "SmsSid", id="sms-sid-differs"),
    ],
)
def test_a_signed_text_shaped_unlike_twilio_is_refused(twilio, form, named):
    response = twilio.post(SMS, form)  # signed correctly for exactly this form
    twilio.settle()

    assert response.status_code == 400
    assert named in response.json()["error"]["message"]
    assert stored(twilio) == (0, 0, 0)


def test_an_mms_and_a_message_sid_in_upper_case_hex_are_accepted(twilio):
    form = text_form(
        MessageSid="MM" + "ABCDEF0123456789" * 2,
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/m0.jpg",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/m1.png",
        MediaContentType1="image/png",
    )
    assert twilio.post(SMS, form).status_code == 200
    twilio.settle()
    assert twilio.count("webhook_events") == 1
