"""The server keeps serving: hostile input through every door, and `/healthz` stays quick.

A real server on loopback; a prober asks `/healthz` every 50 ms while long bodies, unicode
edge cases, huge media lists, malformed forms, deeply nested JSON, bad phone numbers and
replays arrive, and until the work they started (drafts, notifications, reviewer answers)
is done. No probe answer may take longer than 250 ms, and no hostile request is a 5xx.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from approval_bot.web.twilio_edge import MAX_BODY_BYTES
from tests import fake_twilio
from tests.builders import BUSINESS
from tests.fake_twilio import FakeTwilio
from tests.live_server import FORM, PUBLIC, REVIEWER_PHONE, Live, Prober, live_server
from tests.twilio_client import new_sid

pytestmark = pytest.mark.slow

WITHIN = 0.250  # seconds, as the issue asks
SETTLE_TIMEOUT = 120.0
SMS, VOICE, STATUS = "/webhooks/twilio/sms", "/webhooks/twilio/voice", "/webhooks/twilio/status"

Attack = Callable[[Live], httpx.Response]


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


def text(live: Live, body: str, sender: str = "+14155550100", **extra: str) -> dict[str, str]:
    return {
        "AccountSid": live.account_sid,
        "Body": body,
        "From": sender,
        "MessageSid": new_sid(),
        "NumMedia": "0",
        "To": BUSINESS,
        **extra,
    }


def filling(live: Live, unit: str, sender: str = "+14155550100") -> dict[str, str]:
    """A text whose body repeats `unit` until the encoded form nearly reaches 64 KiB."""
    form = text(live, "", sender)
    room = MAX_BODY_BYTES - len(urlencode(form))
    per_unit = len(urlencode({"b": unit})) - 2
    form["Body"] = unit * (room // per_unit)
    assert len(urlencode(form)) <= MAX_BODY_BYTES
    return form


def shifted(form: dict[str, str], into: str, taken: str) -> dict[str, str]:
    moved = {**form, into: form[into] + taken + form[taken]}
    del moved[taken]
    return moved


def raw(path: str, content: bytes, content_type: str = FORM) -> Attack:
    return lambda live: live.client.post(
        path, content=content, headers={"Content-Type": content_type}
    )


def signed(path: str, form: Callable[[Live], dict[str, str]]) -> Attack:
    return lambda live: live.signed(path, form(live))


def replayed(times: int) -> Attack:
    def attack(live: Live) -> httpx.Response:
        form = text(live, "the same text again")
        answers = [live.signed(SMS, form) for _ in range(times)]
        assert {answer.status_code for answer in answers} == {200}
        return answers[-1]

    return attack


def shifted_replay(live: Live) -> httpx.Response:
    form = text(live, "captured")
    signature = RequestValidator(live.auth_token).compute_signature(PUBLIC + SMS, form)
    live.client.post(
        SMS,
        content=urlencode(form),
        headers={"Content-Type": FORM, "X-Twilio-Signature": signature},
    )
    return live.client.post(
        SMS,
        content=urlencode(shifted(form, "MessageSid", "NumMedia")),
        headers={"Content-Type": FORM, "X-Twilio-Signature": signature},
    )


def api(path: str, content: bytes) -> Attack:
    return lambda live: live.client.post(
        path,
        content=content,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {live.api_token}"},
    )


def chunked_over_the_limit(live: Live) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"Body=" + b"x" * 1024 + b"&"

    return live.client.post(SMS, content=chunks(), headers={"Content-Type": FORM})


def media(count: str, urls: int, url_length: int = 4000) -> Callable[[Live], dict[str, str]]:
    def form(live: Live) -> dict[str, str]:
        items = {f"MediaUrl{i}": "https://api.twilio.com/" + "m" * url_length for i in range(urls)}
        return text(live, "pictures", NumMedia=count, **items)

    return form


ATTACKS: list[tuple[str, Attack]] = [
    ("64 KiB of words", signed(SMS, lambda live: filling(live, "book a table for two "))),
    ("64 KiB in one word", signed(SMS, lambda live: filling(live, "x", "+14155550101"))),
    ("64 KiB of emoji", signed(SMS, lambda live: filling(live, "🙂", "+14155550102"))),
    ("64 KiB of combining marks", signed(SMS, lambda live: filling(live, "a\u0301\u0302\u0303"))),
    ("bidi overrides and NULs", signed(SMS, lambda live: filling(live, "\u202e\x00\u2028ł"))),
    ("64 KiB from a reviewer", signed(SMS, lambda live: filling(live, "E 7F3K ", REVIEWER_PHONE))),
    ("ten long media", signed(SMS, media("10", 10))),
    ("a huge NumMedia", signed(SMS, media("99999", 0))),
    ("media beyond NumMedia", signed(SMS, media("1", 12, 100))),
    (
        "Arabic-Indic From",
        signed(SMS, lambda live: text(live, "hi", "+1415\u0665\u0662\u06638801")),
    ),
    ("full-width To", signed(SMS, lambda live: text(live, "hi", To="+1415\uff11\uff12\uff138801"))),
    ("a 5,000-digit From", signed(SMS, lambda live: text(live, "hi", "+1" + "5" * 5000))),
    ("whatsapp garbage", signed(SMS, lambda live: text(live, "hi", "whatsapp:\U0001f600"))),
    ("replayed 20 times", replayed(20)),
    ("shifted replay", shifted_replay),
    ("unsigned", raw(SMS, urlencode({"Body": "x" * 60_000}).encode())),
    ("bad percent-encoding", raw(SMS, b"Body=%zz%ff&From=%")),
    ("invalid UTF-8", raw(SMS, b"Body=%ff%fe%ed%a0%80")),
    ("not a form", raw(SMS, b'{"Body": "hi"}', "application/json")),
    ("over 64 KiB", raw(SMS, b"Body=" + b"x" * (MAX_BODY_BYTES + 10))),
    ("chunked over 64 KiB", chunked_over_the_limit),
    ("an empty form", raw(VOICE, b"")),
    (
        "a long CallSid",
        signed(
            VOICE,
            lambda live: {
                "AccountSid": live.account_sid,
                "CallSid": "CA" + "f" * 60_000,
                "From": "+14155550100",
                "To": BUSINESS,
            },
        ),
    ),
    (
        "status for unknown SIDs",
        signed(
            STATUS,
            lambda live: {
                "AccountSid": live.account_sid,
                "MessageSid": new_sid(),
                "MessageStatus": "delivered",
            },
        ),
    ),
    (
        "a status of 60,000 characters",
        signed(
            STATUS,
            lambda live: {
                "AccountSid": live.account_sid,
                "MessageSid": new_sid(),
                "MessageStatus": "d" * 60_000,
            },
        ),
    ),
    ("nested JSON", api("/api/v1/drafts/x/approve", b"[" * 30_000)),
    ("a 64 KiB JSON string", api("/api/v1/drafts/x/approve", b'"' + b"x" * 65_000 + b'"')),
    ("JSON in bad UTF-8", api("/api/v1/drafts/x/approve", b'{"notes": "\xff\xfe"}')),
]
CLOSED = 0  # the server closed the connection before the client had sent everything
# a body over a limit may be refused before it is all sent: the client then sees a reset
MAY_CLOSE = {"over 64 KiB", "chunked over 64 KiB", "a 64 KiB JSON string"}


def settled(database: Path) -> bool:
    """No customer message waits for a draft, and no text waits to be sent."""
    with sqlite3.connect(database) as conn:
        (waiting,) = conn.execute(
            "SELECT count(*) FROM messages WHERE type = 'INBOUND' AND status = 'RECEIVED'"
        ).fetchone()
        (unsent,) = conn.execute(
            "SELECT count(*) FROM notifications WHERE status = 'PENDING'"
        ).fetchone()
    conn.close()
    return int(waiting) == 0 and int(unsent) == 0


def test_the_server_keeps_serving_through_hostile_input(tmp_path: Path, fake):
    answers: dict[str, int] = {}
    with live_server(tmp_path, fake) as live:
        with Prober(f"{live.base}/healthz") as prober:
            time.sleep(0.5)
            for name, attack in ATTACKS:
                try:
                    answers[name] = attack(live).status_code
                except httpx.TransportError:  # refused mid-upload: the server hung up
                    answers[name] = CLOSED
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while not settled(live.database) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # and after, once the work they started is done
        assert settled(live.database)
        assert live.client.get("/healthz").status_code == 200
        assert live.exceptions() == []

    assert prober.failures == []
    assert len(prober.timings) >= 10
    late = [round(t * 1000) for t in prober.timings if t > WITHIN]
    assert late == [], f"/healthz answers over {WITHIN * 1000:.0f} ms: {late} (ms)"
    errors = {
        name: status
        for name, status in answers.items()
        if status >= 500 or (status == CLOSED and name not in MAY_CLOSE)
    }
    assert errors == {}, answers
    # what was refused was refused, what was a text was taken
    assert answers["64 KiB of words"] == 200
    assert answers["shifted replay"] == 400
    assert answers["unsigned"] == 403
    assert answers["over 64 KiB"] in (413, CLOSED)
    assert answers["Arabic-Indic From"] == 400
