"""A fake Twilio REST API on loopback, so the official `twilio` client runs for real in tests.

It speaks the 2010-04-01 Messages API as the client uses it: create
(`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) and list (`GET …/Messages.json`
with `To` and `DateSent>`, newest first, in pages of `PageSize` linked by
`next_page_uri` and a `PageToken`), with HTTP Basic auth and Twilio's JSON error shape.
Messages can be sent at once, stay queued (no DateSent), or be sent one at a time at a
rate, as a long code sends 1 message per second. Answers can
be scripted per recipient: a Twilio error (21610, 21211, 429, 500…), a slow answer, or an
answer held until the test releases it. It records every request it saw and every message
it accepted.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
API_VERSION = "2010-04-01"
MAX_PAGE_SIZE = 1000  # Twilio's own maximum PageSize
ACCEPTED_PATH = "/_fake/accepted"  # not Twilio's: what the fake accepted, for benchmarks


@dataclass(frozen=True)
class Reply:
    """How the fake answers one create request to a number."""

    status: int = 201
    code: int | None = None
    message: str = ""
    delay: float = 0.0  # seconds to wait before answering (after accepting, on a 201)
    hold: bool = False  # accept, then answer only when the test calls release()
    accept: bool = True  # on a 201: whether the message is taken (False: never answers)


def error(status: int, code: int, message: str = "") -> Reply:
    return Reply(status=status, code=code, message=message or f"error {code}")


OPTED_OUT = error(400, 21610, "Attempt to send to unsubscribed recipient")
INVALID_TO = error(400, 21211, "Invalid 'To' Phone Number")
TOO_MANY = error(429, 20429, "Too Many Requests")
SERVER_ERROR = error(500, 20500, "Internal Server Error")
# Twilio's own words for it (twilio.com/docs/api/errors/63016)
WINDOW_CLOSED = error(
    400,
    63016,
    "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template.",
)


def slow(seconds: float) -> Reply:
    """Accept the message, then answer after `seconds` (past the client's timeout)."""
    return Reply(delay=seconds)


HELD = Reply(hold=True)


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    at: float = field(default_factory=time.monotonic)
    # the client's (host, port): which process sent it, when several share one fake
    client: tuple[str, int] | None = None


class FakeTwilio:
    """The fake API; use as a context manager, or start()/close()."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        sends_at_once: bool = True,
        sends_per_second: float | None = None,
    ) -> None:
        # False: accepted messages stay queued, without a DateSent, as Twilio's do at first
        self.sends_at_once = sends_at_once
        # a rate: accepted messages queue and are sent one after another at that rate
        self.sends_per_second = sends_per_second
        self._next_send: datetime | None = None
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.latency = latency
        self.accepted: list[dict[str, Any]] = []
        self.requests: list[Seen] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._failing_lists = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._accepted_event = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control from the test -------------------------------------------------------------

    def script(self, to: str, *replies: Reply) -> None:
        """Answer the next creates to `to` with `replies`, in order; then accept as usual."""
        with self._lock:
            self._scripts[to].extend(replies)

    def fail_lists(self, times: int) -> None:
        """Answer the next `times` list requests with a 503."""
        with self._lock:
            self._failing_lists = times

    def release(self) -> None:
        """Answer every held request (and any held later)."""
        self._released.set()

    def accepted_to(self, to: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.accepted if m["to"] == to]

    def creates(self, to: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "POST" and (to is None or r.params.get("To") == [to])
            ]

    def lists(self) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.method == "GET"]

    def wait_accepted(self, count: int, timeout: float = 20.0) -> None:
        """Block until at least `count` messages were accepted."""
        with self._accepted_event:
            if not self._accepted_event.wait_for(lambda: len(self.accepted) >= count, timeout):
                raise TimeoutError(f"the fake accepted {len(self.accepted)}, not {count}")

    # -- the server ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ---------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _next_reply(self, to: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(to)
            return queue.popleft() if queue else Reply()

    def create(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any], Reply]:
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[0] if values else None

        to, sender, service = one("To"), one("From"), one("MessagingServiceSid")
        body, media = one("Body"), params.get("MediaUrl", [])
        content_sid = one("ContentSid")
        if not to:
            return (*_error(400, 21604, "A 'To' phone number is required."), Reply())
        if not sender and not service:
            return (*_error(400, 21603, "A 'From' phone number is required."), Reply())
        if not body and not media and not content_sid:
            return (*_error(400, 21602, "Message body is required."), Reply())
        reply = self._next_reply(to)
        if reply.status != 201:
            return (*_error(reply.status, reply.code, reply.message), reply)
        if not to.removeprefix("whatsapp:").startswith("+"):
            return (
                *_error(400, 21211, f"The 'To' number {to} is not a valid phone number."),
                reply,
            )
        if not reply.accept:
            return (0, {}, reply)
        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        sent_at = self._schedule(now)
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": format_datetime(now, usegmt=True),
            "date_sent": format_datetime(now, usegmt=True) if sent_at == now else None,
            "date_updated": format_datetime(now, usegmt=True),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "_sent_at": sent_at,
            "_created_at": now,
            "_accepted_at": time.monotonic(),
        }
        with self._accepted_event:
            self.accepted.append(resource)
            self._accepted_event.notify_all()
        return 201, _public(resource), reply

    def _schedule(self, now: datetime) -> datetime | None:
        """When a message accepted `now` is sent: at once, at the rate's next slot, or never."""
        if self.sends_per_second is None:
            return now if self.sends_at_once else None
        with self._lock:
            slot = max(now, self._next_send or now)
            self._next_send = slot + timedelta(seconds=1 / self.sends_per_second)
            return slot

    def list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._failing_lists > 0:
                self._failing_lists -= 1
                return _error(503, 20503, "Service Unavailable")
            messages = list(self.accepted)
        to = query.get("To", [None])[0]
        since_text = query.get("DateSent>", [None])[0]
        since = (
            datetime.strptime(since_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if since_text
            else None
        )
        page_size = min(int(query.get("PageSize", ["50"])[0]), MAX_PAGE_SIZE)
        now = datetime.now(UTC)
        chosen = [
            (index, m)
            for index, m in enumerate(messages)
            if (to is None or m["to"] == to)
            and (since is None or (_sent(m, now) and m["_sent_at"] >= since))
        ]

        def newest(item: tuple[int, dict[str, Any]]) -> tuple[bool, datetime, int]:
            index, m = item
            sent = _sent(m, now)
            return (not sent, m["_sent_at"] if sent else m["_created_at"], index)

        # newest first: queued messages (no DateSent yet) newest created first, then the
        # sent ones by DateSent
        matching = [_as_of(m, now) for _, m in sorted(chosen, key=newest, reverse=True)]
        token = query.get("PageToken", [""])[0]
        start = 0
        if token:  # the page after the message the token names
            after = token.removeprefix("PA")
            start = next((i + 1 for i, m in enumerate(matching) if m["sid"] == after), 0)
        found = matching[start : start + page_size]
        page = int(query.get("Page", ["0"])[0])
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        filters = f"To={quote(to)}&" if to else ""
        uri = f"{base}?{filters}PageSize={page_size}"
        more = start + page_size < len(matching)
        next_uri = f"{uri}&Page={page + 1}&PageToken=PA{found[-1]['sid']}" if more else None
        return 200, {
            "messages": found,
            "end": start + max(len(found) - 1, 0),
            "first_page_uri": uri + "&Page=0",
            "next_page_uri": next_uri,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": start,
            "uri": f"{uri}&Page={page}" + (f"&PageToken={token}" if token else ""),
        }


def _sent(resource: dict[str, Any], now: datetime) -> bool:
    sent_at = resource["_sent_at"]
    return sent_at is not None and sent_at <= now


def _as_of(resource: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The message as Twilio shows it at `now`: queued until its send time, then sent."""
    shown = _public(resource)
    if _sent(resource, now):
        shown["date_sent"] = format_datetime(resource["_sent_at"], usegmt=True)
        if shown["status"] in ("queued", "accepted"):
            shown["status"] = "sent"
    return shown


def _debug(resource: dict[str, Any]) -> dict[str, Any]:
    return {**_public(resource), "accepted_at": resource["_accepted_at"]}


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def _error(status: int, code: int | None, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every answer
    disable_nagle_algorithm = True
    fake: FakeTwilio

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: the test records what it needs

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (its timeout)

    def _route(self) -> bool:
        path = urlsplit(self.path).path
        expected = f"/{API_VERSION}/Accounts/{self.fake.account_sid}/Messages.json"
        if not self.fake._authorized(self.headers.get("Authorization")):
            self._answer(*_error(401, 20003, "Authenticate"))
            return False
        if path != expected:
            self._answer(*_error(404, 20404, f"The requested resource {path} was not found"))
            return False
        return True

    def _record(self, params: dict[str, list[str]]) -> None:
        with self.fake._lock:
            self.fake.requests.append(
                Seen(
                    self.command,
                    urlsplit(self.path).path,
                    params,
                    client=(str(self.client_address[0]), int(self.client_address[1])),
                )
            )

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if urlsplit(self.path).path == ACCEPTED_PATH:  # for a fake run in another process
            with self.fake._lock:
                self._answer(200, {"accepted": [_debug(m) for m in self.fake.accepted]})
            return
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        self._record(query)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        if self._route():
            self._answer(*self.fake.list(query))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        params = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        self._record(params)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        if not self._route():
            return
        status, payload, reply = self.fake.create(params)
        if reply.hold:
            self.fake._released.wait()
        elif reply.delay:
            time.sleep(reply.delay)
        if status == 0:  # taken by the network, never answered
            self.close_connection = True
            return
        self._answer(status, payload)


def running(**kwargs: Any) -> Iterator[FakeTwilio]:
    """A started fake, closed afterwards: `yield from running()` in a fixture."""
    with FakeTwilio(**kwargs) as fake:
        yield fake


def main() -> None:
    """Serve a fake in this process until stdin closes; print its URL first."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="a fake Twilio API on loopback")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    with FakeTwilio(latency=args.latency) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
