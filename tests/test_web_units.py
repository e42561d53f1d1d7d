"""The web layer's pure helpers: word diffs, redirects, waiting times, conflict messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot import workflow
from approval_bot.web.auth import safe_next
from approval_bot.web.common import waited
from approval_bot.web.pages import conflict_message
from approval_bot.web.worddiff import Piece, word_diff


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("same text", "same text", [Piece("same", "same text")]),
        (
            "Open 9-5",
            "Open 9 to 6",
            [Piece("same", "Open "), Piece("removed", "9-5"), Piece("added", "9 to 6")],
        ),
        ("", "hello", [Piece("added", "hello")]),
        ("bye", "", [Piece("removed", "bye")]),
        (
            "We open at 9.",
            "We open at 10 on Saturdays.",
            [
                Piece("same", "We open at "),
                Piece("removed", "9."),
                Piece("added", "10 on Saturdays."),
            ],
        ),
    ],
)
def test_word_diff(old, new, expected):
    assert word_diff(old, new) == expected


@given(st.text(max_size=200), st.text(max_size=200))
def test_word_diff_rebuilds_both_versions(old, new):
    pieces = word_diff(old, new)
    assert "".join(p.text for p in pieces if p.op != "added") == old
    assert "".join(p.text for p in pieces if p.op != "removed") == new


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/audit?thread=%2B1", "/audit?thread=%2B1"),
        ("/threads/+14155550100", "/threads/+14155550100"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_safe_next(value, expected):
    assert safe_next(value) == expected


NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        ("2026-01-02T11:59:18+00:00", "42 s"),
        ("2026-01-02T11:55:00+00:00", "5 min"),
        ("2026-01-02T09:00:00+00:00", "3 h"),
        ("2025-12-31T12:00:00+00:00", "2 d"),
        ("2026-01-02T12:00:05+00:00", "0 s"),  # a clock a little ahead is not negative
    ],
)
def test_waited(then, expected):
    assert waited(then, NOW) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            workflow.Conflict(
                "message m1",
                "DRAFT_PENDING_APPROVAL",
                "APPROVED_TO_SEND",
                "Ana",
                "2026-01-02T12:00:00.000000+00:00",
            ),
            "Already approved by Ana at 2026-01-02 12:00:00 UTC; nothing was changed.",
        ),
        (
            workflow.Conflict("message m1", "DRAFT_PENDING_APPROVAL", "REJECTED", "Bob", None),
            "Already rejected by Bob; nothing was changed.",
        ),
        (
            workflow.Conflict("thread +1", "not paused", "paused", "Ana", None),
            "The thread is already paused (last change by Ana); nothing was changed.",
        ),
        (
            workflow.Conflict("conversation +1", "NEEDS_ATTENTION", "ACTIVE", "the system", None),
            "The conversation is already open (last change by the system); nothing was changed.",
        ),
    ],
)
def test_conflict_messages_name_who_was_first(error, expected):
    assert conflict_message(error) == expected
