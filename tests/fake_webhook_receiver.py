"""A webhook consumer on loopback: verifies Standard Webhooks signatures with the
`standardwebhooks` library, and can answer 500, time out, drop the connection, hold a
request until released, or answer 200 with a body that comes slowly (a byte-trickle) or is
huge, recording how much of it was taken before the sender hung up.

Each POST is recorded with its headers, body, whether its signature verified with the
receiver's secret, and when it arrived. Run as a module it serves until stdin closes,
printing its URL; GET /_received answers what it recorded (for the benchmark).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

OK, FAIL, TIMEOUT, DROP, HOLD = "ok", "500", "timeout", "drop", "hold"
TRICKLE, FLOOD = "trickle", "flood"  # 200, then a body that is slow or huge
FLOOD_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    verified: bool
    answered: str  # what the receiver did: ok, 500, timeout, drop, trickle, flood
    at: float  # time.time() on arrival
    body_sent: int = 0  # bytes of a trickled or flooded answer's body written
    hung_up: bool = False  # the sender closed the connection before the body's end

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class FakeReceiver:
    """Serves on 127.0.0.1; `secret` is what it verifies with (set it after subscribing)."""

    secret: str | None = None
    latency: float = 0.0
    hang_seconds: float = 30.0
    received: list[Received] = field(default_factory=list)
    _script: dict[str | None, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let held requests go (answered 200, to whoever still listens)."""
        self._released.set()

    def script(self, *answers: str, thread: str | None = None) -> None:
        """The next requests' answers (of events of `thread`, or any), in order; afterwards
        each is answered 200."""
        with self._lock:
            self._script.setdefault(thread, deque()).extend(answers)

    def _next(self, thread: str | None) -> str:
        with self._lock:
            for key in (thread, None):
                queue = self._script.get(key)
                if queue:
                    return queue.popleft()
            return OK

    def verify(self, headers: dict[str, str], body: str, secret: str | None = None) -> bool:
        key = secret or self.secret
        if key is None:
            return False
        try:
            Webhook(key).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def accepted(self) -> list[Received]:
        """Requests answered 2xx with a valid signature."""
        with self._lock:
            return [r for r in self.received if r.answered == OK and r.verified]

    def wait_accepted(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.accepted())} accepted of {count}")
            time.sleep(0.02)
        return self.accepted()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def __enter__(self) -> FakeReceiver:
        receiver = self

        class Handler(_Handler):
            fake = receiver

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeReceiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        with self.fake._lock:
            rows = [
                {"id": r.id, "verified": r.verified, "answered": r.answered, "at": r.at,
                 "event": r.event}
                for r in self.fake.received
            ]  # fmt: skip
        self._reply(200, json.dumps({"received": rows}).encode())

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            thread = json.loads(body).get("thread_id")
        except ValueError:
            thread = None
        answer = self.fake._next(thread)
        record = Received(headers, body, self.fake.verify(headers, body), answer, time.time())
        with self.fake._lock:
            self.fake.received.append(record)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        if answer == HOLD:
            self.fake._released.wait()
        if answer == DROP:
            self.close_connection = True
            return
        if answer == TIMEOUT:
            time.sleep(self.fake.hang_seconds)
            self.close_connection = True
            return
        if answer in (TRICKLE, FLOOD):
            self._stream(record, trickle=answer == TRICKLE)
            return
        try:
            self._reply(500 if answer == FAIL else 200, b"{}")
        except OSError:  # a held request's sender died meanwhile: nobody reads the answer
            self.close_connection = True

    def _stream(self, record: Received, *, trickle: bool) -> None:
        """200 with a FLOOD_BYTES body: written at once, or a byte every 10 ms for
        hang_seconds; stops when the sender hangs up."""
        chunks = int(self.fake.hang_seconds / 0.01) if trickle else FLOOD_BYTES // _CHUNK
        chunk = b" " if trickle else b" " * _CHUNK
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(FLOOD_BYTES))
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"{")
            for _ in range(chunks):
                self.wfile.write(chunk)
                self.wfile.flush()
                record.body_sent += len(chunk)
                if trickle:
                    time.sleep(0.01)
        except OSError:
            record.hung_up = True


def main() -> None:
    """Serve until stdin closes; the first line of stdin is the secret to verify with."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="a webhook receiver on loopback")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    with FakeReceiver(latency=args.latency) as fake:
        print(fake.url, flush=True)
        fake.secret = sys.stdin.readline().strip() or None
        sys.stdin.read()


if __name__ == "__main__":
    main()
