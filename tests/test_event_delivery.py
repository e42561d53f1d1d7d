"""Delivering events to subscriptions: signed, retried with backoff, in order per
conversation, timeouts and dropped connections, secret rotation, refused URLs, retention."""

from __future__ import annotations

import asyncio
import ipaddress
import random as random_module
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_bot import event_delivery, events, webhooks
from approval_bot.store import Store, Tx
from tests.builders import make_inbound
from tests.fake_webhook_receiver import (
    DROP,
    FAIL,
    FLOOD,
    FLOOD_BYTES,
    HOLD,
    TIMEOUT,
    TRICKLE,
    FakeReceiver,
)

pytestmark = pytest.mark.anyio
A, B = "+14155550101", "+14155550102"
# the documented schedule: after attempt n, at most 12 minutes × 2ⁿ⁻¹
CEILINGS_MINUTES = [12, 24, 48, 96, 192, 384, 768]


class Clock:
    def __init__(self) -> None:
        # a moment after the events the test emitted before it
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver(hang_seconds=1.0) as fake:
        yield fake


@pytest.fixture
async def deliverer(db: Store, make_settings: Any) -> AsyncIterator[Any]:
    """Makes delivery jobs (not scheduled: each test runs passes itself), stopped after."""
    made: list[event_delivery.Deliverer] = []

    def make(clock: Clock, **env: str) -> event_delivery.Deliverer:
        # rand = 1: every wait is its ceiling, so the schedule can be read off the rows
        job = event_delivery.Deliverer(
            db, make_settings(**env), clock=clock, rand=lambda: 1.0, timeout=0.3
        )
        made.append(job)
        return job

    yield make
    for job in made:
        await job.stop()


def by_thread(receiver: FakeReceiver, thread: str) -> list[str]:
    return [r.id for r in receiver.received if r.event["thread_id"] == thread]


async def subscribe(db: Store, receiver: FakeReceiver, types: list[str] | None = None) -> int:
    subscription, secret = await webhooks.add(
        db, receiver.url, types or ["*"], by=None, check_address=False
    )
    receiver.secret = secret
    return subscription.id


async def emit(db: Store, thread: str, n: int = 1) -> list[str]:
    def write(conn: Tx) -> list[str]:
        return [
            events.emit(conn, "conversation.needs_attention", thread_id=thread,
                        data={"reason": f"r{i}", "previous_state": "ACTIVE"})
            for i in range(n)
        ]  # fmt: skip

    return await db.write(write)


async def deliveries(db: Store) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM webhook_deliveries ORDER BY id")


async def test_order_per_conversation_holds_while_an_earlier_event_is_retried(
    db: Store, deliverer, receiver: FakeReceiver
):
    await subscribe(db, receiver)
    a1, a2 = await emit(db, A, 2)
    (b1,) = await emit(db, B)
    receiver.script(FAIL, thread=A)  # A's first event gets a 500
    clock = Clock()
    job = deliverer(clock)
    await job.run()
    # B went on; A's second event waits behind its first
    assert by_thread(receiver, A) == [a1] and by_thread(receiver, B) == [b1]
    rows = {row["event_id"]: row for row in await deliveries(db)}
    assert rows[a1]["status"] == "pending" and rows[a1]["attempts"] == 1
    assert rows[a1]["last_status"] == 500
    assert rows[a2]["attempts"] == 0 and rows[b1]["status"] == "delivered"
    await job.run()  # nothing is due yet
    assert len(receiver.received) == 2
    clock.now += timedelta(minutes=12, seconds=1)
    await job.run()
    assert by_thread(receiver, A) == [a1, a1, a2] and by_thread(receiver, B) == [b1]
    assert {row["status"] for row in await deliveries(db)} == {"delivered"}
    assert all(r.verified for r in receiver.received)


def finished(work: list[event_delivery.Claimed], *statuses: int) -> list[Any]:
    """The attempts the job would have made of `work`, answered with `statuses`."""
    now = datetime.now(UTC)
    return [
        event_delivery.Attempt(w, event_delivery.Outcome(200 <= s < 300, s, None), now)
        for w, s in zip(work, statuses, strict=True)
    ]


async def test_one_pass_records_many_outcomes_and_claims_the_successors_of_the_delivered(
    db: Store, receiver: FakeReceiver
):
    await subscribe(db, receiver)
    a1, a2, a3 = await emit(db, A, 3)
    b1, b2 = await emit(db, B, 2)
    retry, now = event_delivery.policy(8), Clock()()
    first = await db.write(lambda conn: event_delivery.claim(conn, now, 10))
    # the earliest of each conversation only
    assert [w.event_id for w in first] == [a1, b1]
    # A's first was delivered, B's answered 500: one transaction records both and claims
    # A's second at once; B's second still waits behind its first
    results, claimed = await db.write(
        lambda conn: event_delivery.settle(
            conn, finished(first, 200, 500), now, 10, retry, lambda: 1.0
        )
    )
    assert results == ["delivered", "retry"]
    assert [w.event_id for w in claimed] == [a2]
    rows = {row["event_id"]: row for row in await deliveries(db)}
    assert rows[a1]["status"] == "delivered" and rows[b1]["attempts"] == 1
    assert rows[b1]["status"] == "pending" and rows[b2]["attempts"] == 0
    assert rows[a3]["claimed_at"] is None
    # an outcome recorded twice (a pass that lost its claim) changes nothing the second time
    again, _ = await db.write(
        lambda conn: event_delivery.settle(
            conn, finished(first[:1], 200), now, 0, retry, random_module.random
        )
    )
    assert again == ["lost"]


async def test_a_busy_pass_delivers_every_conversation_in_commit_order(
    db: Store, deliverer, receiver: FakeReceiver
):
    await subscribe(db, receiver)
    threads = [f"+1415555020{i}" for i in range(6)]
    committed = {thread: await emit(db, thread, 4) for thread in threads}
    receiver.script(FAIL, thread=threads[0])  # one retry in the middle of the others
    clock = Clock()
    job = deliverer(clock, WEBHOOK_CONCURRENCY="3")
    await job.run()
    clock.now += timedelta(minutes=12, seconds=1)
    await job.run()
    for thread in threads:
        assert list(dict.fromkeys(by_thread(receiver, thread))) == committed[thread]
    assert {row["status"] for row in await deliveries(db)} == {"delivered"}
    assert len(receiver.received) == 6 * 4 + 1


async def test_backoff_follows_the_schedule_then_the_delivery_fails(
    db: Store, deliverer, receiver: FakeReceiver
):
    await subscribe(db, receiver)
    (event,) = await emit(db, A)
    receiver.script(*[FAIL] * 8)
    clock = Clock()
    job = deliverer(clock)
    waits = []
    for _ in range(8):
        before = clock.now
        await job.run()
        (row,) = await deliveries(db)
        if row["status"] != "pending":
            break
        due = datetime.fromisoformat(row["next_attempt_at"])
        waits.append((due - before).total_seconds() / 60)
        clock.now = due
    assert [round(w) for w in waits] == CEILINGS_MINUTES
    assert sum(CEILINGS_MINUTES) / 60 == pytest.approx(25.4, abs=0.05)  # "about a day"
    assert row["status"] == "failed" and row["attempts"] == 8
    assert row["last_error"] == "answered 500"
    assert len(receiver.received) == 8


@pytest.mark.parametrize(
    ("answer", "error"),
    [(TIMEOUT, "no answer within 0.3 s"), (DROP, "RemoteProtocolError")],
)
async def test_a_timeout_or_a_dropped_connection_is_retried(
    db: Store, deliverer, receiver: FakeReceiver, answer: str, error: str
):
    await subscribe(db, receiver)
    await emit(db, A)
    receiver.script(answer)
    clock = Clock()
    job = deliverer(clock, WEBHOOK_MAX_ATTEMPTS="2")
    await job.run()
    (row,) = await deliveries(db)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert error in row["last_error"]
    clock.now += timedelta(minutes=13)
    await job.run()
    (row,) = await deliveries(db)
    assert row["status"] == "delivered" and row["attempts"] == 2


@pytest.mark.parametrize("answer", [TRICKLE, FLOOD])
async def test_a_2xx_with_a_slow_or_huge_body_is_delivered_without_reading_it_all(
    db: Store, deliverer, receiver: FakeReceiver, answer: str
):
    # the consumer answers 200 at once, then a 64 MiB body: a byte every 10 ms for 1 s
    # (TRICKLE, each byte well within the 0.3 s timeout), or as fast as it can (FLOOD)
    await subscribe(db, receiver)
    await emit(db, A)
    receiver.script(answer)
    job = deliverer(Clock())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await job.run()
    # the timeout bounds the whole exchange, not each read
    assert loop.time() - started < 0.9
    (row,) = await deliveries(db)
    assert row["status"] == "delivered" and row["last_status"] == 200
    (request,) = receiver.received
    deadline = loop.time() + 5
    while not request.hung_up:  # the bot hung up before the body's end
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    assert request.body_sent < FLOOD_BYTES // 4


@pytest.mark.both_backends
async def test_a_rotated_secret_signs_alongside_the_previous_one_for_24_hours(
    db: Store, deliverer, receiver: FakeReceiver
):
    subscription = await subscribe(db, receiver)
    old = receiver.secret
    clock = Clock()
    job = deliverer(clock)
    await emit(db, A)
    await job.run()
    new = await webhooks.rotate_secret(db, subscription, by=None)
    assert new.startswith("whsec_") and new != old
    await emit(db, A)
    await job.run()
    first, second = receiver.received
    assert receiver.verify(first.headers, first.body, old)
    assert len(first.headers["webhook-signature"].split(" ")) == 1
    # during the overlap the header carries two signatures, "v1,<new> v1,<old>": a receiver
    # still on the old secret and one already on the new both accept the delivery
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    assert receiver.verify(second.headers, second.body, old)
    assert receiver.verify(second.headers, second.body, new)
    # a day after the rotation only the new secret signs
    clock.now += timedelta(hours=24, seconds=1)
    await emit(db, A)
    await job.run()
    third = receiver.received[2]
    assert len(third.headers["webhook-signature"].split(" ")) == 1
    assert not receiver.verify(third.headers, third.body, old)
    assert receiver.verify(third.headers, third.body, new)


@pytest.mark.both_backends
async def test_a_second_rotation_drops_the_first_secret_at_once(
    db: Store, deliverer, receiver: FakeReceiver
):
    subscription = await subscribe(db, receiver)
    first_secret = receiver.secret
    second_secret = await webhooks.rotate_secret(db, subscription, by=None)
    third_secret = await webhooks.rotate_secret(db, subscription, by=None)
    await emit(db, A)
    await deliverer(Clock()).run()
    (request,) = receiver.received
    assert not receiver.verify(request.headers, request.body, first_secret)
    assert receiver.verify(request.headers, request.body, second_secret)
    assert receiver.verify(request.headers, request.body, third_secret)


async def test_only_the_types_asked_for_are_delivered(db: Store, deliverer, receiver: FakeReceiver):
    await subscribe(db, receiver, ["message.received"])
    await make_inbound(db, A)  # conversation.started, then message.received
    job = deliverer(Clock())
    await job.run()
    assert [r.event["type"] for r in receiver.received] == ["message.received"]


# (URL, why it is refused) — the checks a subscription's URL must pass
REFUSED_URLS = [
    ("ftp://example.com/hook", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("http://", "no host"),
    ("https://user:pw@example.com/hook", "user name or password"),
    ("http://example.com:99999/", "not a URL"),
]
# addresses a production subscription must not reach
REFUSED_ADDRESSES = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata address
    "0.0.0.0",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "224.0.0.1",
    # 6to4 (RFC 3056): 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD
    "2002:a9fe:a9fe::1",  # 169.254.169.254
    "2002:7f00:1::1",  # 127.0.0.1
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
async def test_refused_subscription_urls(db: Store, url: str, why: str):
    with pytest.raises(webhooks.BadSubscription, match=why):
        await webhooks.add(db, url, ["*"], by=None, check_address=False)
    assert await db.fetchall("SELECT * FROM webhook_subscriptions") == []


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
async def test_internal_addresses_are_refused_in_production(db: Store, address: str):
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    with pytest.raises(webhooks.BadSubscription, match="internal address"):
        await webhooks.add(db, f"https://{host}/hook", ["*"], by=None, check_address=True)
    assert await db.fetchall("SELECT * FROM webhook_subscriptions") == []


async def test_a_public_address_and_unknown_types(db: Store):
    added, secret = await webhooks.add(
        db, "https://93.184.216.34/hook", ["draft.decided"], by=None, check_address=True
    )
    assert added.events == ["draft.decided"] and secret.startswith("whsec_")
    with pytest.raises(webhooks.BadSubscription, match="unknown event type appointment.booked"):
        await webhooks.add(
            db, "https://93.184.216.34/", ["appointment.booked"], by=None, check_address=True
        )
    with pytest.raises(webhooks.BadSubscription, match="localhost"):
        await webhooks.add(db, "http://localhost:8080/", ["*"], by=None, check_address=True)


async def test_the_address_is_checked_again_at_delivery(
    db: Store, deliverer, receiver: FakeReceiver
):
    await subscribe(db, receiver)  # added in the sandbox, where loopback is allowed
    await emit(db, A)
    live = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_FROM_NUMBER": "+14155550199",
    }
    job = deliverer(Clock(), **live)
    await job.run()
    (row,) = await deliveries(db)
    assert receiver.received == []
    assert row["last_error"].startswith("refused: 127.0.0.1 resolves to an internal address")
    allowed = deliverer(Clock(), **live, WEBHOOK_ALLOW_PRIVATE="true")
    await db.write(lambda conn: conn.execute("UPDATE webhook_deliveries SET next_attempt_at = ''"))
    await allowed.run()
    assert len(receiver.accepted()) == 1


async def test_retention_keeps_failed_events_until_resent_or_removed(
    db: Store, deliverer, receiver: FakeReceiver
):
    subscription = await subscribe(db, receiver)
    refused, taken = await emit(db, A, 2)
    (other,) = await emit(db, B)
    receiver.script(FAIL, thread=A)  # A's first event; one attempt allowed
    job = deliverer(Clock(), WEBHOOK_MAX_ATTEMPTS="1")
    await job.run()
    statuses = {row["event_id"]: row["status"] for row in await deliveries(db)}
    assert statuses == {refused: "failed", taken: "delivered", other: "delivered"}
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()

    async def age_everything() -> None:
        await db.write(lambda conn: conn.execute("UPDATE event_outbox SET occurred_at = ?", (old,)))

    await age_everything()
    assert await event_delivery.prune_events(db, 30) == 2
    assert [row["id"] for row in await db.fetchall("SELECT id FROM event_outbox")] == [refused]
    (row,) = await deliveries(db)
    await webhooks.resend(db, row["id"], by=None)
    await job.run()
    assert [row["status"] for row in await deliveries(db)] == ["delivered"]
    assert await event_delivery.prune_events(db, 30) == 1
    assert await db.fetchall("SELECT id FROM event_outbox") == []

    await emit(db, A)
    await age_everything()
    receiver.script(FAIL)
    await job.run()
    assert await event_delivery.prune_events(db, 30) == 0  # failed: kept
    await webhooks.remove(db, subscription, by=None)
    assert await event_delivery.prune_events(db, 30) == 1


async def test_while_writes_wait_for_the_writer_a_pass_claims_one_delivery(
    db: Store, make_settings: Any, receiver: FakeReceiver
):
    await subscribe(db, receiver)
    # a held request must not time out while the test looks
    job = event_delivery.Deliverer(db, make_settings(), clock=Clock(), timeout=10)
    await job.run()  # its first pass frees old claims: done before the writer is made busy
    committed = [(await emit(db, f"+1415555030{i}"))[0] for i in range(3)]
    receiver.script(HOLD)  # the first request is held until released
    started, go = threading.Event(), threading.Event()

    def busy(conn: Tx) -> None:
        started.set()
        go.wait(5)

    blocker = asyncio.create_task(db.write(busy))
    await asyncio.to_thread(started.wait, 5)
    waiting = asyncio.create_task(db.write(lambda conn: None))
    await asyncio.sleep(0.05)  # a write waits behind the busy one: a burst, to the job
    running = asyncio.create_task(job.run())
    await asyncio.sleep(0.05)
    go.set()
    await blocker
    await waiting
    deadline = asyncio.get_running_loop().time() + 5
    while not receiver.received:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    # one claimed while the burst lasted; the others wait for it, not for the burst's end
    assert len(receiver.received) == 1
    receiver.release()
    await running
    await job.stop()
    assert {row["status"] for row in await deliveries(db)} == {"delivered"}
    assert [r.id for r in receiver.received][:1] == committed[:1]
    assert sorted(r.id for r in receiver.received) == sorted(committed)
