"""The built-in understanding of a customer's text: the issue's examples, as a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from approval_bot.sms_text import WORK_CHARS
from approval_bot.understanding import (
    AppointmentIntent,
    Understanding,
    UnderstandingSource,
    understand,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
# Monday 1 December 2025, 10:00 in New York, 15:00 in London
MONDAY = datetime(2025, 12, 1, 15, 0, tzinfo=UTC)
SETS = Path(__file__).parent / "data"


def flags(text: str) -> tuple[bool, bool, bool]:
    found = understand(text, MONDAY, NEW_YORK)
    return found.opt_out_request, found.soft_no, found.confused


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "take me off your list",
        "don't message me again",
        "unsubscribe me",
        "PLEASE STOP TEXTING ME",
        "Stop please",
        "remove my number",
        "leave me alone",
        "I said stop",
        "i said STOP!!",
        "STOPPPP",
        "fuck off",
        "how do I make these messages stop",
        "I would appreciate it if you stopped sending me text messages.",
        "don't remove me from the waitlist, just stop texting me every day",
        # Spanish and French, with their accents or without them
        "no me envíen mensajes",
        "no me envien mas mensajes",
        "No me envíen más mensajes, por favor",
        "basta ya",
        "dejen de escribirme",
        "DEJEN DE ESCRIBIRME!",
        "arrêtez",
        "Arretez !",
        "arrêtez de m'envoyer des messages",
        "ne m'écrivez plus",
        "ne m'ecrivez plus",
        # a time or a place named, and still a wish for silence
        "don't text me anymore",
        "don't text me at all",
        "don't text me on this number",
        "don't text me after 8pm. Actually, stop texting me",
        "don't text me after 8pm, stop texting me",
        "stop texting me after this",
    ],
)
def test_a_wish_to_stop_hearing_from_us_in_own_words_is_an_opt_out_request(text):
    assert flags(text) == (True, False, False)


@pytest.mark.parametrize(
    "text",
    [
        "can you stop by at 3?",
        "what time do you stop serving lunch?",
        "the bus stop outside",
        "Stop! That price is amazing",
        "no problem, thanks",
        "why did you stop texting back?",
        "I stopped getting your texts, did you change numbers?",
        "Don't call, text me instead",
        "don't take me off the list",
        "please don't remove me from your list!",
        "don't delete me from the waitlist",
        # asking for a message, or not for this one yet, is no wish to hear nothing more
        "¿me pueden enviar mensajes mañana?",
        "no me envíen la factura todavía",
        "no me envien la factura todavia",
        "¿me envían la dirección?",
        "arrête, c'est trop drôle",
        "est-ce que vous pouvez m'envoyer un message demain ?",
    ],
)
def test_texts_that_merely_contain_such_a_word_are_not_opt_outs(text):
    assert flags(text)[0] is False


@pytest.mark.parametrize(
    "text",
    [
        # Spanish asks in the subjunctive ("no me llamen"); the indicative says what happens
        # ("they do not call me"), which is a complaint that wants contact
        "¿Por qué ya no me mandan mensajes?",
        "El técnico no me llama.",
        "Mi pedido no llega y nadie me contesta, no me llaman!",
        "ya no me mandan mensajes",
        # French asks without a subject ("ne m'appelez plus"); with one, it is what happens
        "il ne m'appelle plus ?",
        "vous ne m'appelez plus ?",
        "personne ne m'appelle plus",
    ],
)
def test_a_customer_saying_nobody_contacts_them_is_not_an_opt_out(text):
    assert flags(text)[0] is False


@pytest.mark.parametrize(
    "text",
    ["no me llame más", "no me escriba más", "no me llames", "no me molesten por favor"],
)
def test_a_spanish_request_in_the_subjunctive_is_an_opt_out(text):
    assert flags(text)[0] is True


@pytest.mark.parametrize(
    "text",
    [
        "don't text me after 8pm",
        "don't call me at work",
        "please don't text me before 9am",
        "Don't call me during work hours, text is fine",
        "dont text me so late",
        "don't message me on weekends",
        "I told you not to call me at work",
        "stop calling me at work, text me",
        "please don't send me messages after 9pm",
        "don't text me before 9:30 or on weekends",
    ],
)
def test_when_or_where_to_reach_the_customer_is_not_an_opt_out(text):
    # the reviewer reads the wish in the draft's text; "don't text me anymore" stays one
    found = understand(text, MONDAY, NEW_YORK)
    assert found.opt_out_request is False
    # "after 8pm" is when not to text, not a time to book
    assert (found.appointment_intent, found.appointment_at) == (AppointmentIntent.NONE, None)


@pytest.mark.parametrize(
    "text", ["no thanks", "not right now", "maybe later", "not interested at the moment", "nah"]
)
def test_a_polite_refusal_is_a_soft_no(text):
    assert flags(text) == (False, True, False)


@pytest.mark.parametrize(
    "text", ["no worries", "no rush, whenever", "No problem see you then", "is there no parking?"]
)
def test_no_that_refuses_nothing_is_not_a_soft_no(text):
    assert flags(text)[1] is False


@pytest.mark.parametrize(
    "text",
    ["what?", "who is this", "I don't understand", "??", "wrong number?", "¿qué?", "¿quién es?"],
)
def test_a_customer_who_does_not_follow_is_confused(text):
    assert flags(text) == (False, False, True)


@pytest.mark.parametrize(
    "text",
    ["what time do you close?", "what's the price of a trim?", "who do I ask about refunds?"],
)
def test_questions_with_what_or_who_are_not_confusion(text):
    assert flags(text)[2] is False


@pytest.mark.parametrize(
    ("text", "received", "zone", "at"),
    [
        ("9:30 on Saturday", MONDAY, NEW_YORK, "2025-12-06T09:30:00-05:00"),
        ("9:30 Saturday works", MONDAY, NEW_YORK, "2025-12-06T09:30:00-05:00"),
        ("9:30 Saturday works", MONDAY, LONDON, "2025-12-06T09:30:00+00:00"),
        # Monday 6 April 2026: Tuesday the 14th is eight days on, in summer time
        (
            "11am Tuesday the 14th",
            datetime(2026, 4, 6, 14, tzinfo=UTC),
            NEW_YORK,
            "2026-04-14T11:00:00-04:00",
        ),
        ("can you stop by at 3?", MONDAY, NEW_YORK, "2025-12-01T15:00:00-05:00"),
        ("tomorrow at 2pm?", MONDAY, NEW_YORK, "2025-12-02T14:00:00-05:00"),
        # a count of people is not an hour
        ("reservation for 6 people at 7:30", MONDAY, NEW_YORK, "2025-12-01T19:30:00-05:00"),
        ("for 2 of us at 7 on saturday", MONDAY, NEW_YORK, "2025-12-06T19:00:00-05:00"),
        ("book for 3 kids saturday at 10", MONDAY, NEW_YORK, "2025-12-06T10:00:00-05:00"),
        ("a table for 4 people tomorrow at 8", MONDAY, NEW_YORK, "2025-12-02T08:00:00-05:00"),
        (
            "Can I book a table for 4 tomorrow at 7pm?",
            MONDAY,
            NEW_YORK,
            "2025-12-02T19:00:00-05:00",
        ),
        (
            "Hi, do you have a table for 4 tomorrow at 7pm?",
            MONDAY,
            NEW_YORK,
            "2025-12-02T19:00:00-05:00",
        ),
        ("party of 5 on saturday at 6:30pm", MONDAY, NEW_YORK, "2025-12-06T18:30:00-05:00"),
        # beside another time, "for 2" is how many
        ("book for 2 at 7pm tomorrow", MONDAY, NEW_YORK, "2025-12-02T19:00:00-05:00"),
        # alone, it is when
        ("can I book for 4 tomorrow?", MONDAY, NEW_YORK, "2025-12-02T16:00:00-05:00"),
        # Friday 5 December, 17:30 in New York: "Saturday" is tomorrow
        (
            "Saturday 10am",
            datetime(2025, 12, 5, 22, 30, tzinfo=UTC),
            NEW_YORK,
            "2025-12-06T10:00:00-05:00",
        ),
        # Saturday 7 March 2026, 15:00 in New York: the clocks go forward tonight, so
        # tomorrow's 3pm is 15:00 summer time (-04:00), not 16:00
        (
            "tomorrow at 3pm?",
            datetime(2026, 3, 7, 20, tzinfo=UTC),
            NEW_YORK,
            "2026-03-08T15:00:00-04:00",
        ),
        (
            "can I book tmrw at noon",
            datetime(2026, 3, 7, 20, tzinfo=UTC),
            NEW_YORK,
            "2026-03-08T12:00:00-04:00",
        ),
        # Saturday 31 October 2026, 12:00 in New York: the clocks go back tonight
        (
            "tomorrow at 3",
            datetime(2026, 10, 31, 16, tzinfo=UTC),
            NEW_YORK,
            "2026-11-01T15:00:00-05:00",
        ),
        # Saturday 28 March 2026, 12:00 in London: British Summer Time starts tonight
        (
            "tomorrow at 10am",
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            LONDON,
            "2026-03-29T10:00:00+01:00",
        ),
    ],
)
def test_a_named_day_and_time_is_specific_in_the_business_zone(text, received, zone, at):
    found = understand(text, received, zone)
    assert found.appointment_intent is AppointmentIntent.SPECIFIC
    assert found.appointment_at == at


@pytest.mark.parametrize(
    "text", ["Saturday morning", "sometime next week", "sometime next week?", "yeah interested"]
)
def test_a_wish_without_a_time_is_vague(text):
    found = understand(text, MONDAY, NEW_YORK)
    assert (found.appointment_intent, found.appointment_at) == (AppointmentIntent.VAGUE, None)


@pytest.mark.parametrize(
    "text",
    [
        "what time do you stop serving lunch?",
        "Are you open on Saturday?",
        "we were there on Saturday, great service",
        "not interested",
        "I've been waiting 20 minutes",
    ],
)
def test_no_appointment_in_hours_questions_the_past_or_a_refusal(text):
    found = understand(text, MONDAY, NEW_YORK)
    assert (found.appointment_intent, found.appointment_at) == (AppointmentIntent.NONE, None)


def test_the_intent_is_one_the_drafters_know_and_the_source_is_builtin():
    found = understand("Can I book an appointment?", MONDAY, NEW_YORK)
    assert (found.intent, found.source) == ("booking", UnderstandingSource.BUILTIN)


def test_only_the_first_1600_characters_are_read():
    padding = "Hello there. " * (WORK_CHARS // 13 + 1)
    assert flags(padding + "please stop texting me") == (False, False, False)
    assert flags("please stop texting me " + padding)[0] is True


def test_an_understanding_round_trips_through_its_json_object():
    found = understand("9:30 Saturday works", MONDAY, NEW_YORK)
    stored = json.loads(found.to_json())
    assert stored == {
        "intent": "other",
        "appointment_intent": "specific",
        "appointment_at": "2025-12-06T09:30:00-05:00",
        "soft_no": False,
        "confused": False,
        "opt_out_request": False,
        "source": "builtin",
    }
    assert Understanding.from_json(found.to_json()) == found


GOOD = {
    "intent": "other",
    "appointment_intent": "none",
    "appointment_at": None,
    "soft_no": False,
    "confused": False,
    "opt_out_request": False,
    "source": "model",
}


@pytest.mark.parametrize(
    "change",
    [
        {"soft_no": "no"},
        {"intent": "made-up"},
        {"source": "someone"},
        {"appointment_intent": "specific"},  # with no time
        {"appointment_at": "2025-12-06T09:30:00"},  # no offset, and not specific
        {"appointment_intent": "soon"},
        {"extra": 1},
    ],
)
def test_from_json_refuses_what_is_not_an_understanding(change):
    with pytest.raises(ValueError):
        Understanding.from_json(json.dumps({**GOOD, **change}))
    with pytest.raises(ValueError):
        Understanding.from_json("[]")


# -- the evaluation sets load, and every label is valid (their figures are the benchmark's)

LABEL_KEYS = {
    "text",
    "received_at",
    "zone",
    "opt_out_request",
    "soft_no",
    "confused",
    "appointment_intent",
    "appointment_at",
}


@pytest.mark.parametrize("name", ["understanding.jsonl", "understanding_holdout.jsonl"])
def test_every_labelled_text_of_the_evaluation_sets_is_valid(name):
    lines = (SETS / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) >= (200 if name == "understanding.jsonl" else 30)
    texts = [row["text"] for row in rows]
    assert len(set(texts)) == len(texts)
    for row in rows:
        assert set(row) == LABEL_KEYS, row
        assert isinstance(row["text"], str) and row["text"].strip()
        assert datetime.fromisoformat(row["received_at"]).utcoffset() is not None
        ZoneInfo(row["zone"])
        assert all(
            isinstance(row[flag], bool) for flag in ("opt_out_request", "soft_no", "confused")
        )
        assert row["appointment_intent"] in ("none", "vague", "specific")
        if row["appointment_intent"] == "specific":
            at = datetime.fromisoformat(row["appointment_at"])
            assert at.utcoffset() == at.astimezone(ZoneInfo(row["zone"])).utcoffset()
        else:
            assert row["appointment_at"] is None
        assert not (row["opt_out_request"] and row["soft_no"]), row  # a soft no is not an opt-out
