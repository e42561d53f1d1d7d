"""Delivery statuses only move forward, whatever order Twilio's callbacks arrive in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot import delivery


@pytest.mark.parametrize(
    ("current", "new", "moves"),
    [
        (None, "queued", True),
        (None, "delivered", True),
        ("queued", "sending", True),
        ("accepted", "sent", True),
        ("sending", "sent", True),
        ("sent", "delivered", True),
        ("sent", "undelivered", True),
        ("sent", "failed", True),
        ("delivered", "read", True),
        ("queued", "accepted", False),
        ("sent", "sending", False),
        ("sent", "queued", False),
        ("delivered", "sent", False),
        ("delivered", "failed", False),
        ("undelivered", "delivered", False),
        ("failed", "read", False),
        ("read", "delivered", False),
        ("sent", "read", True),
    ],
)
def test_moves(current, new, moves):
    assert delivery.advances(current, new) is moves


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        delivery.advances("sent", "teleported")


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["queued", "sent", "delivered", "read"]))
)
def test_any_order_of_arrival_ends_at_read(order):
    status = None
    for new in order:
        if delivery.advances(status, new):
            status = new
    assert status == "read"


@given(st.lists(st.sampled_from(sorted(delivery.KNOWN)), max_size=8))
def test_once_final_only_read_can_follow(statuses):
    status: str | None = None
    for new in statuses:
        before = status
        if delivery.advances(status, new):
            status = new
        if before in delivery.FINAL:
            assert status == before or (before, status) == ("delivered", "read")
