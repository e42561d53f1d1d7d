"""Two `approval-bot serve` processes on one PostgreSQL database: still never twice (issue 18).

Two instances on different loopback ports share a fresh PostgreSQL database, one SECRET_KEY
and the same Twilio settings, pointed at one fake Twilio. Signed webhooks are spread across
both, a third of them delivered to both at once (Twilio posts a webhook again when it got no
answer in time); the drafts are approved through both instances' JSON API, with a token made
by `approval-bot token create`. While the fake holds some sends unanswered, the instance that
sent one of them is SIGKILLed and then restarted. At the end every approved reply was
accepted by the fake exactly once, every text is stored once, and `approval-bot audit
verify` passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests import fake_twilio
from tests.builders import BUSINESS
from tests.fake_twilio import FakeTwilio
from tests.live_server import (
    logged_exceptions,
    post_signed,
    start_serving,
    stop_serving,
    twilio_environ,
)
from tests.settings_env import environ_without_settings
from tests.test_serve import free_port, script
from tests.twilio_client import new_sid

pytestmark = pytest.mark.slow

SECRET = "two-instances-share-this-secret-key-0123456789"
ADMIN_PASSWORD = "correct horse battery staple"
SMS = "/webhooks/twilio/sms"
CUSTOMERS = [f"+1415555{3000 + i}" for i in range(12)]
PLAIN = CUSTOMERS[:4]  # approved, sent at once
HELD = CUSTOMERS[4:8]  # approved while the fake holds their sends: one instance dies then
RACED = CUSTOMERS[8:]  # approved through both instances at the same moment
WAIT = 60.0  # seconds for anything to settle


# -- the processes --------------------------------------------------------------------------


@dataclass
class Instance:
    """One `approval-bot serve` on its own port and working folder; restartable."""

    name: str
    environ: dict[str, str]
    port: int
    cwd: Path
    process: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.cwd / "serve.log"

    def start(self, **overrides: str) -> None:
        environ = {**self.environ, **overrides}
        # the machine may be busy: importing the app alone can take seconds
        self.process = start_serving(environ, self.port, self.cwd, self.log, timeout=WAIT)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    """Where the test puts its servers; each one still running is stopped afterwards."""
    started: list[Instance] = []
    try:
        yield started
    finally:
        for instance in started:
            if instance.process is not None:
                stop_serving(instance.process, timeout=15)


def cli(environ: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(script()), *args], env=environ, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"approval-bot {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def senders_of(pids: list[int], ports: set[int]) -> dict[int, int]:
    """Which of `pids` has an open TCP socket on each local port of `ports`: {port: pid}.

    The fake Twilio sees a request's client address; the kernel's socket table
    (/proc/net/tcp) names each socket's local port and inode, and /proc/PID/fd links each
    process's sockets to their inodes.
    """
    by_inode: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if port in ports:
                    by_inode[fields[9]] = port
    found: dict[int, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:[") and target[8:-1] in by_inode:
                found[by_inode[target[8:-1]]] = pid
    return found


# -- the database, read directly -----------------------------------------------------------


def rows(url: str, query: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def replies(url: str) -> dict[str, dict[str, Any]]:
    """Each customer's reply (the draft answering their text), by customer."""
    found = rows(
        url,
        "SELECT id, receiver, status, provider_sid, claimed_at, body FROM messages"
        " WHERE type = 'DRAFT' AND status <> 'SUPERSEDED'",
    )
    by_customer: dict[str, dict[str, Any]] = {}
    for row in found:
        assert row["receiver"] not in by_customer, f"two live drafts to {row['receiver']}"
        by_customer[row["receiver"]] = row
    return by_customer


def until(what: str, done: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def sent(url: str, customers: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        now = replies(url)
        return all(c in now and now[c]["status"] == "SENT" for c in customers)

    return check


# -- the test --------------------------------------------------------------------------------


def text(customer: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "Body": body,
        "From": customer,
        "MessageSid": new_sid(),
        "NumMedia": "0",
        "To": BUSINESS,
    }


@dataclass
class Door:
    """One instance as a client sees it: its address, the API token, Twilio's auth token."""

    client: httpx.Client
    token: str
    auth_token: str

    def text(self, params: dict[str, str]) -> int:
        return post_signed(self.client, self.auth_token, SMS, params).status_code


def approve(door: Door, draft_id: str) -> int:
    answer = door.client.post(
        f"/api/v1/drafts/{draft_id}/approve", headers={"Authorization": f"Bearer {door.token}"}
    )
    assert answer.status_code in (200, 409), answer.text
    return answer.status_code


def test_two_instances_on_one_postgres_send_each_approved_reply_once(
    tmp_path: Path, empty_pg_url: str, instances: list[Instance]
) -> None:
    url = empty_pg_url
    with FakeTwilio() as fake:
        environ = {
            **environ_without_settings(),
            **twilio_environ(fake),
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DRAFTER": "builtin",
            "LOG_FORMAT": "text",
            # long enough that no claim expires while the fake holds a send
            "SEND_TIMEOUT_SECONDS": "30",
            "SEND_LEASE_SECONDS": "61",
        }
        # the database is made by the CLI: an admin, the sending gate open, an API token
        (tmp_path / "cli").mkdir()
        cli(environ, tmp_path / "cli", "init-db")
        cli(environ, tmp_path / "cli", "sending", "approve", "--reason", "the fake Twilio")
        out = cli(environ, tmp_path / "cli", "token", "create", "two-instance", "--reviewer",
                  "admin")  # fmt: skip
        token = out.strip().splitlines()[-1].strip()

        for name in ("a", "b"):
            (tmp_path / name).mkdir()  # its own folder: nothing shared but the database
            instances.append(Instance(name, environ, free_port(), tmp_path / name))
        with ThreadPoolExecutor(2) as pool:  # both start (and check the schema) together
            list(pool.map(lambda instance: instance.start(), instances))
        clients = [
            httpx.Client(base_url=f"http://127.0.0.1:{i.port}", timeout=60.0) for i in instances
        ]
        try:
            run_the_day(url, fake, instances, [Door(c, token, fake.auth_token) for c in clients])
        finally:
            for client in clients:
                client.close()

        for instance in instances:
            assert instance.process is not None
            stop_serving(instance.process)
        verify = subprocess.run(
            [str(script()), "audit", "verify"],
            env=environ,
            cwd=tmp_path / "cli",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        for instance in instances:
            assert logged_exceptions(instance.log) == [], instance.log.read_text()[-3000:]


def run_the_day(url: str, fake: FakeTwilio, instances: list[Instance], doors: list[Door]) -> None:
    # 1. every customer texts once: to one instance or the other, a third to both at once
    texts = {customer: text(customer, "Are you open on Saturday?") for customer in CUSTOMERS}
    deliveries = []
    for i, customer in enumerate(CUSTOMERS):
        deliveries.append((doors[i % 2], texts[customer]))
        if i % 3 == 0:
            deliveries.append((doors[(i + 1) % 2], texts[customer]))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda d: d[0].text(d[1]), deliveries))
    assert all(200 <= status < 300 for status in answers), answers

    until("a draft for every customer", lambda: set(replies(url)) == set(CUSTOMERS))
    drafts = {customer: row["id"] for customer, row in replies(url).items()}

    # 2. plain approvals, through one instance or the other
    for i, customer in enumerate(PLAIN):
        assert approve(doors[i % 2], drafts[customer]) == 200
    until("the plain replies sent", sent(url, PLAIN))

    # 3. the fake takes these sends and holds its answers; kill an instance that sent one
    for customer in HELD:
        fake.script(customer, fake_twilio.HELD)
    for i, customer in enumerate(HELD):
        assert approve(doors[i % 2], drafts[customer]) == 200
    until("every held send taken", lambda: all(fake.creates(c) for c in HELD))
    ports = {}
    for customer in HELD:
        (request,) = fake.creates(customer)
        assert request.client is not None
        ports[request.client[1]] = customer
    holders = senders_of([i.pid for i in instances], set(ports))
    assert set(holders) == set(ports), "each held send comes from one of the two instances"
    victim = next(i for i in instances if i.pid in holders.values())
    killed = [customer for port, customer in ports.items() if holders[port] == victim.pid]
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    assert victim.process.returncode == -signal.SIGKILL
    victim.process = None

    # the scene the kill left: taken by Twilio, claimed, not recorded
    left = replies(url)
    for customer in killed:
        assert (left[customer]["status"], left[customer]["provider_sid"]) == (
            "APPROVED_TO_SEND",
            None,
        ), customer
        assert left[customer]["claimed_at"] is not None, customer
    fake.release()  # the survivor's held sends are answered; the dead one's go nowhere
    until("the survivor's held sends recorded", sent(url, [c for c in HELD if c not in killed]))
    # the victim again, on its port: its expired claims are reconciled with Twilio, not resent
    victim.start(SEND_TIMEOUT_SECONDS="1", SEND_LEASE_SECONDS="3")
    until("the killed instance's sends recorded after its restart", sent(url, HELD))

    # 4. the same approval through both instances at once: one decision, one send
    for customer in RACED:
        barrier = threading.Barrier(2)

        def both(door: Door, draft_id: str = drafts[customer], at: Any = barrier) -> int:
            at.wait()
            return approve(door, draft_id)

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(both, doors))
        assert 200 in statuses, (customer, statuses)
    until("the raced replies sent", sent(url, RACED))

    # every approved reply accepted by the fake exactly once, with the sid recorded
    final = replies(url)
    for customer in CUSTOMERS:
        accepted = fake.accepted_to(customer)
        assert len(accepted) == 1, f"{customer} was accepted {len(accepted)} times"
        assert final[customer]["provider_sid"] == accepted[0]["sid"], customer
        assert accepted[0]["body"] == final[customer]["body"], customer
    # every text stored once, with its MessageSid, whichever instance (or both) it reached
    stored = rows(url, "SELECT sender, provider_sid FROM messages WHERE type = 'INBOUND'")
    assert sorted((r["sender"], r["provider_sid"]) for r in stored) == sorted(
        (customer, params["MessageSid"]) for customer, params in texts.items()
    )
    # each approval recorded once, the raced one too
    approved = rows(url, "SELECT draft_id FROM approvals")
    assert sorted(r["draft_id"] for r in approved) == sorted(drafts.values())
