"""POST /webhooks/twilio/sms: signed as Twilio signs, stored once, routed, drafted afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from approval_bot import accounts, review
from approval_bot.config import Settings
from approval_bot.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS
from approval_bot.models import Role
from approval_bot.web.twilio_edge import EMPTY_TWIML, MAX_BODY_BYTES, SANDBOX_ACCOUNT_SID

from .twilio_client import BUSINESS, CUSTOMER, FORM, PUBLIC, Twilio, new_sid, running, sign

pytestmark = pytest.mark.both_backends
SMS = "/webhooks/twilio/sms"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC)


@pytest.fixture
def twilio(settings: Settings) -> Iterator[Twilio]:
    with running(settings) as twilio:
        yield twilio


def params(body: str = "Are you open today?", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": new_sid(),
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": CUSTOMER,
        "To": BUSINESS,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def statuses(twilio: Twilio, thread: str = CUSTOMER) -> list[tuple[str, str]]:
    return [(row["type"], row["status"]) for row in twilio.messages(thread)]


def signature_failures(twilio: Twilio) -> float:
    value = twilio.client.app_state["metrics"].registry.get_sample_value(
        "approval_bot_webhook_signature_failures_total", {"endpoint": SMS}
    )
    return value or 0.0


def test_a_text_is_answered_with_empty_twiml_and_gets_a_draft_for_review(twilio):
    response = twilio.text("Hi there!")

    assert response.status_code == 200
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")
    (inbound, draft) = twilio.messages()
    assert (inbound["type"], inbound["status"]) == ("INBOUND", "DRAFT_PENDING_APPROVAL")
    assert (draft["type"], draft["status"]) == ("DRAFT", "DRAFT_PENDING_APPROVAL")
    assert draft["in_reply_to_id"] == inbound["id"]
    assert (draft["sender"], draft["receiver"]) == (BUSINESS, CUSTOMER)
    assert draft["body"].startswith("Hi!")
    assert twilio.conversation()["state"] == "ACTIVE"
    assert twilio.conversation()["sentiment"] in ("POSITIVE", "NEUTRAL")
    assert twilio.events()[:4] == [
        "Conversation Opened",
        "Stored",
        "Text Understood",
        "Draft Created",
    ]


def test_behind_a_tls_proxy_the_public_url_with_its_query_is_what_is_checked(twilio, settings):
    body = params()
    signature = sign(settings, f"{PUBLIC}{SMS}?tenant=1", body)

    response = twilio.post(f"{SMS}?tenant=1", body, signature=signature)
    twilio.settle()

    assert response.status_code == 200
    assert len(twilio.messages()) == 2


@pytest.mark.parametrize(
    "signature_for",
    [
        pytest.param(lambda s, p: "", id="missing"),
        pytest.param(lambda s, p: "bm90IGEgc2lnbmF0dXJl", id="wrong"),
        pytest.param(lambda s, p: sign(s, f"{PUBLIC}/webhooks/twilio/voice", p), id="other-url"),
        pytest.param(lambda s, p: sign(s, f"http://testserver{SMS}", p), id="internal-url"),
        pytest.param(
            lambda s, p: RequestValidator("not-our-token").compute_signature(PUBLIC + SMS, p),
            id="other-token",
        ),
        pytest.param(lambda s, p: sign(s, PUBLIC + SMS, {**p, "Body": "changed"}), id="tampered"),
    ],
)
def test_a_badly_signed_text_is_refused_and_changes_nothing(twilio, settings, signature_for):
    body = params()
    response = twilio.post(SMS, body, signature=signature_for(settings, body))
    twilio.settle()

    assert response.status_code == 403
    assert twilio.count("messages") == 0
    assert twilio.count("conversations") == 0
    assert twilio.count("webhook_events") == 0
    assert signature_failures(twilio) == 1


def test_a_replayed_message_sid_answers_200_and_stores_and_drafts_nothing(twilio):
    body = params()
    first = twilio.post(SMS, body)
    twilio.settle()
    audit_rows = twilio.count("audit_log")

    again = twilio.post(SMS, body)
    twilio.settle()

    assert first.status_code == again.status_code == 200
    assert again.text == EMPTY_TWIML
    assert len(twilio.messages()) == 2  # the message and its one draft
    assert twilio.count("audit_log") == audit_rows


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"MessageSid": ""}, 400, "MessageSid"),
        ({"From": ""}, 400, "From"),
        ({"To": ""}, 400, "To"),
        ({"From": "4155550100"}, 400, "From"),
        ({"From": "+1415555"}, 400, "From"),
        ({"To": "whatsapp:4155550199"}, 400, "To"),
        ({"From": "sms:+14155550100"}, 400, "From"),
        ({"NumMedia": "two"}, 400, "NumMedia"),
        ({"NumMedia": "1"}, 400, "MediaUrl0"),
        # no SMS carries NUL, and PostgreSQL's text refuses it: refused alike on both backends
        ({"Body": "open\x00today?"}, 400, "Body holds a NUL"),
        ({"ProfileName": "Ana\x00"}, 400, "ProfileName holds a NUL"),
    ],
)
def test_bad_parameters_get_a_400_naming_them_and_change_nothing(twilio, change, status, words):
    body = {k: v for k, v in {**params(), **change}.items() if v}
    audited = twilio.count("audit_log")  # the first start's, setting up the sending gate

    response = twilio.post(SMS, body)
    twilio.settle()

    assert response.status_code == status
    assert words in response.json()["error"]["message"]
    assert twilio.count("messages") == 0
    assert twilio.count("webhook_events") == 0
    assert twilio.count("audit_log") == audited


def test_an_oversized_or_wrongly_typed_request_is_refused_before_anything_is_read(twilio):
    big = params(body="x" * MAX_BODY_BYTES)
    too_big = twilio.post(SMS, big)
    as_json = twilio.client.post(
        SMS, json=params(), headers={"X-Twilio-Signature": sign(twilio.settings, PUBLIC + SMS, {})}
    )

    assert too_big.status_code == 413
    assert as_json.status_code == 415
    assert twilio.count("messages") == 0
    # and the server keeps serving
    assert twilio.text("still there?").status_code == 200


@pytest.mark.parametrize(
    "body",
    ["Hola 👋🏽 ¿abierto?", "שלום, מתי אתם פתוחים?", "tab\there\u0007bell\u202eRTL", "  spaced  "],
)
def test_bodies_of_any_unicode_are_stored_exactly(twilio, body):
    twilio.text(body)

    assert twilio.messages()[0]["body"] == body


def test_whatsapp_threads_keep_the_address_twilio_sent_so_replies_use_the_same_channel(twilio):
    sender = "whatsapp:" + CUSTOMER
    twilio.text("hello", sender=sender, To="whatsapp:" + BUSINESS)

    inbound, draft = twilio.messages(sender)
    assert inbound["channel"] == draft["channel"] == "whatsapp"
    assert (draft["sender"], draft["receiver"]) == ("whatsapp:" + BUSINESS, sender)
    assert twilio.conversation(sender)["channel"] == "whatsapp"


def test_media_is_stored_as_a_list(twilio):
    twilio.text(
        "see photo",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/m/1",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/m/2",
        MediaContentType1="image/png",
    )

    assert twilio.messages()[0]["media"] == (
        '[{"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"}, '
        '{"url": "https://api.twilio.com/m/2", "content_type": "image/png"}]'
    )


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_every_opt_out_word_opts_out_pauses_and_holds_the_open_draft(twilio, word):
    twilio.text("Do you deliver?")
    twilio.text(f"  {word.lower()} ")

    conversation = twilio.conversation()
    assert conversation["opted_out"] == 1
    assert (conversation["paused"], conversation["paused_reason"]) == (1, "opt-out")
    assert statuses(twilio) == [
        ("INBOUND", "DRAFT_PENDING_APPROVAL"),
        ("DRAFT", "PAUSED_THREAD"),
        ("INBOUND", "PAUSED_THREAD"),
    ]
    assert "Opted Out" in twilio.events() and "Thread Paused" in twilio.events()


def test_opt_out_type_counts_like_the_keyword(twilio):
    twilio.text("please stop texting me", OptOutType="STOP")

    assert twilio.conversation()["opted_out"] == 1
    assert statuses(twilio) == [("INBOUND", "PAUSED_THREAD")]


@pytest.mark.parametrize("word", sorted(OPT_IN_WORDS))
def test_every_opt_in_word_lifts_the_opt_out_and_sends_held_drafts_back_to_review(twilio, word):
    twilio.text("Do you deliver?")
    twilio.text("STOP")

    twilio.text(word.capitalize())

    conversation = twilio.conversation()
    assert (conversation["opted_out"], conversation["paused"]) == (0, 0)
    assert statuses(twilio) == [
        ("INBOUND", "DRAFT_PENDING_APPROVAL"),
        ("DRAFT", "DRAFT_PENDING_APPROVAL"),  # back to review, not to sending
        ("INBOUND", "PAUSED_THREAD"),
        ("INBOUND", "NEEDS_REVIEW"),  # the START itself: nothing drafted
    ]
    assert twilio.events()[-1] == "Draft Failed"
    assert "Opted In" in twilio.events() and "Released By Resume" in twilio.events()


def test_opt_in_type_counts_like_the_keyword(twilio):
    twilio.text("STOP")
    twilio.text("ok go on", OptOutType="START")

    assert twilio.conversation()["opted_out"] == 0


def test_opting_back_in_leaves_a_reviewers_pause_in_place(twilio):
    twilio.text("hello")
    twilio.run(review.pause_thread, twilio.db, CUSTOMER, "taken over", None)
    twilio.text("STOP")
    twilio.text("START")

    conversation = twilio.conversation()
    assert conversation["opted_out"] == 0
    assert (conversation["paused"], conversation["paused_reason"]) == (1, "taken over")


def test_yes_from_a_customer_who_never_opted_out_is_an_ordinary_message(twilio):
    twilio.text("yes")

    assert statuses(twilio) == [
        ("INBOUND", "DRAFT_PENDING_APPROVAL"),
        ("DRAFT", "DRAFT_PENDING_APPROVAL"),
    ]


@pytest.mark.parametrize("word", [*sorted(HELP_WORDS), "help", " Info\n"])
def test_help_words_are_recorded_and_nothing_is_drafted(twilio, word):
    twilio.text(word)

    assert statuses(twilio) == [("INBOUND", "NEEDS_REVIEW")]
    row = twilio.rows("SELECT metadata FROM audit_log WHERE event = 'Stored'")[0]
    assert '"keyword":"help"' in row["metadata"]
    assert twilio.conversation()["opted_out"] == 0


def test_a_text_on_a_paused_thread_is_held_and_the_conversation_needs_attention(twilio):
    twilio.text("hello")
    twilio.run(review.pause_thread, twilio.db, CUSTOMER, "escalated", None)

    twilio.text("anyone there?")

    assert statuses(twilio)[-1] == ("INBOUND", "PAUSED_THREAD")
    assert len(twilio.messages()) == 3  # nothing drafted
    conversation = twilio.conversation()
    assert conversation["state"] == "NEEDS_ATTENTION"
    assert "paused" in conversation["attention_reason"]


def test_a_text_from_an_active_reviewers_phone_never_takes_the_customer_path(twilio):
    reviewer = twilio.run(
        accounts.add_reviewer,
        twilio.db,
        "Ana",
        phone="+14155550123",
        password="x" * 12,
        role=Role.REVIEWER,
    )

    twilio.text("A 7F3K", sender="+14155550123")

    assert twilio.count("messages") == 0
    assert twilio.count("conversations") == 0
    row = twilio.rows("SELECT * FROM audit_log WHERE event = 'Reviewer Text Received'")[0]
    assert row["actor_id"] == reviewer.id
    assert '"body":"A 7F3K"' in row["metadata"]


def test_a_disabled_reviewers_text_is_refused_audited_and_answered(twilio):
    reviewer = twilio.run(
        accounts.add_reviewer,
        twilio.db,
        "Bo",
        phone="+14155550124",
        password="x" * 12,
        role=Role.REVIEWER,
    )
    twilio.run(accounts.disable_reviewer, twilio.db, "Bo")

    twilio.text("hello", sender="+14155550124")

    assert twilio.messages("+14155550124") == []
    refused = twilio.rows("SELECT * FROM audit_log WHERE event = 'SMS Command Refused'")
    assert [row["actor_id"] for row in refused] == [reviewer.id]
    (answer,) = twilio.rows("SELECT * FROM notifications WHERE reviewer_id = :id", id=reviewer.id)
    # queued for them (not HELD), or already sent by the sender the answer woke
    assert "disabled" in answer["body"] and answer["status"] in ("PENDING", "SENT")


def test_several_texts_in_a_row_give_one_live_draft_answering_the_latest(twilio):
    twilio.text("hi", wait=False)
    twilio.text("are you open tomorrow?", wait=False)
    twilio.text("my order arrived broken, I want a refund", wait=False)
    twilio.settle()

    rows = twilio.messages()
    drafts = [row for row in rows if row["type"] == "DRAFT"]
    live = [row for row in drafts if row["status"] == "DRAFT_PENDING_APPROVAL"]
    assert len(live) == 1
    assert all(row["status"] == "SUPERSEDED" for row in drafts if row not in live)
    latest = [row for row in rows if row["type"] == "INBOUND"][-1]
    assert live[0]["in_reply_to_id"] == latest["id"]
    assert "sorry" in live[0]["body"].lower()
    assert all(
        row["status"] == "DRAFT_PENDING_APPROVAL" for row in rows if row["type"] == "INBOUND"
    )
    # an unhappy customer is flagged for a human
    assert twilio.conversation()["sentiment"] == "NEGATIVE"
    assert twilio.conversation()["state"] == "NEEDS_ATTENTION"


def test_a_new_text_supersedes_the_pending_draft_of_the_one_before(twilio):
    twilio.text("hi")
    twilio.text("thanks!")

    drafts = [row for row in twilio.messages() if row["type"] == "DRAFT"]
    assert [row["status"] for row in drafts] == ["SUPERSEDED", "DRAFT_PENDING_APPROVAL"]
    assert drafts[0]["superseded_by"] == drafts[1]["id"]


def test_an_empty_text_without_media_goes_to_a_human_with_the_reason(twilio):
    twilio.text("   ")

    assert statuses(twilio) == [("INBOUND", "NEEDS_REVIEW")]
    conversation = twilio.conversation()
    assert conversation["state"] == "NEEDS_ATTENTION"
    assert "no text" in conversation["attention_reason"]


def test_counters_count_what_arrived(twilio):
    twilio.text("hello")
    twilio.text("STOP")
    registry = twilio.client.app_state["metrics"].registry

    def sample(name: str, labels: dict[str, str]) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert (
        sample("approval_bot_inbound_messages_total", {"channel": "sms", "outcome": "stored"}) == 1
    )
    assert sample("approval_bot_opt_outs_total", {"direction": "out"}) == 1
    assert sample("approval_bot_drafts_total", {"drafter": "builtin"}) == 1
    assert sample("approval_bot_inbound_to_draft_seconds_count", {}) == 1


def test_a_body_that_is_not_form_encoded_utf8_is_a_400(twilio):
    response = twilio.client.post(SMS, content=b"Body=%FF", headers=FORM)
    assert response.status_code == 400
    assert twilio.count("messages") == 0
    assert urlencode({"a": "b"})  # the form helper is the one Twilio's format uses
