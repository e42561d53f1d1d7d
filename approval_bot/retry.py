"""The retry policy for sends: what an answer from Twilio means, and when to try again.

Plain functions and values, no I/O: the sender asks, this module answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

OPTED_OUT_CODE = 21610  # Twilio: the recipient replied STOP; nothing may be sent to them
WHATSAPP_WINDOW_CODE = 63016  # Twilio: free-form WhatsApp outside the 24-hour session

# Jitter comes from a generator of its own, so the jobs drawing it leave the process-wide
# `random` state alone for whatever else shares the process.
jitter: Callable[[], float] = random.Random().random


class Outcome(StrEnum):
    """What one send attempt tells the sender to do."""

    ACCEPTED = "accepted"  # Twilio took the message
    RETRY = "retry"  # certainly not taken (429, connection refused): try again later
    UNCERTAIN = "uncertain"  # maybe taken (timeout, 5xx, dropped answer): check before again
    REJECTED = "rejected"  # a 4xx: sending again would fail the same way
    OPTED_OUT = "opted_out"  # 21610: the recipient has opted out


class TransportFailure(StrEnum):
    """How a request failed without an HTTP answer."""

    NOT_CONNECTED = "not_connected"  # the request never left: refused, connect timeout
    NO_ANSWER = "no_answer"  # the request left, the answer did not come: read timeout, reset


def classify(
    http_status: int | None, error_code: int | None, failure: TransportFailure | None = None
) -> Outcome:
    """The outcome of an attempt, from its HTTP status, Twilio error code or transport failure."""
    if failure is TransportFailure.NOT_CONNECTED:
        return Outcome.RETRY
    if failure is TransportFailure.NO_ANSWER or http_status is None:
        return Outcome.UNCERTAIN
    if 200 <= http_status < 300:
        return Outcome.ACCEPTED
    if error_code == OPTED_OUT_CODE:
        return Outcome.OPTED_OUT
    if http_status == 429:
        return Outcome.RETRY
    if http_status >= 500:
        # Twilio may have created the message before failing: reconcile before resending
        return Outcome.UNCERTAIN
    return Outcome.REJECTED


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff, full jitter: after attempt n, wait in [0, min(cap, base·2ⁿ⁻¹)]."""

    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    max_attempts: int = 6

    def ceiling(self, attempts_made: int) -> float:
        """The longest wait after `attempts_made` attempts (1 for the first failure)."""
        if attempts_made < 1:
            raise ValueError("the first wait follows the first attempt")
        # 2**n overflows float for large n; the cap is reached long before
        exponent = min(attempts_made - 1, 64)
        return float(min(self.cap_seconds, self.base_seconds * 2.0**exponent))

    def delay(self, attempts_made: int, rand: Callable[[], float] = jitter) -> float:
        """How long to wait before the next attempt; `rand` gives a number in [0, 1)."""
        return self.ceiling(attempts_made) * rand()

    def exhausted(self, attempts_made: int) -> bool:
        """True when no attempt is left."""
        return attempts_made >= self.max_attempts


DEFAULT_POLICY = RetryPolicy()
