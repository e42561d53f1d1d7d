"""The reviewers' SMS command language: a table of cases and properties over any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.sms_commands import (
    CODE_ALPHABET,
    Approve,
    ConfirmOptOut,
    Edit,
    Help,
    ListOpen,
    NeedsCode,
    NeedsText,
    NotOptOut,
    PastedNotice,
    Pause,
    Reject,
    Resume,
    Several,
    Unknown,
    draw_code,
    parse,
)

CASES = [
    ("A 7F3K", Approve("7F3K")),
    ("a 7f3k", Approve("7F3K")),
    ("APPROVE 7F3K", Approve("7F3K")),
    ("Approve   7F3K.", Approve("7F3K")),
    ("  y 7F3K  ", Approve("7F3K")),
    ("A\t7F3K\n", Approve("7F3K")),
    ("A. 7F3K", Approve("7F3K")),
    # issue 15: a draft another reviewer is editing is approved by text with ANYWAY
    ("A 7F3K ANYWAY", Approve("7F3K", anyway=True)),
    ("approve 7f3k anyway.", Approve("7F3K", anyway=True)),
    ("A 7F3K anyway please", Unknown("A 7F3K anyway please")),
    ("R 7F3K anyway", Reject("7F3K", "anyway")),
    ("E 7F3K We open at 9.", Edit("7F3K", "We open at 9.")),
    ("edit 7f3k  Two  spaces kept  ", Edit("7F3K", "Two  spaces kept")),
    ("E 7F3K Line one\nline two", Edit("7F3K", "Line one\nline two")),
    ("E 7F3K", NeedsText("7F3K")),
    ("R 7F3K", Reject("7F3K", None)),
    ("r 7F3K.", Reject("7F3K", None)),
    ("REJECT 7F3K wrong price", Reject("7F3K", "wrong price")),
    ("P 7F3K", Pause("7F3K")),
    ("pause 7F3K.", Pause("7F3K")),
    ("RESUME 7F3K", Resume("7F3K")),
    ("OPTOUT 7F3K", ConfirmOptOut("7F3K")),
    ("optout 7f3k.", ConfirmOptOut("7F3K")),
    ("KEEP 7F3K", NotOptOut("7F3K")),
    ("keep 7F3K", NotOptOut("7F3K")),
    ("KEEP", NeedsCode("KEEP")),
    ("OPTOUT 7F3K please", Unknown("OPTOUT 7F3K please")),
    ("L", ListOpen()),
    ("list.", ListOpen()),
    ("H", Help()),
    ("help", Help()),
    ("?", Help()),
    ("ok", NeedsCode("APPROVE")),
    ("OK.", NeedsCode("APPROVE")),
    ("yes", NeedsCode("APPROVE")),
    ("Y", NeedsCode("APPROVE")),
    ("y", NeedsCode("APPROVE")),
    ("👍", NeedsCode("APPROVE")),
    ("A", NeedsCode("APPROVE")),
    ("A 7F3", NeedsCode("APPROVE", "7F3")),
    ("A 7F3KX", NeedsCode("APPROVE", "7F3KX")),
    ("A 0OIL", NeedsCode("APPROVE", "0OIL")),  # look-alikes are never in a code
    ("R", NeedsCode("REJECT")),
    ("A 7F3K and the other one", Unknown("A 7F3K and the other one")),
    ("L 7F3K", Unknown("L 7F3K")),
    ("thanks!", Unknown("thanks!")),
    ("", Unknown("")),
    ("A \u017f\u017f\u017f\u017f", NeedsCode("APPROVE", "\u017f\u017f\u017f\u017f")),
    ("Approved 7F3K", Unknown("Approved 7F3K")),
    # two commands in one text: the second must not become an edit's words or a reason
    ("E 7F3K We open at 9.\nA 9QWR", Several(("7F3K", "9QWR"))),
    ("R 7F3K\nA 9QWR", Several(("7F3K", "9QWR"))),
    ("R 7F3K A 9QWR", Several(("7F3K", "9QWR"))),
    ("A 7F3K A 9QWR", Several(("7F3K", "9QWR"))),
    ("A 7F3K\nR 9QWR wrong price", Several(("7F3K", "9QWR"))),
    ("A 7F3K\nA 9QWR\nP 8XYZ", Several(("7F3K", "9QWR", "8XYZ"))),
    # words that merely start like a command stay the edit's text or the reason
    ("E 7F3K Hello!\nA seat is free at 9.", Edit("7F3K", "Hello!\nA seat is free at 9.")),
    ("R 7F3K A date was wrong", Reject("7F3K", "A date was wrong")),
    # what phones add around a clear command: punctuation, quotes, emoji, thanks
    ("A 7F3K!", Approve("7F3K")),
    ("A 7F3K…", Approve("7F3K")),
    ("A “7F3K”", Approve("7F3K")),
    ("A #7F3K", Approve("7F3K")),
    ("A 7F3K👍", Approve("7F3K")),
    ("A 7F3K 👍", Approve("7F3K")),
    ("A 7F3K 🙏🏻", Approve("7F3K")),
    ("A 7F3K\u200b", Approve("7F3K")),
    ("A 7F3K thanks", Approve("7F3K")),
    ("A 7F3K, thank you!", Approve("7F3K")),
    ("a 7f3k thx", Approve("7F3K")),
    ("P 7F3K thanks", Pause("7F3K")),
    ("A 7F3K anyway!", Approve("7F3K", anyway=True)),
    ("Approve: 7F3K", Approve("7F3K")),
    ("A: 7F3K", Approve("7F3K")),
    ("Edit 7F3K: We open at 9.", Edit("7F3K", "We open at 9.")),
    ("E 7F3K, We’re open “today”", Edit("7F3K", "We’re open “today”")),
    ("R 7F3K: wrong price", Reject("7F3K", "wrong price")),
    ("list!", ListOpen()),
    ("Help!", Help()),
    ("ok A 7F3K", Approve("7F3K")),
    ("Ok, A 7F3K", Approve("7F3K")),
    ("👍 A 7F3K", Approve("7F3K")),
    ("yes R 7F3K wrong price", Reject("7F3K", "wrong price")),
    # no space after the verb: read when the code has a digit, so no word is taken for one
    ("A7F3K", Approve("7F3K")),
    ("a7f3k.", Approve("7F3K")),
    ("R7F3K wrong price", Reject("7F3K", "wrong price")),
    ("E7F3K We open at 9", Edit("7F3K", "We open at 9")),
    ("approve7f3k", Approve("7F3K")),
    ("RESET", Unknown("RESET")),
    ("PARTY", Unknown("PARTY")),
    # still not a clear command: a code in look-alikes, a word or a code but no verb
    ("A 7F3K👍 9QWR", Unknown("A 7F3K👍 9QWR")),
    ("A 7F3K?", Unknown("A 7F3K?")),
    ("P 7F3K??", Unknown("P 7F3K??")),
    ("A7F3K?", Unknown("A7F3K?")),
    ("A 7F3K thanks Ana", Unknown("A 7F3K thanks Ana")),
    ("A 7F3Kſ", NeedsCode("APPROVE", "7F3Kſ")),
    ("ok 7F3K", Unknown("ok 7F3K")),
    ("ok A", NeedsCode("APPROVE")),
    ("y KEEP", Approve("KEEP")),  # Y is a verb, not a leading yes: KEEP is the code
    ("ok thanks", Unknown("ok thanks")),
    # a notice pasted into an edit would text the customer our own lines
    (
        'E 7F3K Draft 7F3K for +14155550100\nThey wrote: "Open?"\nDraft: "Yes, 9 to 5."\n'
        "Reply A 7F3K to send, E 7F3K new text to edit, R 7F3K to reject.",
        PastedNotice("7F3K"),
    ),
    ('E 7F3K Draft: "Yes, 9 to 5, see you."', PastedNotice("7F3K")),
    ('E 7F3K Yes, 9 to 5.\nThey wrote: "Open?"', PastedNotice("7F3K")),
    ("E 7F3K Sure!\nReply A 7F3K to send, R 7F3K to reject.", PastedNotice("7F3K")),
    ("E 7F3K Our draft: yes, 9 to 5.", Edit("7F3K", "Our draft: yes, 9 to 5.")),
    (
        "E 7F3K They wrote to us before, welcome back!",
        Edit("7F3K", "They wrote to us before, welcome back!"),
    ),
]


@pytest.mark.parametrize(("text", "command"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_parse(text, command):
    assert parse(text) == command


@given(st.text())
def test_any_text_parses_and_approves_only_with_a_code_it_contains(text):
    command = parse(text)
    if isinstance(command, Approve | Edit | Reject | Pause | Resume):
        assert re.fullmatch(f"[{CODE_ALPHABET}]{{4}}", command.code)
        assert re.search(command.code, text, re.ASCII | re.IGNORECASE)


@given(
    st.sampled_from(["A", "a", "APPROVE", "y"]),
    st.text(alphabet=CODE_ALPHABET, min_size=4, max_size=4),
    st.sampled_from(["", ".", " ", "  .  "]),
)
def test_any_well_formed_approval_is_understood(verb, code, end):
    assert parse(f" {verb}  {code.lower()}{end}") == Approve(code)


# DESIGN §5: "Codes are short (4 characters, no look-alikes)": digits and capitals but 0/O, 1/I/L
NO_LOOK_ALIKES = re.compile(r"[2-9A-HJKMNP-Z]{4}")


def test_drawn_codes_are_four_characters_without_look_alikes():
    drawn = {draw_code() for _ in range(500)}
    assert all(NO_LOOK_ALIKES.fullmatch(code) for code in drawn), drawn
    assert len(drawn) > 450  # drawn at random, not one code over and over


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("ok " * 1000 + "A 7F3K", Unknown(("ok " * 1000 + "A 7F3K").strip())),
        ("A 7F3K " * 1000, Several(("7F3K",) * 1000)),
        ("R 7F3K " * 1000, Several(("7F3K",) * 1000)),
    ],
    ids=["many leading oks", "many approvals", "many rejections"],
)
def test_a_long_text_of_repeated_words_is_read_without_running_out_of_stack(text, command):
    # a body is up to 1,600 characters from Twilio, but the parser never raises on any text
    assert parse(text) == command
