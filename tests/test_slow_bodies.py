"""A client that sends its body slowly does not keep Twilio's webhooks waiting.

At most INGEST_CONCURRENCY (4 by default, README) webhooks are at work at once. Anyone who
can reach the server, without a signature, opens that many connections to the SMS webhook
and sends the headers and the first byte of a body that never ends: a real `approval-bot
serve` must still answer Twilio's next signed text and store it.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests import fake_twilio
from tests.builders import BUSINESS
from tests.fake_twilio import FakeTwilio
from tests.live_server import live_server
from tests.twilio_client import CUSTOMER, new_sid

pytestmark = pytest.mark.slow

DEFAULT_INGEST_CONCURRENCY = 4  # README, INGEST_CONCURRENCY
# Twilio waits 15 s for a webhook's answer (its error 11200 past that); held behind the
# stalled bodies the text is never answered, so any bound tells the two apart, and a
# generous one leaves room for a loaded machine
ANSWER_TIMEOUT = 60.0


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


def unfinished_body(base: str) -> socket.socket:
    """A connection that sent a webhook's headers and 1 byte of its 1,000-byte body."""
    address = urlparse(base)
    sock = socket.create_connection((address.hostname, address.port))
    sock.sendall(
        b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: bot.example.com\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nB"
    )
    return sock


def test_bodies_that_never_finish_do_not_hold_back_twilios_text(tmp_path: Path, fake):
    with live_server(tmp_path, fake) as live:
        # one more than the slots, so the gate would be full whichever is counted
        stalled = [unfinished_body(live.base) for _ in range(DEFAULT_INGEST_CONCURRENCY + 1)]
        try:
            form = {
                "AccountSid": live.account_sid,
                "Body": "Are you open today?",
                "From": CUSTOMER,
                "MessageSid": new_sid(),
                "NumMedia": "0",
                "To": BUSINESS,
            }
            live.client.timeout = ANSWER_TIMEOUT
            answer = live.signed("/webhooks/twilio/sms", form)
        finally:
            for sock in stalled:
                sock.close()
        assert answer.status_code == 200
        with sqlite3.connect(live.database) as conn:
            stored = conn.execute("SELECT body FROM messages WHERE type = 'INBOUND'").fetchall()
        conn.close()
        assert stored == [("Are you open today?",)]
