"""The built-in drafter answering from the sample business: questions → answers and sources.

The expected facts are the sample profile's, written out here from
approval_bot/samples/profile.json: closed Monday and Sunday, Tue–Wed 09:00–18:00,
Thu–Fri 09:00–20:00, Sat 10:00–16:00, 24 December 09:00–13:00, 25 December closed;
Haircut $30 (30 min), Beard trim $15 (15 min), Haircut and beard trim $40, Kids haircut $20,
Hot towel shave $35; 12 Market Street; https://book.example.com/sample-barbers;
+14155550123; time zone America/Los_Angeles; sign-off "- Sample Barbers"; tone friendly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from approval_bot.drafting.base import DraftContext, FaqEntry
from approval_bot.drafting.builtin import draft_offline
from approval_bot.samples import sample_faq, sample_profile

CUSTOMER = "+14155550100"
LINK = "https://book.example.com/sample-barbers"
# Wednesday 2 December 2026, 10:00 in San Francisco (UTC-8)
WEDNESDAY_10AM = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def draft(text, *, at=WEDNESDAY_10AM, variant=0, name=None, **changes):
    profile = sample_profile().model_copy(update=changes)
    faq = tuple(FaqEntry(keywords, answer) for keywords, answer in sample_faq())
    context = DraftContext(
        CUSTOMER,
        text,
        faq=faq,
        profile=profile,
        received_at=at,
        variant=variant,
        facts={"name": name} if name else {},
    )
    return draft_offline(context)


TABLE = [
    # (text, source, every one of these in the draft, none of these in it)
    ("are you open saturday?", "from opening hours", ["Saturday", "10:00", "16:00"], ["09:00"]),
    ("Are you open on Sunday?", "from opening hours", ["closed", "Sunday"], ["10:00"]),
    ("what time do you close today", "from opening hours", ["Wednesday", "18:00"], ["20:00"]),
    ("are you open now?", "from opening hours", ["open", "18:00"], ["closed"]),
    (
        "What are your hours?",
        "from opening hours",
        ["09:00 to 18:00", "09:00 to 20:00", "10:00 to 16:00"],
        [],
    ),
    # which days: the week, not "Yes, we're open now" nor today's hours
    *[
        (text, "from opening hours", ["Mon", "Sun", "closed", "09:00 to 20:00"], ["Yes", "now"])
        for text in (
            "are you open every day?",
            "are you open 7 days a week?",
            "are you open weekdays?",
            "what days are you open?",
            "what days are you closed?",
            "when are you closed?",
        )
    ],
    # "all day" names no other day
    ("are you open all day saturday?", "from opening hours", ["Saturday", "10:00 to 16:00"], []),
    # a greeting's "good morning" asks about no time of day
    (
        "Good morning, what are your hours?",
        "from opening hours",
        ["09:00 to 18:00", "09:00 to 20:00", "10:00 to 16:00"],
        ["today"],
    ),
    # a time of day asked with no day: today's hours, not "Yes, we're open now"
    *[
        (text, "from opening hours", ["Wednesday", "09:00 to 18:00"], ["Yes", "now"])
        for text in (
            "are you open at 7pm?",
            "are you open until 8?",
            "are you open in the evening?",
            "are you open late?",
        )
    ],
    ("how much is a beard trim", "from services and prices", ["$15", "15"], ["$30", "$40"]),
    ("How much for a kid's haircut?", "from services and prices", ["$20"], ["$30"]),
    ("price of a hot towel shave?", "from services and prices", ["$35"], ["$15"]),
    ("how much is a haircut and beard trim", "from services and prices", ["$40"], ["$15"]),
    # several services: each one's price, the combined service when it is named
    ("how much for a beard trim and a haircut?", "from services and prices", ["$15", "$30"], []),
    (
        "price of a kids haircut and a hot towel shave",
        "from services and prices",
        ["$20", "$35"],
        ["$30"],
    ),
    ("how much for a haircut and a beard trim?", "from services and prices", ["$40"], ["$15"]),
    ("what do you charge?", "from services and prices", ["$30", "$15", "$40", "$20", "$35"], []),
    ("where are you", "from the address", ["12 Market Street"], []),
    ("can I get directions to the shop", "from the address", ["12 Market Street"], []),
    (
        "can I book for tomorrow at 3",
        "from opening hours and the booking link",
        ["Thursday", "15:00", "09:00 to 20:00", LINK],
        [],
    ),
    ("can I book for sunday?", "from opening hours and the booking link", ["closed", LINK], []),
    # a count of people is not the time asked for
    (
        "Can I book a table for 4 tomorrow at 7pm?",
        "from opening hours and the booking link",
        ["Thursday", "19:00", "09:00 to 20:00", LINK],
        ["16:00"],
    ),
    (
        "can we book for 2 on saturday at 11am",
        "from opening hours and the booking link",
        ["Saturday", "11:00", LINK],
        ["14:00"],
    ),
    (
        "can I book a Table for 4 tomorrow?",
        "from opening hours and the booking link",
        ["Thursday", "09:00 to 20:00", LINK],
        ["16:00"],
    ),
    (
        "Book me for 3 haircuts saturday at 2 please",
        "from opening hours and the booking link",
        ["Saturday", "14:00", LINK],
        ["15:00"],
    ),
    (
        "can I book for 4 tomorrow?",
        "from opening hours and the booking link",
        ["Thursday", "16:00", LINK],
        [],
    ),
    # "7:30" at a shop, like "at 7", is the evening; "07:30" is as written
    (
        "can I reserve a table for 6 on friday at 7:30",
        "from opening hours and the booking link",
        ["Friday", "19:30", "09:00 to 20:00", LINK],
        ["07:30", "outside"],
    ),
    (
        "can I book for 07:30 on friday",
        "from opening hours and the booking link",
        ["07:30", "outside", "09:00 to 20:00"],
        ["19:30"],
    ),
    (
        "book me in for thursday 6.30pm",
        "from opening hours and the booking link",
        ["Thursday", "18:30", "09:00 to 20:00", LINK],
        [],
    ),
    ("I'd like to make an appointment", "from the booking link", [LINK], []),
    (
        "book me in saturday at 6pm",
        "from opening hours and the booking link",
        ["18:00", "10:00 to 16:00", "outside"],
        [],
    ),
    # SMS shorthand
    ("wut r ur hrs", "from opening hours", ["09:00 to 18:00", "10:00 to 16:00"], []),
    ("whats ur number", "from the phone number", ["+14155550123"], []),
    ("are you guys open rn", "from opening hours", ["open now", "18:00"], []),
    ("open atm?", "from opening hours", ["open now", "18:00"], []),
    (
        "can i book 2morrow at 11am",
        "from opening hours and the booking link",
        ["Thursday", "11:00", LINK],
        [],
    ),
    (
        "can u fit me in 2day?",
        "from opening hours and the booking link",
        ["Wednesday", "09:00 to 18:00", LINK],
        [],
    ),
    ("is there parking?", "FAQ: parking", ["free parking behind the shop"], []),
    ("do you take cards or cash?", "FAQ: card", ["cash and all major cards"], []),
    ("what's your phone number", "from the phone number", ["+14155550123"], []),
    # a price and then another question, with no stop between them: both are answered
    (
        "price for beard trim and what time do you open tomorrow",
        "from services and prices · from opening hours",
        ["$15", "Thursday", "09:00 to 20:00"],
        ["check"],
    ),
]


@pytest.mark.parametrize(("text", "source", "present", "absent"), TABLE)
def test_a_question_is_answered_from_the_profile_naming_its_source(text, source, present, absent):
    result = draft(text)

    assert result.source == source
    for fact in present:
        assert fact in result.body, (text, result.body)
    for wrong in absent:
        assert wrong not in result.body, (text, result.body)
    assert result.body.endswith("\n- Sample Barbers")
    assert result.confidence >= 0.6
    assert result.findings == ()  # every price, link and phone is the profile's


@pytest.mark.parametrize(
    "text",
    [
        "do you do perms?",
        "are you open on christmas day?",
        "Can you colour my hair blue?",
        "is the barber Mike in today?",
        # a day of the month the hours do not read: not "we're open now"
        "Are you open on the 24th?",
        "are you open 24th?",
        "open on the 24?",
        "are you open on friday 25th?",  # Wednesday 2nd: the next Friday is the 4th
        # days no weekday names: a holiday, a day counted from today, a day gone
        "are you open on boxing day?",
        "are you open good friday?",
        "are you open memorial day?",
        "are you open nye?",
        "are you open the day after tomorrow?",
        "can i book the day after tomorrow at 3",
        "can i book for the 24th at 10",
        "are you open in 2 weeks?",
        "were you open yesterday?",
        # an appointment to cancel or move is a person's to handle, not a booking link's
        "I need to cancel my appointment tomorrow",
        "Can I move my appointment from Friday to Saturday?",
        "can we reschedule to saturday",
        # nor is one the customer already has: late, checking it, changing its time
        "I have an appointment at 3, running 10 min late",
        "is my appointment still on for tomorrow?",
        "did my booking go through?",
        "I booked for 3 but can I come at 4 instead?",
    ],
)
def test_what_the_profile_does_not_say_gets_an_honest_holding_draft(text):
    result = draft(text)

    assert result.source is None
    assert result.confidence < 0.5
    assert "check" in result.body  # "we'll check and get back to you"
    assert "$" not in result.body and ":00" not in result.body


@pytest.mark.parametrize(
    ("text", "present"),
    [
        # a service the profile does not list: the prices it has, and a person checks the rest
        ("how much is a perm?", ["$30", "$15"]),
        ("do you charge extra for long hair?", ["$30"]),
        ("how much for a haircut and a shave?", ["$30"]),
        # a kind of a listed service may cost something else
        ("how much is a senior haircut?", ["$30"]),
        ("how much is a beard trim for kids", ["$15"]),
    ],
)
def test_a_price_asked_of_what_the_profile_does_not_list_is_checked(text, present):
    result = draft(text)

    for fact in present:
        assert fact in result.body, (text, result.body)
    assert "check" in result.body
    assert result.confidence < 0.5
    assert result.source == "from services and prices"


@pytest.mark.parametrize(
    ("text", "present"),
    [
        (
            "Good morning. I'd like to know your hours. Also do you take walk ins?",
            ["09:00 to 18:00"],
        ),
        ("Are you open saturday? Do you do perms?", ["10:00 to 16:00"]),
        ("do you do gift cards? how much", ["$30"]),
        ("How much is a haircut? Is Mike in today?", ["$30"]),
        ("where are you? is there parking?", ["free parking behind the shop"]),
    ],
)
def test_a_second_question_the_draft_does_not_answer_is_checked(text, present):
    result = draft(text)

    for fact in present:
        assert fact in result.body, (text, result.body)
    assert "check" in result.body
    assert result.confidence < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Hi! What time do you close today? Thanks",
        "Are you open? I need a haircut asap",
        "Hi, this is Priya. How much is a haircut?",
        "What time do you close? And how much is a beard trim?",
        # a question going on with the one before
        "Are you open Saturday? What about Sunday?",
        "Can I book for Friday? At 3?",
        "Are you open tomorrow? How late?",
    ],
)
def test_a_greeting_or_a_remark_beside_the_question_needs_no_check(text):
    result = draft(text)

    assert "check" not in result.body
    assert result.confidence >= 0.6


WEDNESDAY_7PM = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # closed since 18:00
WEDNESDAY_4PM = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "at", "present"),
    [
        ("can I book for today at 3", WEDNESDAY_7PM, ["closed", "tomorrow (Thursday) at 09:00"]),
        ("can I book an appointment for today?", WEDNESDAY_7PM, ["closed", "Thursday"]),
        ("can I book for today at 3", WEDNESDAY_4PM, ["15:00", "passed", "18:00"]),
    ],
)
def test_a_booking_for_a_time_gone_today_is_not_offered(text, at, present):
    for variant in range(2):
        result = draft(text, at=at, variant=variant)
        for fact in present:
            assert fact in result.body, (text, result.body)
        assert "within" not in result.body and "09:00 to 18:00" not in result.body
        assert LINK in result.body


def test_a_booking_the_service_would_run_past_closing_is_too_late():
    # Saturday closes at 16:00; a haircut and beard trim takes 45 minutes
    for variant in range(2):
        result = draft("can I book a haircut and beard trim saturday at 3:30pm", variant=variant)
        assert "15:30" in result.body and "16:00" in result.body and "45 min" in result.body
        assert "within" not in result.body
    assert "within" in draft("can I book a beard trim saturday at 3:30pm").body  # 15 minutes


@pytest.mark.parametrize(
    ("day", "hours", "text", "reading", "other"),
    [
        # an evening restaurant: "at 8" is 20:00, not 08:00 before opening
        ("fri", "17:00-23:00", "can I book a table for friday at 8", "20:00", "08:00"),
        ("fri", "17:00-23:00", "table for 2 friday at 9:30, can I book?", "21:30", "09:30"),
        # a breakfast place: "at 7" is 07:00, not 19:00 after closing
        ("sat", "07:00-11:00", "can I book for saturday at 7", "07:00", "19:00"),
    ],
)
def test_an_hour_without_am_or_pm_is_the_reading_within_the_hours(day, hours, text, reading, other):
    week = sample_profile().hours.model_copy(update={day: hours})
    result = draft(text, hours=week)
    assert reading in result.body and "within" in result.body, result.body
    assert other not in result.body and "outside" not in result.body


def test_a_time_within_the_hours_is_not_promised_as_free():
    # the hours say the shop is open then, not that a chair is free
    result = draft("can I book for saturday at 11am", variant=1)
    assert "11:00" in result.body and "10:00 to 16:00" in result.body
    assert "works" not in result.body


def test_open_now_is_read_in_the_profiles_time_zone_at_the_texts_arrival():
    # Thursday 03:00 UTC is Wednesday 19:00 in San Francisco: closed since 18:00
    result = draft("are you open now?", at=datetime(2026, 12, 3, 3, 0, tzinfo=UTC))
    assert "closed" in result.body
    assert "tomorrow (Thursday) at 09:00" in result.body


@pytest.mark.parametrize("text", ["you guys open?", "open?", "u open", "Open ??"])
def test_a_short_are_you_open_asks_about_now(text):
    # at 19:00, not "Today (Wednesday) we're open 09:00 to 18:00."
    result = draft(text, at=WEDNESDAY_7PM)
    assert "closed" in result.body and "tomorrow (Thursday) at 09:00" in result.body


def test_open_now_on_a_closed_day_names_the_next_opening():
    monday = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # Monday 10:00 in San Francisco
    result = draft("are you open right now", at=monday)
    assert "closed" in result.body and "tomorrow (Tuesday) at 09:00" in result.body


def test_an_exception_date_wins_over_its_weekday():
    tuesday_22nd = datetime(2026, 12, 22, 18, 0, tzinfo=UTC)
    result = draft("are you open thursday?", at=tuesday_22nd)  # Thursday is 24 December
    assert "09:00 to 13:00" in result.body and "20:00" not in result.body
    result = draft("are you open friday?", at=tuesday_22nd)  # 25 December
    assert "closed" in result.body


def test_the_weeks_hours_name_the_special_hours_of_the_next_two_weeks():
    tuesday_22nd = datetime(2026, 12, 22, 18, 0, tzinfo=UTC)
    result = draft("What are your hours?", at=tuesday_22nd)
    assert "09:00 to 20:00" in result.body  # Thursdays and Fridays
    assert "Thursday 24 December 09:00 to 13:00" in result.body
    assert "Friday 25 December closed" in result.body
    # on 2 December the 24th is more than two weeks ahead
    assert "December" not in draft("What are your hours?").body


@pytest.mark.parametrize(
    ("text", "present"),
    [
        # every Friday, not the next one (Christmas Day)
        ("are you open on fridays?", ["Fridays", "09:00 to 20:00", "Friday 25 December closed"]),
        (
            "what time do you close on thursdays",
            ["Thursdays", "09:00 to 20:00", "Thursday 24 December 09:00 to 13:00"],
        ),
        ("are you open weekends?", ["Saturdays", "10:00 to 16:00", "Sundays", "closed"]),
    ],
)
def test_a_weekday_in_the_plural_is_every_such_day(text, present):
    result = draft(text, at=datetime(2026, 12, 22, 18, 0, tzinfo=UTC))  # Tuesday 22nd
    for fact in present:
        assert fact in result.body, (text, result.body)
    assert "now" not in result.body
    assert result.source == "from opening hours"


@pytest.mark.parametrize("text", ["are you open next friday?", "can I book for next friday at 3"])
def test_next_weekday_whose_two_readings_differ_is_checked(text):
    # on Wednesday 23rd "next friday" is Christmas Day (closed) or 1 January (open)
    result = draft(text, at=datetime(2026, 12, 23, 18, 0, tzinfo=UTC))
    assert "check" in result.body and ":00" not in result.body
    assert result.confidence < 0.5


def test_next_weekday_on_that_weekday_is_a_week_ahead():
    result = draft("are you open next wednesday?")  # asked on a Wednesday
    assert "Wednesday" in result.body and "09:00 to 18:00" in result.body
    assert "today" not in result.body.lower()
    # when both readings have the same hours, the answer stands
    assert "09:00 to 20:00" in draft("are you open next friday?").body


def test_the_customer_is_named_when_their_name_is_known():
    assert draft("how much is a haircut?", name="Sam").body.startswith("Hi Sam!")


def test_the_tone_is_the_profiles():
    formal = draft("are you open saturday?", tone="formal")
    brief = draft("are you open saturday?", tone="brief")
    assert formal.body.startswith("Hello.")
    assert brief.body.startswith("Saturday we're open 10:00 to 16:00.")


@pytest.mark.parametrize("text", [row[0] for row in TABLE] + ["do you do perms?"])
def test_the_next_variant_is_a_different_wording_of_the_same_facts(text):
    first, second = draft(text), draft(text, variant=1)
    assert first.body != second.body
    assert first.source == second.source


def test_an_answer_and_a_question_it_cannot_answer_together_is_unsure():
    result = draft("where are you and what's your phone number", phone=None)
    assert "12 Market Street" in result.body and "check" in result.body
    assert result.confidence < 0.5


def test_the_name_the_text_gives_greets_the_customer_before_the_facts_know_it():
    assert draft("Hi, this is Priya. How much is a haircut?").body.startswith("Hi Priya!")
    # the text's own name is the newer one: the facts learn it from this draft
    assert draft("this is Sam, how much is a haircut?", name="Priya").body.startswith("Hi Sam!")
    assert draft("This is great, how much is a haircut?").body.startswith("Hi! ")


def test_a_holding_reply_is_the_fallback_template_when_there_is_one():
    fallback = "Thanks! Someone from Sample Barbers will reply soon."
    result = draft_offline(
        DraftContext(
            CUSTOMER,
            "do you do perms?",
            profile=sample_profile(),
            received_at=WEDNESDAY_10AM,
            templates={"fallback": fallback},
        )
    )
    assert result.body == f"{fallback}\n- Sample Barbers"
    assert result.template_key == "fallback" and result.source is None
    partly = draft_offline(
        DraftContext(
            CUSTOMER,
            "where are you and what's your phone number",
            profile=sample_profile().model_copy(update={"phone": None}),
            received_at=WEDNESDAY_10AM,
            templates={"fallback": fallback},
        )
    )
    assert "12 Market Street" in partly.body and fallback in partly.body
    assert partly.source == "from the address" and partly.template_key == "fallback"


def test_an_answer_names_its_source_and_no_template():
    result = draft("are you open saturday?")
    assert result.source == "from opening hours" and result.template_key is None
