"""What an understood text means, in the words a reviewer reads on a card (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

_ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _times(count: int | None) -> str:
    """ " — second time" from the count of such texts in the contact; nothing for the first."""
    if count is None or count < 2:
        return ""
    return f" — {_ORDINALS.get(count, f'{count}th')} time"


def when(iso: str) -> str:
    """An appointment time as "9:30 Sat 6 Dec"."""
    moment = datetime.fromisoformat(iso)
    return f"{moment.hour}:{moment.minute:02d} {moment:%a} {moment.day} {moment:%b}"


def describe(
    understanding: Mapping[str, Any] | None,
    soft_no_count: int | None = None,
    confusion_count: int | None = None,
) -> list[str]:
    """The understanding's flags and appointment wish as short phrases; `*_count` are the
    contact's counts once this text was read (None when unknown)."""
    if not understanding:
        return []
    words = []
    if understanding.get("opt_out_request"):
        words.append("may want to stop hearing from us")
    if understanding.get("soft_no"):
        words.append("sounds like a polite no" + _times(soft_no_count))
    if understanding.get("confused"):
        words.append("seems confused" + _times(confusion_count))
    at = understanding.get("appointment_at")
    if understanding.get("appointment_intent") == "specific" and isinstance(at, str):
        words.append(f"asks for {when(at)}")
    elif understanding.get("appointment_intent") == "vague":
        words.append("would like an appointment, no time yet")
    return words
