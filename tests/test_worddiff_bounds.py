"""The thread page's word diff has a bounded cost: very long versions are shown whole."""

from __future__ import annotations

from approval_bot.web.worddiff import Piece, word_diff


def versions(words: int) -> tuple[str, str]:
    old = "alpha " * words
    return old, old.replace("alpha", "beta", 1)


def test_versions_of_up_to_400_by_400_tokens_are_compared_word_by_word():
    old, new = versions(199)  # 398 tokens each: words and the spaces between them
    assert word_diff(old, new) == [
        Piece("removed", "alpha"),
        Piece("added", "beta"),
        Piece("same", old.removeprefix("alpha")),
    ]


def test_longer_versions_are_one_removal_and_one_addition():
    old, new = versions(201)  # 402 tokens each
    assert word_diff(old, new) == [Piece("removed", old), Piece("added", new)]


def test_a_short_version_against_a_long_one_is_still_compared_word_by_word():
    long = "word " * 5000
    pieces = word_diff("word", long)
    assert pieces[0] == Piece("same", "word")
    assert "".join(p.text for p in pieces if p.op != "removed") == long
