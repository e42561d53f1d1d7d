"""Ingest and send throughput on SQLite, on PostgreSQL with one instance and with two (issue 18).

One database per mode, each a copy of the same seeded history (seed.py's SQLite file; on
PostgreSQL through `approval-bot db copy`), served by `approval-bot serve` (one process, or
two on different ports for `postgres_2`), Twilio pointed at the one fake Twilio:

  ingest: wrk (webhooks_once.lua, closed loop) posts `texts` signed webhooks from new
    customers exactly once each, with the same number of connections in all (split between
    the instances); with two instances a tenth of the texts are posted to both, as Twilio
    posts a webhook again when it got no answer in time. The rate is the texts stored per
    second between the first and the last one stored. Duplicates: texts stored more than
    once (by MessageSid); lost: texts posted and never stored.
  send: with the sending gate stopped (`approval-bot sending stop`), `sends` of the drafts
    those texts got are approved through the JSON API (spread across the instances); the gate
    is started and the senders drain them against the fake Twilio (its latency per answer).
    The rate is the messages accepted by the fake per second between its first and its
    last acceptance. Duplicates: acceptances past the first to one customer; lost: approved
    replies the fake never accepted, or not recorded as SENT.

Used by scale.py (`--backends`); each mode's figures and the ratios go into its document.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import harness
import httpx
import psycopg
import seed
from harness import App, FakeTwilio, percentiles

MODES = {"sqlite": ("sqlite", 1), "postgres_1": ("postgres", 1), "postgres_2": ("postgres", 2)}
DUPLICATE_EVERY = 10  # with two instances: every tenth text is posted to both


# -- the databases ----------------------------------------------------------------------------


def database_url(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


@contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """`url` (a server where databases may be created), or a throwaway cluster while in use
    (scripts/pg-cluster, which installs nothing: PostgreSQL's binaries must be there)."""
    if url:
        yield url
        return
    started = subprocess.run(
        [str(harness.ROOT / "scripts" / "pg-cluster"), "start"], capture_output=True, text=True
    )
    if started.returncode != 0:
        raise SystemExit(f"no PostgreSQL server (pass --postgres URL): {started.stderr.strip()}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
    )
    try:
        yield exports["TEST_DATABASE_URL"]
    finally:
        subprocess.run(
            [str(harness.ROOT / "scripts" / "pg-cluster"), "stop", exports["PG_CLUSTER_DIR"]],
            capture_output=True,
        )


class Database:
    """Counting queries on one mode's database, SQLite or PostgreSQL."""

    def __init__(self, sqlite: Path, url: str | None) -> None:
        self.sqlite, self.url = sqlite, url

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        if self.url:
            with psycopg.connect(self.url) as conn:
                return conn.execute(query).fetchall()
        import sqlite3

        uri = f"file:{self.sqlite}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            return conn.execute(query).fetchall()

    def count(self, query: str) -> int:
        ((n,),) = self.rows(query)
        return int(n)


def prepare(
    mode: str, messages: int, workdir: Path, cache: str | None, server: str | None
) -> Database:
    """The mode's copy of the seeded history: the SQLite file, or a new PostgreSQL database."""
    sqlite = workdir / mode / "bench.sqlite3"
    seed.fresh_copy(messages, sqlite, Path(cache) if cache else None)
    if server is None:
        return Database(sqlite, None)
    name = f"approval_bot_bench_{mode}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    url = database_url(server, name)
    cli = Path(sys.executable).parent / "approval-bot"
    copied = subprocess.run(
        [str(cli), "db", "copy", "--from", f"sqlite:///{sqlite.resolve()}", "--to", url],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    if copied.returncode != 0:
        raise SystemExit(f"db copy failed: {copied.stderr.strip() or copied.stdout.strip()}")
    return Database(sqlite, url)


def drop(server: str, database: Database) -> None:
    if database.url:
        name = urlsplit(database.url).path.lstrip("/")
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- ingest ----------------------------------------------------------------------------------


def ingest(
    apps: list[App],
    database: Database,
    workdir: Path,
    texts: int,
    connections: int,
    settle: float,
    first_customer: int,
) -> tuple[dict[str, Any], list[str]]:
    """Post `texts` webhooks once each, spread over `apps`; the figures and the customers
    (new ones, from the `first_customer`-th on: each mode has its own)."""
    before = database.count("SELECT count(*) FROM messages WHERE type = 'INBOUND'")
    customers = [harness.new_customer(first_customer + i) for i in range(texts)]
    params = [harness.webhook_params(c, harness.TEXTS[i % 6]) for i, c in enumerate(customers)]
    shares: list[list[dict[str, str]]] = [[] for _ in apps]
    for i, text in enumerate(params):
        shares[i % len(apps)].append(text)
        if len(apps) > 1 and i % DUPLICATE_EVERY == 0:
            shares[(i + 1) % len(apps)].append(text)  # the same webhook, to the other one
    wrks = []
    for k, (app, share) in enumerate(zip(apps, shares, strict=True)):
        pool = workdir / f"pool-{k}.tsv"
        harness.write_signed(pool, app.url, app.auth_token, share)
        per_app = max(1, connections // len(apps))
        wrks.append(harness.start_wrk_once(app.url, pool, per_app))
    started = time.monotonic()
    stored, last_change = 0, started
    while time.monotonic() - last_change < settle:
        time.sleep(0.2)
        now = database.count("SELECT count(*) FROM messages WHERE type = 'INBOUND'") - before
        if now != stored:
            stored, last_change = now, time.monotonic()
        if stored >= texts or any(w.poll() is not None for w in wrks):
            break
    runs = [harness.stop_wrk(w) for w in wrks]
    sids = {text["MessageSid"] for text in params}
    found = Counter(
        sid
        for (sid,) in database.rows(
            "SELECT provider_sid FROM messages WHERE type = 'INBOUND' AND provider_sid LIKE 'SM%'"
        )
        if sid in sids
    )
    moments = sorted(
        datetime.fromisoformat(t)
        for (t, sid) in database.rows(
            "SELECT timestamp, provider_sid FROM messages WHERE type = 'INBOUND'"
        )
        if sid in sids
    )
    span = (moments[-1] - moments[0]).total_seconds() if len(moments) > 1 else 0.0
    return {
        "texts": texts,
        "posted": sum(len(share) for share in shares),
        "connections": connections,
        "stored": sum(found.values()),
        "seconds": round(span, 2),
        "per_s": round((len(moments) - 1) / span, 1) if span else None,
        "duplicates": sum(n - 1 for n in found.values() if n > 1),
        "lost": len(sids - set(found)),
        "errors": sum(
            r["non_2xx"] + r["connect_errors"] + r["read_errors"] + r["timeouts"] for r in runs
        ),
        "p99_ms": max(round(r["p99_us"] / 1000, 1) for r in runs),
    }, customers


# -- send ------------------------------------------------------------------------------------


def pending_drafts(database: Database, customers: list[str], settle: float) -> dict[str, str]:
    """Each of `customers`' pending draft, once every text is drafted: {customer: draft id}."""
    wanted = set(customers)
    deadline = time.monotonic() + settle
    while True:
        found = {
            receiver: draft_id
            for draft_id, receiver in database.rows(
                "SELECT id, receiver FROM messages"
                " WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
            )
            if receiver in wanted
        }
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def send(
    apps: list[App],
    token: str,
    fake: FakeTwilio,
    database: Database,
    drafts: dict[str, str],
    settle: float,
) -> dict[str, Any]:
    """Approve `drafts` with the gate stopped, start it, and time the senders' drain."""
    # the fake is shared by the modes: what it accepted before this one is not counted
    since = time.monotonic()
    apps[0].cli("sending", "stop", "--reason", "benchmark: approvals queue up first")
    clients = [
        httpx.Client(base_url=app.url, timeout=120, headers={"Authorization": f"Bearer {token}"})
        for app in apps
    ]
    try:
        for i, draft_id in enumerate(drafts.values()):
            answer = clients[i % len(clients)].post(f"/api/v1/drafts/{draft_id}/approve")
            if answer.status_code != 200:
                raise SystemExit(f"approve answered {answer.status_code}: {answer.text[:200]}")
    finally:
        for client in clients:
            client.close()
    ids = "', '".join(drafts.values())
    sent_query = f"SELECT count(*) FROM messages WHERE status = 'SENT' AND id IN ('{ids}')"
    apps[0].cli("sending", "start", "--reason", "benchmark: drain")
    started = time.monotonic()
    deadline = started + settle
    while database.count(sent_query) < len(drafts) and time.monotonic() < deadline:
        time.sleep(0.2)
    wall = time.monotonic() - started
    sent = database.count(sent_query)
    accepted = [m for m in fake.accepted() if m["to"] in drafts and m["accepted_at"] >= since]
    per_customer = Counter(m["to"] for m in accepted)
    moments = sorted(m["accepted_at"] for m in accepted)
    span = moments[-1] - moments[0] if len(moments) > 1 else 0.0
    gaps = [(b - a) * 1000 for a, b in zip(moments, moments[1:], strict=False)]
    return {
        "approved": len(drafts),
        "sent": sent,
        "per_s": round((len(moments) - 1) / span, 1) if span else None,
        "seconds": round(span, 2),
        "until_all_sent_s": round(wall, 2),
        "duplicates": sum(n - 1 for n in per_customer.values() if n > 1),
        "lost": sum(1 for c in drafts if per_customer[c] == 0) + (len(drafts) - sent),
        "gap_ms": percentiles(gaps, 50, 99),
    }


# -- the phase -------------------------------------------------------------------------------


def one_mode(
    mode: str,
    messages: int,
    workdir: Path,
    knobs: dict[str, Any],
    fake: FakeTwilio,
    server: str | None,
) -> dict[str, Any]:
    backend, instances = MODES[mode]
    database = prepare(mode, messages, workdir, knobs["cache"], server)
    apps = [App(database.sqlite, fake, database_url=database.url) for _ in range(instances)]
    token = apps[0].api_token(f"bench-{mode}")
    try:
        for app in apps:
            app.start()
        figures, customers = ingest(
            apps,
            database,
            workdir / mode,
            knobs["backend_texts"],
            knobs["connections"],
            knobs["settle_seconds"],
            first_customer=3_000_000 + 100_000 * list(MODES).index(mode),
        )
        drafts = pending_drafts(
            database, customers[: knobs["backend_sends"]], knobs["settle_seconds"]
        )
        result = {
            "backend": backend,
            "instances": instances,
            "ingest": figures,
            "send": send(apps, token, fake, database, drafts, knobs["settle_seconds"]),
        }
    finally:
        for app in apps:
            app.stop()
        if server is not None:
            drop(server, database)
    return result


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def run(
    messages: int, workdir: Path, knobs: dict[str, Any], fake: FakeTwilio, postgres: str | None
) -> dict[str, Any]:
    """Every mode in turn on `messages` of history; their figures and the ratios."""
    modes: dict[str, Any] = {}
    with postgres_server(postgres) as server:
        for mode, (backend, _) in MODES.items():
            print(f"[scale] backends: {mode}", file=sys.stderr)
            modes[mode] = one_mode(
                mode, messages, workdir, knobs, fake, server if backend == "postgres" else None
            )
    figure = {kind: {m: modes[m][kind]["per_s"] for m in modes} for kind in ("ingest", "send")}
    return {
        "messages": messages,
        "modes": modes,
        "ratios": {
            f"{kind}_{a}_over_{b}": ratio(figure[kind][a], figure[kind][b])
            for kind in ("ingest", "send")
            for a, b in (("postgres_1", "sqlite"), ("postgres_2", "postgres_1"))
        },
    }
