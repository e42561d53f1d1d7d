"""At least once, across a crash: `approval-bot serve` is killed with SIGKILL while the
consumer holds its requests; after a restart every event arrives, the held ones twice with
the same webhook-id, and none is lost."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from approval_bot import webhooks
from approval_bot.store import opened
from tests.builders import make_inbound
from tests.fake_webhook_receiver import HOLD, FakeReceiver
from tests.test_serve import free_port, serve, wait_for_health

pytestmark = pytest.mark.slow
CUSTOMERS = [f"+1415555013{i}" for i in range(5)]


async def seed(database: Path, url: str) -> str:
    """A subscription to every type, and two events for each customer; its secret."""
    async with opened(database) as db:
        _, secret = await webhooks.add(db, url, ["*"], by=None, check_address=False)
        for customer in CUSTOMERS:
            await make_inbound(db, customer)  # conversation.started, message.received
        return secret


def outbox(database: Path) -> list[tuple[str, str | None, str]]:
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            """
            SELECT event_outbox.id, event_outbox.thread_id, webhook_deliveries.status
            FROM event_outbox
            JOIN webhook_deliveries ON webhook_deliveries.event_id = event_outbox.id
            ORDER BY event_outbox.seq
            """
        ).fetchall()
    finally:
        conn.close()
    return [(r[0], r[1], r[2]) for r in rows]


def test_every_event_arrives_after_a_kill_mid_delivery(tmp_path: Path):
    database = tmp_path / "data" / "approval_bot.sqlite3"
    with FakeReceiver() as receiver:
        receiver.secret = asyncio.run(seed(database, receiver.url))
        receiver.script(*[HOLD] * len(CUSTOMERS))  # each conversation's first event is held
        port = free_port()
        first = serve(tmp_path, database, port)
        try:
            wait_for_health(first, f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 30
            while len(receiver.received) < len(CUSTOMERS):
                assert time.monotonic() < deadline, receiver.received
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
        assert first.returncode == -signal.SIGKILL
        held = {r.id for r in receiver.received}
        assert {status for _, _, status in outbox(database)} == {"pending"}
        receiver.release()

        second = serve(tmp_path, database, port)
        try:
            wait_for_health(second, f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 30
            while {s for _, _, s in outbox(database)} != {"delivered"}:
                assert time.monotonic() < deadline, outbox(database)
                time.sleep(0.1)
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=10)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
        assert "Traceback" not in err, err

    events = outbox(database)
    accepted = receiver.accepted()
    seen = Counter(r.id for r in receiver.received)
    # none lost: deduplicated by webhook-id, the consumer has exactly the outbox
    assert {r.id for r in accepted} == {event_id for event_id, _, _ in events}
    # two each, and the drafts the running app made for them (draft.created)
    assert len(events) >= 2 * len(CUSTOMERS)
    # the held ones were delivered again, with the same webhook-id
    assert all(seen[event_id] == 2 for event_id in held)
    assert all(r.verified for r in receiver.received)
    # and each conversation's events arrived in the order they were committed
    for customer in CUSTOMERS:
        committed = [event_id for event_id, thread, _ in events if thread == customer]
        arrived = list(dict.fromkeys(r.id for r in accepted if r.event["thread_id"] == customer))
        assert arrived == committed


def test_an_event_answered_but_not_yet_recorded_at_the_kill_is_delivered_again(tmp_path: Path):
    """The consumer answered 2xx, but the pass that records it had not committed: the
    answer is not remembered, so the event goes out again, with the same webhook-id."""
    database = tmp_path / "data" / "approval_bot.sqlite3"
    with FakeReceiver() as receiver:
        receiver.secret = asyncio.run(seed(database, receiver.url))
        receiver.script(*[HOLD] * len(CUSTOMERS))
        port = free_port()
        first = serve(tmp_path, database, port)
        lock = sqlite3.connect(database, isolation_level=None, timeout=30)
        try:
            wait_for_health(first, f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 30
            while len(receiver.received) < len(CUSTOMERS):
                assert time.monotonic() < deadline, receiver.received
                time.sleep(0.02)
            # the writer cannot record what comes back: another connection holds the lock
            lock.execute("BEGIN IMMEDIATE")
            receiver.release()  # now each held request is answered 200
            time.sleep(0.5)
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
            lock.execute("ROLLBACK")
        finally:
            lock.close()
            if first.poll() is None:
                first.kill()
                first.communicate()
        answered = {r.id for r in receiver.received}
        assert len(answered) == len(CUSTOMERS)
        assert {status for _, _, status in outbox(database)} == {"pending"}

        second = serve(tmp_path, database, port)
        try:
            wait_for_health(second, f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 30
            while {s for _, _, s in outbox(database)} != {"delivered"}:
                assert time.monotonic() < deadline, outbox(database)
                time.sleep(0.1)
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=10)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
        assert "Traceback" not in err, err

    events = outbox(database)
    seen = Counter(r.id for r in receiver.received)
    assert {r.id for r in receiver.accepted()} == {event_id for event_id, _, _ in events}
    assert all(seen[event_id] == 2 for event_id in answered)
    for customer in CUSTOMERS:
        committed = [event_id for event_id, thread, _ in events if thread == customer]
        arrived = list(
            dict.fromkeys(r.id for r in receiver.accepted() if r.event["thread_id"] == customer)
        )
        assert arrived == committed
