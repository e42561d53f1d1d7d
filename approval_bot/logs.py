"""Structured logs: one line per request and per state change, as text or JSON lines."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# attributes every LogRecord has; anything else on a record came in through `extra`
# (uvicorn adds `color_message`, the same text with terminal colours: never wanted here)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

request_log = logging.getLogger("approval_bot.request")


class TextFormatter(logging.Formatter):
    """`time level logger message key=value …`, with the extras in the order given."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        return line + "".join(f" {key}={value}" for key, value in extras.items())


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Send the app's logs to stderr, one line each: `text` or `json` (JSON lines)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                reserved_attrs=[*_STANDARD],
            )
        )
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler tells of every run of every job at INFO: the sender alone runs every
    # few seconds. Its warnings and errors still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # httpx tells of every request at INFO: one line per webhook delivered. Failed
    # deliveries are logged by event_delivery, and shown on the Webhooks page.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # the twilio library tells of every API call at INFO, in a dozen lines (its URL, query,
    # headers and the answer's headers): one such block per text sent. The sender logs each
    # send and its outcome itself; the library's errors still show.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


# HTTP requests this process is serving now (all on its one event loop): the webhook
# delivery job reads it to yield to a burst
_in_flight = 0


def requests_in_flight() -> int:
    """How many HTTP requests this process is serving at this moment."""
    return _in_flight


class RequestLog:
    """ASGI middleware: one line per HTTP request with method, path, status and duration;
    counts the requests in flight."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        global _in_flight
        _in_flight += 1
        try:
            await self.app(scope, receive, record_status)
        finally:
            _in_flight -= 1
            request_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
