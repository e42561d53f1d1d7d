"""Delivery statuses Twilio reports in callbacks, and the order they may move in."""

from __future__ import annotations

# queued/accepted < sending < sent < delivered | undelivered | failed | partially_delivered;
# read after delivered. Twilio's message statuses (its OpenAPI spec's message_enum_status)
# also hold receiving and received, which only inbound messages have.
_RANK = {
    "accepted": 0,
    "queued": 0,
    "scheduled": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "partially_delivered": 3,
    "read": 4,
}
FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "partially_delivered", "read"})
# the customer did not get the whole reply: the conversation needs a human
PROBLEMS = frozenset({"undelivered", "failed", "partially_delivered"})
KNOWN = frozenset(_RANK)


def advances(current: str | None, new: str) -> bool:
    """Whether `new` moves a message's delivery status forward from `current`.

    Nothing leaves a final status, except `read`, which may follow `delivered`.
    """
    if new not in _RANK:
        raise ValueError(f"unknown delivery status {new!r}")
    if current is None or current not in _RANK:
        return True
    if current in FINAL:
        return current == "delivered" and new == "read"
    return _RANK[new] > _RANK[current]


def most_advanced(current: str | None, candidates: list[str]) -> str | None:
    """The status reached by applying `candidates` in any order; None when none advances."""
    best = current
    for status in sorted((s for s in candidates if s in _RANK), key=lambda s: _RANK[s]):
        if advances(best, status):
            best = status
    return best if best != current else None
