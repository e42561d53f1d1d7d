"""Parsing Twilio's webhook parameters: pure, and either a message or a clear BadInbound."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.inbound import BadInbound, parse_call, parse_sms
from approval_bot.models import Channel

BASE = {"MessageSid": "SM" + "a" * 32, "From": "+14155550100", "To": "+14155550199"}


def test_a_whatsapp_message_with_media_and_an_opt_out_type():
    sms = parse_sms(
        {
            **BASE,
            "From": "whatsapp:+447911123456",
            "Body": " STOP ",
            "NumMedia": "1",
            "MediaUrl0": "https://api.twilio.com/m/1",
            "MediaContentType0": "image/jpeg",
            "OptOutType": "STOP",
            "SomethingTwilioAddsLater": "x",
        }
    )
    assert (sms.channel, sms.sender, sms.number) == (
        Channel.WHATSAPP,
        "whatsapp:+447911123456",
        "+447911123456",
    )
    assert sms.body == " STOP "
    assert sms.media == ({"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"},)
    assert sms.opt_out_type == "STOP"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MessageSid": " "}, "MessageSid is missing"),
        ({"From": "+1"}, "From must be an E.164 number"),
        ({"From": "+19999999999"}, "is not a valid phone number for its country code"),
        ({"To": "whatsapp:"}, "To must be an E.164 number"),
        ({"NumMedia": "-1"}, "NumMedia must be a number from 0 to 10"),
        ({"NumMedia": "11"}, "NumMedia must be a number from 0 to 10"),
        ({"NumMedia": "²"}, "NumMedia must be a number from 0 to 10"),
        ({"NumMedia": "9" * 5000}, "NumMedia must be a number from 0 to 10"),
        ({"NumMedia": "2", "MediaUrl0": "https://a"}, "MediaUrl1 is missing"),
    ],
)
def test_bad_parameters(change, message):
    with pytest.raises(BadInbound, match=message):
        parse_sms({**BASE, **change})


def test_a_call():
    call = parse_call({"CallSid": "CA1", "From": "+14155550100", "To": "+14155550199"})
    assert (call.call_sid, call.caller, call.called) == ("CA1", "+14155550100", "+14155550199")
    with pytest.raises(BadInbound, match="CallSid is missing"):
        parse_call({"From": "+14155550100", "To": "+14155550199"})
    withheld = parse_call({"CallSid": "CA1", "From": "anonymous", "To": "+14155550199"})
    assert (withheld.caller, withheld.caller_as_sent) == (None, "anonymous")
    with pytest.raises(BadInbound, match="To must be an E.164 number"):
        parse_call({"CallSid": "CA1", "From": "+14155550100", "To": "anonymous"})


@given(st.dictionaries(st.sampled_from([*BASE, "Body", "NumMedia", "MediaUrl0"]), st.text()))
def test_any_parameters_give_a_message_or_bad_inbound(params):
    try:
        sms = parse_sms(params)
    except BadInbound as error:
        assert str(error)
    else:
        assert sms.body == params.get("Body", "")


@given(st.text())
def test_any_body_is_kept_exactly(body):
    assert parse_sms({**BASE, "Body": body}).body == body
