"""The retry policy: what each answer means, and the backoff schedule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.retry import DEFAULT_POLICY, Outcome, RetryPolicy, TransportFailure, classify

Out, T = Outcome, TransportFailure


@pytest.mark.parametrize(
    ("http_status", "code", "failure", "outcome"),
    [
        (201, None, None, Out.ACCEPTED),
        (200, None, None, Out.ACCEPTED),
        (400, 21610, None, Out.OPTED_OUT),
        (400, 21211, None, Out.REJECTED),
        (400, 63016, None, Out.REJECTED),
        (401, 20003, None, Out.REJECTED),
        (404, 20404, None, Out.REJECTED),
        (429, 20429, None, Out.RETRY),
        (429, None, None, Out.RETRY),
        (500, 20500, None, Out.UNCERTAIN),
        (502, None, None, Out.UNCERTAIN),
        (503, 20503, None, Out.UNCERTAIN),
        (None, None, T.NOT_CONNECTED, Out.RETRY),
        (None, None, T.NO_ANSWER, Out.UNCERTAIN),
        (None, None, None, Out.UNCERTAIN),
        # the edges of each class of HTTP status
        (199, None, None, Out.REJECTED),
        (299, None, None, Out.ACCEPTED),
        (300, None, None, Out.REJECTED),
        (499, None, None, Out.REJECTED),
        (599, None, None, Out.UNCERTAIN),
        # a connection that never opened is safe to retry whatever else is known
        (503, None, T.NOT_CONNECTED, Out.RETRY),
        (201, None, T.NO_ANSWER, Out.UNCERTAIN),
        (429, 21610, None, Out.OPTED_OUT),
    ],
)
def test_each_answer_has_one_meaning(http_status, code, failure, outcome):
    assert classify(http_status, code, failure) is outcome


def test_the_default_schedule_doubles_from_one_second_up_to_thirty_over_six_attempts():
    policy = DEFAULT_POLICY
    assert [policy.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]
    assert [policy.delay(n, lambda: 0.5) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 15]
    assert [policy.exhausted(n) for n in range(0, 8)] == [False] * 6 + [True, True]


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=0.999999))
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt, draw):
    delay = DEFAULT_POLICY.delay(attempt, lambda: draw)
    assert 0 <= delay <= DEFAULT_POLICY.ceiling(attempt) <= 30


@given(st.integers(min_value=1, max_value=200))
def test_ceilings_never_shrink(attempt):
    policy = RetryPolicy(base_seconds=0.25, cap_seconds=7, max_attempts=3)
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1) <= 7


def test_there_is_no_wait_before_the_first_attempt():
    with pytest.raises(ValueError, match="^the first wait follows the first attempt$"):
        DEFAULT_POLICY.ceiling(0)


def test_the_policy_is_designs_base_1_s_cap_30_s_and_6_attempts():
    # DESIGN §5: "exponential backoff and jitter (base 1 s, cap 30 s, 6 attempts)"
    assert (DEFAULT_POLICY.base_seconds, DEFAULT_POLICY.cap_seconds) == (1.0, 30.0)
    assert DEFAULT_POLICY.max_attempts == 6
    assert RetryPolicy() == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("attempts", "ceiling"), [(1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (7, 30.0), (10_000, 30.0)]
)
def test_jitter_spans_zero_to_the_ceiling(attempts, ceiling):
    assert DEFAULT_POLICY.delay(attempts, lambda: 0.0) == 0.0
    assert DEFAULT_POLICY.delay(attempts, lambda: 0.25) == ceiling / 4
    assert ceiling * 0.99 < DEFAULT_POLICY.delay(attempts, lambda: 0.999999) < ceiling


def test_the_default_jitter_is_random_and_within_bounds():
    delays = {DEFAULT_POLICY.delay(3) for _ in range(50)}
    assert len(delays) > 1 and all(0 <= d < 4 for d in delays)


def test_another_policy_scales_from_its_own_base_and_cap():
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=5, max_attempts=3)
    assert [policy.ceiling(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert [policy.exhausted(n) for n in range(1, 5)] == [False, False, True, True]
