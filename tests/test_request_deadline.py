"""Slow clients: `approval-bot serve` closes a connection whose request does not arrive
whole within REQUEST_RECEIVE_SECONDS, and keeps answering everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .live_server import start_serving, stop_serving
from .settings_env import environ_without_settings
from .test_serve import free_port

pytestmark = pytest.mark.slow

DEADLINE = 2.0  # seconds, the setting the server runs with here
CLOSED_WITHIN = 20.0  # how long a test waits for the server to close: generous, not a speed check


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("deadline")
    port = free_port()
    environ = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(tmp / "approval_bot.sqlite3"),
        "REQUEST_RECEIVE_SECONDS": str(DEADLINE),
    }
    log = tmp / "serve.log"
    process = start_serving(environ, port, tmp, log)
    try:
        yield port, log
    finally:
        stop_serving(process)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(CLOSED_WITHIN)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0).status_code == 200


def test_a_connection_that_sends_nothing_is_closed(server: tuple[int, Path]) -> None:
    port, _ = server
    with connect(port) as idle:
        assert read_all(idle) == b""  # closed, with no answer: there was no request
    assert healthy(port)


def test_headers_trickled_a_byte_at_a_time_are_cut_off(server: tuple[int, Path]) -> None:
    port, _ = server
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 1000
    with connect(port) as slow:
        started = time.monotonic()
        try:
            for byte in request:
                slow.sendall(bytes([byte]))
                assert healthy(port)  # everyone else is still served meanwhile
                time.sleep(0.05)
                if time.monotonic() - started > CLOSED_WITHIN:
                    pytest.fail("the server still took bytes of an unfinished request")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still writing: the deadline did its job
        slow.settimeout(CLOSED_WITHIN)
        try:
            assert read_all(slow) == b""
        except ConnectionResetError:
            pass
    assert healthy(port)


def test_a_body_that_stops_arriving_is_cut_off_and_logs_no_error(
    server: tuple[int, Path],
) -> None:
    port, log = server
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    with connect(port) as slow:
        slow.sendall(head + b"name=ana&")  # 9 of the 100 bytes promised, then nothing
        assert read_all(slow) == b""
    assert healthy(port)
    text = log.read_text()
    assert "its request had not arrived whole" in text
    assert "Traceback" not in text


def test_a_slow_request_within_the_deadline_is_answered(server: tuple[int, Path]) -> None:
    port, _ = server
    parts = [b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n", b"\r\n"]
    with connect(port) as sock:
        for part in parts:  # a quarter of the deadline in all
            sock.sendall(part)
            time.sleep(DEADLINE / 4 / len(parts))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_each_request_on_a_kept_alive_connection_gets_its_own_time(
    server: tuple[int, Path],
) -> None:
    port, _ = server
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        # requests spread over more than the deadline, on one connection (the keep-alive
        # timeout, 5 s, is longer than each pause)
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(DEADLINE * 0.6)
    # on one socket, each request sent over 0.6 of the deadline: the second is whole 1.2
    # deadlines after the connection opened, but 0.6 after the first answer
    second = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    with connect(port) as sock:
        for whole in (request, second):
            lines = [line + b"\r\n" for line in whole.split(b"\r\n")[:-1]]
            for line in lines:
                time.sleep(DEADLINE * 0.6 / len(lines))
                sock.sendall(line)
        answers = read_all(sock)
    assert answers.count(b"HTTP/1.1 200 ") == 2


def test_a_request_trickled_after_an_answer_on_a_kept_alive_connection_is_cut_off(
    server: tuple[int, Path],
) -> None:
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:  # the first answer's head: it was answered
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # then never the blank line
        # the rest of the first answer, then the close (a socket timeout: never closed)
        read_all(sock)
    assert healthy(port)
