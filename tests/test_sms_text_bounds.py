"""The reviewer notification at its limits, and its cost bounded for any input length.

An SMS segment holds 160 GSM-7 septets or 70 UTF-16 units alone, 153 or 67 as a part of
a longer text; so three segments hold 459 septets or 201 units, less any unit left at the
end of a part by a two-unit character (an escape pair, a surrogate pair) that is not split.
A quote that does not fit loses eight characters at a time, marked with "...", the longer
quote first.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approval_bot import accounts, draft_notices
from approval_bot.models import Role
from approval_bot.sms_text import WORK_CHARS, draft_notification, segments, shorten

from .twilio_client import PUBLIC, running

CODE, CUSTOMER = "7F3K", "+14155550100"
# the notification with both quotes empty: 117 characters, all in the GSM alphabet
FRAME = (
    'Draft 7F3K for +14155550100\nThey wrote: ""\nDraft: ""\n'
    "Reply A 7F3K to send, E 7F3K new text to edit, R 7F3K to reject."
)


def notification(said: str, drafted: str = "") -> str:
    return draft_notification(CODE, CUSTOMER, said, drafted)


def test_the_frame_is_117_gsm_characters():
    assert len(FRAME) == 117
    assert notification("") == FRAME


def test_shorten_at_exactly_the_length_and_one_under():
    assert shorten("hello world", 11) == "hello world"
    assert shorten("hello world", 10) == "hello w..."
    assert shorten("hello world", 9) == "hello..."  # the cut's trailing space is dropped
    assert shorten("hello", 0) == "..."


@pytest.mark.parametrize(
    ("quote", "kept"),
    [
        pytest.param("a" * 342, True, id="gsm-459-septets"),
        pytest.param("a" * 343, False, id="gsm-460-septets"),
        # the quote starts at septet 41: 56 € fill the first part, 76 the second with one
        # septet left, which an escape pair may not straddle (Twilio keeps a character whole)
        pytest.param("€" * 170, True, id="gsm-extension-457-one-septet-lost-at-a-boundary"),
        pytest.param("€" * 171, False, id="gsm-extension-459-but-an-escape-pair-is-not-split"),
        pytest.param("€" * 171 + "a", False, id="gsm-extension-460"),
        pytest.param("ł" * 84, True, id="ucs2-201-units"),
        pytest.param("ł" * 85, False, id="ucs2-202-units"),
        pytest.param("🙂" * 42, True, id="ucs2-surrogate-pairs-201"),
        pytest.param("🙂" * 43, False, id="ucs2-surrogate-pairs-203"),
    ],
)
def test_exactly_three_segments_is_kept_and_one_unit_more_is_cut(quote, kept):
    text = notification(quote)
    if kept:
        assert text == FRAME.replace('They wrote: ""', f'They wrote: "{quote}"')
        assert segments(text) == 3
    else:
        # one cut: eight characters fewer, the last three of them "..."
        cut = quote[: len(quote) - 11] + "..."
        assert text == FRAME.replace('They wrote: ""', f'They wrote: "{cut}"')
        assert segments(text) <= 3


def test_the_longer_quote_is_cut_first_and_the_customer_on_a_tie():
    said, drafted = "s" * 200, "d" * 200
    text = notification(said, drafted)
    # 117 + 200 + 200 = 517 septets, 459 allowed: said 192, drafted 192, said 184,
    # drafted 184, said 176, drafted 176 (469), said 168 (461), drafted 168 (453 fits)
    said_now = text.split('They wrote: "')[1].split('"')[0]
    drafted_now = text.split('Draft: "')[1].split('"')[0]
    assert len(said_now) == len(drafted_now) == 168
    assert said_now.endswith("...") and drafted_now.endswith("...")
    assert len(text) == 453


def test_a_quote_over_the_work_limit_reads_only_its_first_part():
    head = "word " * (WORK_CHARS // 5)
    assert notification(head + "x" * 60_000) == notification(head)


def old_notification(code: str, customer: str, last_message: str, draft: str) -> str:
    """The notification as it was made before: a recount after every eight characters."""

    def compose(said: str, drafted: str) -> str:
        return (
            f"Draft {code} for {customer}\n"
            f'They wrote: "{said}"\n'
            f'Draft: "{drafted}"\n'
            f"Reply A {code} to send, E {code} new text to edit, R {code} to reject."
        )

    one_line = " ".join(last_message.split()), " ".join(draft.split())
    said, drafted = one_line
    while segments(compose(said, drafted)) > 3:
        if len(said) >= len(drafted):
            said = shorten(one_line[0], max(len(said) - 8, 0))
        else:
            drafted = shorten(one_line[1], max(len(drafted) - 8, 0))
    return compose(said, drafted)


quotes = st.text(alphabet=st.sampled_from("ab é€ł🙂\n"), max_size=WORK_CHARS)


@settings(max_examples=300)
@given(quotes, quotes)
def test_the_result_is_the_one_the_recounting_loop_gave(said, drafted):
    assert notification(said, drafted) == old_notification(CODE, CUSTOMER, said, drafted)


def test_nothing_is_composed_when_no_reviewer_takes_texts(make_settings, monkeypatch):
    composed: list[str] = []

    def recording(
        code: str,
        customer: str,
        last_message: str,
        draft: str,
        editing: tuple[str, str] | None = None,
        unknown: Sequence[str] = (),
        holder: str | None = None,
    ) -> str:
        composed.append(code)
        return draft_notification(code, customer, last_message, draft, editing, unknown, holder)

    monkeypatch.setattr(draft_notices, "draft_notification", recording)
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        twilio.run(add_reviewer, twilio, None, "Ana")
        twilio.text("Are you open today?")
        assert twilio.count("notifications") == 0
        assert composed == []

        twilio.run(add_reviewer, twilio, "+14155550111", "Bo")
        twilio.text("And tomorrow?")
        assert twilio.count("notifications") == 1
        assert len(composed) == 1


async def add_reviewer(twilio, phone: str | None, name: str) -> None:
    await accounts.add_reviewer(
        twilio.db, name, phone=phone, password="correct horse battery", role=Role.REVIEWER
    )
