"""A fake OpenAI-compatible chat completions server on loopback, speaking the real protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


def structured(
    reply: str = "Yes, we are open 9 to 5.",
    intent: str = "hours",
    confidence: float = 0.9,
    facts: list[dict[str, str]] | None = None,
    **understanding: Any,
) -> str:
    """A model's answer in the structured form the drafter asks for, as JSON text."""
    return json.dumps(
        {
            "reply": reply,
            "intent": intent,
            "confidence": confidence,
            "understanding": {
                "appointment_intent": "none",
                "appointment_at": None,
                "soft_no": False,
                "confused": False,
                "opt_out_request": False,
                **understanding,
            },
            "facts": facts or [],
        }
    )


@dataclass
class FakeOpenAI:
    """Answers POST /v1/chat/completions with `content`; records each request's JSON.

    `mode`: "ok" answers `content`; "slow" holds the answer until `release` is set;
    "garbage" answers a body that is not JSON; "error" answers 500; "error-in-200" answers
    200 with an error object, as some servers and proxies do.
    `answers`, when given, are the contents of successive answers (the last repeats).
    `reject_json_schema` answers 400, as servers without structured outputs do, to a
    request whose `response_format` is a JSON schema; `bad_request` answers 400 to all.
    """

    mode: str = "ok"
    content: str = field(default_factory=structured)
    answers: list[str] = field(default_factory=list)
    reject_json_schema: bool = False
    # while set, every request is answered 400 with this error (a prompt over the context)
    bad_request: dict[str, Any] | None = None
    model: str = "fake-model"
    requests: list[dict[str, Any]] = field(default_factory=list)
    # each request's target as sent: a path, or a whole URL when it came as to a proxy
    targets: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""

    def completion(self) -> dict[str, Any]:
        if self.answers:
            # the request being answered is already recorded
            content = self.answers[min(len(self.requests), len(self.answers)) - 1]
        else:
            content = self.content
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }


@contextmanager
def fake_openai(given: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    fake = given or FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            request = json.loads(self.rfile.read(length))
            fake.requests.append(request)
            fake.targets.append(self.path)
            asked = (request.get("response_format") or {}).get("type")
            # it answers as a forward proxy too, for a request naming the whole URL
            if urlsplit(self.path).path != "/v1/chat/completions":
                self._answer(404, b'{"error": {"message": "not found"}}')
            elif fake.bad_request is not None:
                self._answer(400, json.dumps({"error": fake.bad_request}).encode())
            elif fake.reject_json_schema and asked == "json_schema":
                error = {
                    "message": "response_format type json_schema is not supported",
                    "type": "invalid_request_error",
                    "param": "response_format",
                }
                self._answer(400, json.dumps({"error": error}).encode())
            elif fake.mode == "slow":
                fake.release.wait(30)
                self._answer(200, json.dumps(fake.completion()).encode())
            elif fake.mode == "garbage":
                self._answer(200, b"<html>not json</html>")
            elif fake.mode == "error-in-200":
                error = {"message": "model overloaded", "type": "server_error", "code": "503"}
                self._answer(200, json.dumps({"error": error}).encode())
            elif fake.mode == "error":
                self._answer(500, b'{"error": {"message": "model crashed"}}')
            else:
                self._answer(200, json.dumps(fake.completion()).encode())

        def _answer(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: that is what a timeout test wants

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
