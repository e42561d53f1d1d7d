"""A deadline for receiving each request whole, which uvicorn does not have.

uvicorn's only timeout is keep-alive, the idle time between requests, and every byte that
arrives resets it; a new connection that sends nothing has no timer at all. So a client
that opens connections and trickles a header line, or a body, a byte at a time, holds a
file descriptor and a slot for as long as it likes, and enough of them starve everyone
else. An ASGI middleware cannot help with headers: the app is called only once they are
all in. This protocol closes a connection whose request (its headers and its body) has
not fully arrived within `RECEIVE_SECONDS` of the connection opening, or of the answer to
the previous request on it. Only the receiving is timed: a slow answer (a long page, a
download) is never cut.
"""

import asyncio
import logging

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger(__name__)


def protocol_with_deadline(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection that takes over `seconds` to send a
    request whole."""

    class RequestDeadline(H11Protocol):
        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, object],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
                self._disarm()  # the request is all in (or the connection is over)

        def on_response_complete(self) -> None:
            # the next request's time starts now; a pipelined one already here disarms it
            # again at once, in the handle_events the call below makes
            if not self.transport.is_closing():
                self._arm()
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.warning(
                "closed the connection from %s: its request had not arrived whole after %g s",
                client,
                seconds,
            )
            self.transport.close()

    return RequestDeadline
