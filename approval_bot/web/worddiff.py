"""A word-level diff between two versions of a reply, for the thread timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

_TOKENS = re.compile(r"\s+|[^\s]+")
# SequenceMatcher's cost grows with the product of the two lengths (and worse, with few
# distinct words): two 5,000-word versions took 90 s on the event loop. Past this many
# token pairs the versions are shown whole, one removed and one added.
DIFF_BUDGET = 400 * 400


@dataclass(frozen=True)
class Piece:
    op: Literal["same", "removed", "added"]
    text: str


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`, word by word; whitespace is kept as it was.

    Joining the "same" and "removed" pieces gives `old`; "same" and "added" give `new`.
    Versions too long to compare word by word (DIFF_BUDGET) are one removal and one addition.
    """
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(a) * len(b) > DIFF_BUDGET:
        return [Piece("removed", old), Piece("added", new)]
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("added", "".join(b[j1:j2])))
    return pieces
