"""SMS segment counting and the reviewer notification that fits in three segments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.sms_text import (
    draft_notification,
    escalation_notification,
    fits,
    opt_out_request_notification,
    segments,
    shorten,
    waited_words,
)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),  # 3 × 153
        ("a" * 460, 4),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # in the GSM alphabet
        ("ß" * 160, 1),
        ("ł" * 70, 1),  # not in it: UCS-2
        ("ł" * 71, 2),
        ("ł" * 134, 2),  # 2 × 67
        ("ł" * 135, 3),
        ("ł" * 201, 3),
        ("ł" * 202, 4),
        ("🙂" * 35, 1),  # two UTF-16 units each
        ("🙂" * 36, 2),
        ("…" + "a" * 69, 1),
    ],
)
def test_segments(text, count):
    assert segments(text) == count


def test_shorten_marks_the_cut():
    assert shorten("hello world", 20) == "hello world"
    assert shorten("hello world", 8) == "hello..."
    assert len(shorten("x" * 100, 10)) == 10


@given(st.text(max_size=2000), st.text(max_size=2000))
def test_a_notification_always_fits_three_segments_and_names_code_and_customer(said, draft):
    text = draft_notification("7F3K", "+14155550100", said, draft)
    assert segments(text) <= 3
    assert "A 7F3K" in text and "+14155550100" in text


@given(st.text(max_size=2000), st.text(max_size=2000))
def test_a_claimed_drafts_notification_names_the_claimer_within_three_segments(said, draft):
    text = draft_notification("7F3K", "+14155550100", said, draft, ("Ana", "14:07 UTC"))
    assert segments(text) <= 3
    assert text.endswith(
        "Ana is editing it (until 14:07 UTC). Reply A 7F3K ANYWAY to send it as it is, "
        "or leave it to them."
    )


def test_a_notification_names_what_the_draft_says_that_no_reviewer_wrote():
    text = draft_notification(
        "7F3K", "+14155550100", "A cut is $12, right?", "Yes, a haircut is $12.", unknown=["$12"]
    )
    assert text.endswith(
        "Not in FAQ/profile: $12\nReply A 7F3K to send, E 7F3K new text to edit, R 7F3K to reject."
    )


@given(st.text(max_size=2000), st.text(max_size=2000), st.lists(st.text(), max_size=5))
def test_a_notification_naming_unknown_prices_still_fits_three_segments(said, draft, unknown):
    text = draft_notification(
        "7F3K", "whatsapp:+14155550100", said, draft, ("Ana", "14:07 UTC"), unknown=unknown
    )
    assert segments(text) <= 3
    assert "A 7F3K ANYWAY" in text


def test_a_short_exchange_is_kept_whole():
    text = draft_notification("7F3K", "+14155550100", "Open today?", "Yes, 9 to 5.")
    assert '"Open today?"' in text and '"Yes, 9 to 5."' in text
    assert segments(text) == 1


@pytest.mark.parametrize(
    ("text", "length", "expected"),
    [
        ("hello", 5, "hello"),  # exactly `length` characters: untouched
        ("hello!", 5, "he..."),  # one more: cut, and the cut marked
        ("hello world", 9, "hello..."),  # no space left before the mark
        ("hello world", 4, "h..."),
        ("hello world", 3, "..."),
        ("", 0, ""),
    ],
)
def test_shorten_boundaries(text, length, expected):
    assert shorten(text, length) == expected


# the fixed part of a notification for code 7F3K and customer +14155550100, quotes empty
FRAME = (
    "Draft 7F3K for +14155550100\n"
    'They wrote: ""\n'
    'Draft: ""\n'
    "Reply A 7F3K to send, E 7F3K new text to edit, R 7F3K to reject."
)
GSM_3, UCS2_3 = 3 * 153, 3 * 67  # what 3 segments hold: septets, UTF-16 units


def notify(said: str, draft: str) -> str:
    return draft_notification("7F3K", "+14155550100", said, draft)


def quotes(text: str) -> tuple[str, str]:
    said = text.split("\n")[1].removeprefix('They wrote: "').removesuffix('"')
    drafted = text.split("\n")[2].removeprefix('Draft: "').removesuffix('"')
    return said, drafted


def test_the_frame_is_the_documented_one():
    assert notify("", "") == FRAME
    assert len(FRAME) == 117


def test_exactly_three_gsm_segments_is_kept_whole_and_one_more_character_is_cut():
    room = GSM_3 - len(FRAME)  # 342 characters of quotes fit
    said, draft = "s" * 200, "d" * (room - 200)
    assert notify(said, draft) == FRAME.replace('""', f'"{said}"', 1).replace(
        'Draft: ""', f'Draft: "{draft}"'
    )
    assert segments(notify(said, draft)) == 3
    longer = notify(said, draft + "d")
    assert segments(longer) == 3
    cut_said, whole_draft = quotes(longer)
    assert whole_draft == draft + "d"  # the longer quote gives way
    assert cut_said.endswith("...") and said.startswith(cut_said.removesuffix("..."))


def test_one_ucs2_character_leaves_room_for_67_per_segment():
    room = UCS2_3 - len(FRAME)  # 84 characters of quotes fit
    said, draft = "ł" * 50, "d" * (room - 50)
    assert quotes(notify(said, draft)) == (said, draft)
    cut = notify(said + "ł", draft)
    assert segments(cut) == 3
    assert quotes(cut)[0].endswith("...") and quotes(cut)[1] == draft
    # the same length in GSM characters is nowhere near 3 segments
    assert quotes(notify("s" * 51, draft)) == ("s" * 51, draft)


def test_an_extension_character_counts_two_septets():
    room = GSM_3 - len(FRAME)
    said, draft = "€" * 100, "d" * (room - 200)  # 100 euros are 200 septets
    assert quotes(notify(said, draft)) == (said, draft)
    whole_said, cut_draft = quotes(notify(said, draft + "d"))
    assert whole_said == said and cut_draft.endswith("...")  # the longer in characters


def test_a_long_message_is_cut_and_a_short_draft_kept_whole():
    text = notify("why " * 500, "Yes, 9 to 5.")
    said, drafted = quotes(text)
    assert drafted == "Yes, 9 to 5."
    assert said.endswith("...") and ("why " * 500).startswith(said.removesuffix("..."))
    assert segments(text) == 3  # the room is used, not thrown away


def test_a_long_draft_is_cut_and_a_short_message_kept_whole():
    said, drafted = quotes(notify("Open today?", "x" * 3000))
    assert said == "Open today?"
    assert drafted.endswith("...") and set(drafted.removesuffix("...")) == {"x"}
    assert len(drafted) <= GSM_3 - len(FRAME) - len(said)


def test_two_long_quotes_share_the_room():
    text = notify("s" * 2000, "d" * 2000)
    said, drafted = quotes(text)
    assert segments(text) == 3
    assert said.endswith("...") and drafted.endswith("...")
    assert abs(len(said) - len(drafted)) <= 8


def test_line_breaks_and_runs_of_spaces_become_one_space():
    assert quotes(notify("Open\n\ntoday?  ", " Yes,\t9 to 5.")) == ("Open today?", "Yes, 9 to 5.")


def test_an_opt_out_request_notification_fits_three_segments_and_names_both_answers():
    text = opt_out_request_notification("7F3K", "+14155550100", "please stop " * 300)
    assert fits(text, 3)
    assert "OPTOUT 7F3K" in text and "KEEP 7F3K" in text and "+14155550100" in text
    short = opt_out_request_notification("7F3K", "+14155550100", "take me off your list")
    assert '"take me off your list"' in short


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(0.2, "0 min"), (1.97, "2 min"), (12.4, "12 min"), (59.6, "1 h"), (65, "1 h 5 min")],
)
def test_waits_in_reviewer_texts_are_whole_minutes(minutes, words):
    assert waited_words(minutes) == words


def test_an_escalation_fits_two_segments_with_a_long_draft_cut():
    text = escalation_notification("K7QX", "+14155550100", 31, "word " * 200)
    assert segments(text) <= 2
    assert text.startswith('Overdue: draft K7QX for +14155550100 waiting 31 min.\nDraft: "word')
    assert text.endswith('..."\nReply A K7QX to send, R K7QX to reject.')
