"""Drafters read the first 1,600 characters of a text (Twilio's limit); all of it is stored."""

from __future__ import annotations

import json

from approval_bot.sms_text import WORK_CHARS

from .twilio_client import PUBLIC, running


def test_only_the_first_1600_characters_decide_intent_and_sentiment(make_settings):
    head = "Hello there. " * (WORK_CHARS // 13 + 1)  # a greeting, past the limit
    body = head + "This is terrible, awful, the worst refund ever. " * 1000
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        assert twilio.text(body).status_code == 200

        inbound, draft = twilio.messages()
        assert inbound["body"] == body
        assert json.loads(draft["draft_meta"])["intent"] == "greeting"
        assert draft["sentiment"] != "NEGATIVE"
        assert twilio.conversation()["sentiment"] != "NEGATIVE"
