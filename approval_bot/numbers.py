"""Whole numbers as a client writes them in a path, a query or a form (pure)."""

from __future__ import annotations


def whole_number(text: str, largest: int) -> int | None:
    """`text` as a whole number from 0 to `largest`, or None when it is not one.

    ASCII digits only ("²" passes `str.isdigit` but not `int`), and no more of them than
    `largest` has: `int` refuses a string of over 4,300 digits, and counting first spares
    converting a long one at all.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(largest)):
        return None
    value = int(text)
    return value if value <= largest else None
