#!/usr/bin/env python3
"""Every benchmark at every database size, app and bare baseline in one run; one JSON document.

For each size (fresh, 10k, 100k, 1m messages: `--sizes`), on copies of a database seeded by
seed.py (cached by size), with `approval-bot serve` on loopback, its Twilio settings pointed
at the fake Twilio (tests/fake_twilio.py, 50 ms an answer):

  A. draft-ready: texts from new customers at --rate per second for --paced-seconds
     (a paced open-loop Python client), from each request's intended start to its draft
     appearing in GET /api/v1/drafts?thread_id=…, drafts that finish late included;
     approve → accepted by the fake, idle; /stats?days=90 signed in; the first /audit page
     and its chain walk, at the first start and again after a restart;
  B. ingest: wrk, 32 connections, signed webhooks, against the bare one-insert endpoint
     (baseline_app.py) and then the app, while reviewers approve drafts through the API
     (approve → accepted while ingest is saturated); texts → drafted rate from the database.

With --backends, once more at every size (backends.py): ingest and send throughput on
SQLite, on PostgreSQL with one instance and with two, duplicates and losses counted, and
the ratios. PostgreSQL is the server --postgres names (one where databases may be created),
or a throwaway cluster started for the run (scripts/pg-cluster).

    .venv/bin/python scripts/bench/scale.py --sizes fresh,10k,100k,1m --json out.json
    .venv/bin/python scripts/bench/scale.py --tables out.json     # the markdown tables
    .venv/bin/python scripts/bench/scale.py --quick                # a smoke run, small sizes
    .venv/bin/python scripts/bench/scale.py --sizes fresh --backends-only --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backends  # noqa: E402
import harness  # noqa: E402
import seed  # noqa: E402
from harness import App, FakeTwilio, percentiles  # noqa: E402
from report import tables  # noqa: E402

SIZES = {"fresh": 0, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
FULL = {
    "wrk_seconds": 30,
    "connections": 32,
    "rate": 20.0,
    "paced_seconds": 60,
    "settle_seconds": 180,
    "approvals": 40,
    "stats_requests": 20,
    "fake_latency": 0.05,
    "backend_texts": 3000,
    "backend_sends": 600,
}
QUICK = {
    "wrk_seconds": 3,
    "connections": 32,
    "rate": 5.0,
    "paced_seconds": 4,
    "settle_seconds": 60,
    "approvals": 5,
    "stats_requests": 3,
    "fake_latency": 0.05,
    "backend_texts": 60,
    "backend_sends": 20,
}
QUICK_SIZES = {"fresh": 0, "2k": 2_000}
# idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so no
# request races the server's close of the connection it was sent on
KEEPALIVE_S = 2.0
POLLS_AT_ONCE, POLL_PAUSE_S = 4, 0.01


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def sign_in(app: App) -> httpx.Client:
    """A client with a signed-in admin session (the login form, with its CSRF token)."""
    client = httpx.Client(
        base_url=app.url,
        timeout=300,
        follow_redirects=True,
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S),
    )
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise SystemExit("the login page has no CSRF token")
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "name": "admin", "password": seed.ADMIN_PASSWORD},
    )
    if answer.status_code != 200 or "/login" in str(answer.url):
        raise SystemExit(f"signing in failed: {answer.status_code}")
    return client


def audit_walk(client: httpx.Client, timeout: float) -> dict[str, float | None]:
    """The first /audit page's time, and how long until it shows the chain verified."""
    started = time.perf_counter()
    page = client.get("/audit")
    page.raise_for_status()
    first = time.perf_counter() - started
    while "Hash chain verified" not in page.text:
        if time.perf_counter() - started > timeout:
            return {"first_page_ms": ms(first), "verified_s": None}
        time.sleep(0.25)
        page = client.get("/audit")
    return {"first_page_ms": ms(first), "verified_s": round(time.perf_counter() - started, 2)}


# --- draft-ready: a paced open-loop sender and a poller of the JSON queue API ----------------


async def draft_ready(
    app: App, api_token: str, customers: list[str], rate: float, settle: float
) -> dict[str, Any]:
    """Send one text per customer at `rate`/s; time each until its draft shows in the API.

    The clock of text i starts at its intended send time (start + i/rate), so a sender that
    falls behind does not hide the delay (no coordinated omission), and stops when the
    first poll that shows the draft returns. Polling goes on after the last text, until
    every draft is seen or `settle` seconds pass; drafts never seen count as unfinished.
    """
    validator = RequestValidator(app.auth_token)
    url = app.url + harness.WEBHOOK_PATH
    prepared = [
        harness.signed(validator, url, harness.webhook_params(c, harness.TEXTS[i % 6]))
        for i, c in enumerate(customers)
    ]
    headers = {"Authorization": f"Bearer {api_token}"}
    intended: dict[str, float] = {}
    seen: dict[str, tuple[float, str]] = {}
    statuses: list[int] = []
    polls: list[float] = []
    # open loop: as many connections as texts in flight (Twilio does not wait for an answer
    # before it posts the next webhook), so a slow server cannot slow the sender
    limits = httpx.Limits(
        max_connections=2048, max_keepalive_connections=64, keepalive_expiry=KEEPALIVE_S
    )
    async with httpx.AsyncClient(base_url=app.url, timeout=120, limits=limits) as client:
        start = time.monotonic() + 0.2

        async def send(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            signature, body = prepared[i]
            intended[customers[i]] = start + i / rate
            try:
                answer = await client.post(
                    harness.WEBHOOK_PATH,
                    content=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                )
            except httpx.TransportError:
                statuses.append(0)  # counted below: this text never reached the app
                return
            statuses.append(answer.status_code)

        async def poll(customer: str) -> None:
            t0 = time.monotonic()
            try:
                answer = await client.get(
                    "/api/v1/drafts", params={"thread_id": customer, "limit": 1}, headers=headers
                )
            except httpx.TransportError:
                return  # polled again on the next pass
            now = time.monotonic()
            polls.append(now - t0)
            answer.raise_for_status()
            items = answer.json()["items"]
            if items and customer not in seen:
                seen[customer] = (now, items[0]["id"])

        senders = [asyncio.create_task(send(i)) for i in range(len(customers))]
        deadline = start + len(customers) / rate + settle
        polling_started = time.monotonic()
        while len(seen) < len(customers) and time.monotonic() < deadline:
            waiting = [c for c in intended if c not in seen]
            # passes of at most POLLS_AT_ONCE polls, oldest texts first, POLL_PAUSE_S apart:
            # the clock's resolution is a poll's round trip plus the pause, and the polls'
            # own load on the server stays bounded (reported as polls_per_s)
            if waiting:
                await asyncio.gather(*(poll(c) for c in waiting[:POLLS_AT_ONCE]))
            await asyncio.sleep(POLL_PAUSE_S)
        polling_seconds = time.monotonic() - polling_started
        await asyncio.gather(*senders)
    latencies = [
        (seen[c][0] - intended[c]) * 1000 if c in seen else float("inf") for c in customers
    ]
    return {
        "texts": len(customers),
        "rate_per_s": rate,
        "seconds": round(len(customers) / rate, 1),
        "accepted_2xx": sum(1 for s in statuses if 200 <= s < 300),
        "connection_errors": statuses.count(0),
        "ready_ms": percentiles(latencies, 50, 95, 99),
        "unfinished": sum(1 for c in customers if c not in seen),
        "poll_round_trip_ms_p50": percentiles([p * 1000 for p in polls], 50)["p50"],
        "polls_per_s": round(len(polls) / polling_seconds, 1) if polling_seconds else None,
        "draft_ids": [seen[c][1] for c in customers if c in seen],
    }


# --- approve → accepted by the fake Twilio ----------------------------------------------------


def approve_paced(
    app: App, api_token: str, draft_ids: list[str], seconds: float
) -> dict[str, float]:
    """POST approve for each draft, spread over `seconds`; each request's monotonic start."""
    started: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(
        base_url=app.url,
        timeout=120,
        headers=headers,
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S),
    ) as client:
        begin = time.monotonic()
        for i, draft_id in enumerate(draft_ids):
            time.sleep(max(0.0, begin + i * seconds / max(1, len(draft_ids)) - time.monotonic()))
            started[draft_id] = time.monotonic()
            answer = client.post(f"/api/v1/drafts/{draft_id}/approve")
            if answer.status_code != 200:
                raise SystemExit(f"approve answered {answer.status_code}: {answer.text[:200]}")
    return started


def approve_to_accepted(
    app: App, api_token: str, fake: FakeTwilio, started: dict[str, float], timeout: float
) -> dict[str, Any]:
    """Match each approved draft's provider sid to the fake's acceptance time."""
    headers = {"Authorization": f"Bearer {api_token}"}
    sids: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(
        base_url=app.url,
        timeout=120,
        headers=headers,
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S),
    ) as client:
        while len(sids) < len(started) and time.monotonic() < deadline:
            for draft_id in started:
                if draft_id not in sids:
                    sid = client.get(f"/api/v1/messages/{draft_id}").json().get("provider_sid")
                    if sid:
                        sids[draft_id] = sid
            time.sleep(0.2)
    accepted_at = {m["sid"]: m["accepted_at"] for m in fake.accepted()}
    waits = [
        (accepted_at[sids[d]] - t0) * 1000 if d in sids and sids[d] in accepted_at else float("inf")
        for d, t0 in started.items()
    ]
    return {
        "approvals": len(started),
        **percentiles(waits, 50, 95),
        "unsent": sum(1 for w in waits if w == float("inf")),
    }


# --- the phases -------------------------------------------------------------------------------


def prepared_database(
    messages: int, workdir: Path, name: str, cache: str | None
) -> tuple[Path, dict[str, Any]]:
    database = workdir / name / "bench.sqlite3"
    info = seed.fresh_copy(messages, database, Path(cache) if cache else None)
    return database, info


def phase_a(
    messages: int, workdir: Path, knobs: dict[str, Any], fake: FakeTwilio
) -> dict[str, Any]:
    database, info = prepared_database(messages, workdir, "a", knobs["cache"])
    app = App(database, fake)
    token = app.api_token("bench-a")
    app.start()
    result: dict[str, Any] = {"seed": info}
    try:
        assert app.rss is not None
        with closing(sign_in(app)) as client:
            result["audit_first_start"] = audit_walk(client, knobs["settle_seconds"] * 5)
        texts = round(knobs["rate"] * knobs["paced_seconds"])
        customers = [harness.new_customer(i) for i in range(texts)]
        ready = asyncio.run(
            draft_ready(app, token, customers, knobs["rate"], knobs["settle_seconds"])
        )
        drafts = ready.pop("draft_ids")
        result["draft_ready"] = ready
        chosen = drafts[: knobs["approvals"]]
        started = approve_paced(app, token, chosen, seconds=len(chosen) / 2)  # 2 a second
        result["approve_idle"] = approve_to_accepted(app, token, fake, started, 60)
        with closing(sign_in(app)) as client:
            client.get("/stats?days=90").raise_for_status()
            times = []
            for _ in range(knobs["stats_requests"]):
                t0 = time.perf_counter()
                client.get("/stats?days=90").raise_for_status()
                times.append(ms(time.perf_counter() - t0))
        result["stats_90d_ms"] = percentiles(times, 50, 95)
        app.stop()
        result["rss_max_mb_a"] = app.rss.peak_mb()
        app.start()
        with closing(sign_in(app)) as client:
            result["audit_after_restart"] = audit_walk(client, knobs["settle_seconds"] * 5)
    finally:
        app.stop()
    return result


def texts_since(database: Path, since: str) -> tuple[list[str], list[str]]:
    """Timestamps of customers' texts stored since `since`, and of the drafts answering them."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        texts = [
            t
            for (t,) in conn.execute(
                "SELECT timestamp FROM messages WHERE type = 'INBOUND' AND timestamp >= ?", (since,)
            )
        ]
        drafts = [
            t
            for (t,) in conn.execute(
                """SELECT draft.timestamp FROM messages AS draft
               JOIN messages AS inbound ON inbound.id = draft.in_reply_to_id
               WHERE inbound.type = 'INBOUND' AND inbound.timestamp >= ?
                 AND draft.type = 'DRAFT' AND draft.draft_version = 1""",
                (since,),
            )
        ]
    return texts, drafts


def waiting_for_drafts(database: Path) -> int:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM messages WHERE type = 'INBOUND' AND status = 'RECEIVED'"
            ).fetchone()[0]
        )


def decay(stamps: list[str]) -> dict[str, float | None]:
    """Stored texts per second in the first and the last tenth of the load's span.

    The span runs from the first text stored to the last, so wrk's start-up (loading its
    pool) and wind-down do not count as a slow start or a slow end.
    """
    moments = sorted(datetime.fromisoformat(s) for s in stamps)
    if len(moments) < 20:
        return {"first_10pct_per_s": None, "last_10pct_per_s": None, "last_over_first": None}
    tenth = (moments[-1] - moments[0]).total_seconds() / 10
    offsets = [(m - moments[0]).total_seconds() for m in moments]
    first = sum(1 for o in offsets if o < tenth) / tenth
    last = sum(1 for o in offsets if o >= 9 * tenth) / tenth
    return {
        "first_10pct_per_s": round(first, 1),
        "last_10pct_per_s": round(last, 1),
        "last_over_first": round(last / first, 3),
    }


def phase_b(
    messages: int, workdir: Path, knobs: dict[str, Any], fake: FakeTwilio
) -> dict[str, Any]:
    database, _ = prepared_database(messages, workdir, "b", knobs["cache"])
    app = App(database, fake)
    token = app.api_token("bench-b")
    with closing(sqlite3.connect(database)) as conn:
        known = [
            t
            for (t,) in conn.execute(
                "SELECT thread_id FROM conversations ORDER BY random() LIMIT 2000"
            )
        ]
    fresh = [harness.new_customer(1_000_000 + i) for i in range(2000)]
    customers = [c for pair in zip(fresh, known, strict=False) for c in pair] or fresh
    customers += fresh[len(known) :]
    pool = workdir / "b" / "pool.tsv"
    size = min(300_000, 6000 * knobs["wrk_seconds"])
    harness.write_pool(pool, app.url, app.auth_token, size, customers)
    result: dict[str, Any] = {}
    with harness.baseline(workdir / "b" / "baseline.sqlite3") as base_url:
        run = harness.run_wrk(base_url, "/hit", pool, knobs["wrk_seconds"], knobs["connections"])
    result["baseline"] = {
        "per_s": run["per_s"],
        "p50_ms": ms(run["p50_us"] / 1e6),
        "p99_ms": ms(run["p99_us"] / 1e6),
        "errors": run["non_2xx"] + run["connect_errors"] + run["read_errors"] + run["timeouts"],
    }
    app.start()
    try:
        assert app.rss is not None
        approvals = knobs["approvals"]
        waiting = [harness.new_customer(2_000_000 + i) for i in range(approvals)]
        ready = asyncio.run(draft_ready(app, token, waiting, 10.0, knobs["settle_seconds"]))
        drafts = ready["draft_ids"]
        outcome: dict[str, Any] = {}
        assert app.process is not None
        cpu_start = harness.cpu_seconds(app.process.pid), harness.cpu_seconds(fake.process.pid)
        load_start = datetime.now(UTC)

        def load() -> None:
            outcome["wrk"] = harness.run_wrk(
                app.url, harness.WEBHOOK_PATH, pool, knobs["wrk_seconds"], knobs["connections"]
            )

        wrk = threading.Thread(target=load)
        wrk.start()
        # approvals in the middle of the load: start a fifth in, end by four fifths
        time.sleep(knobs["wrk_seconds"] / 5)
        started = approve_paced(app, token, drafts, seconds=knobs["wrk_seconds"] * 0.55)
        wrk.join()
        run = outcome["wrk"]
        deadline = time.monotonic() + knobs["settle_seconds"]
        while waiting_for_drafts(database) and time.monotonic() < deadline:
            time.sleep(0.5)
        cpu_end = harness.cpu_seconds(app.process.pid), harness.cpu_seconds(fake.process.pid)
        result["approve_loaded"] = approve_to_accepted(app, token, fake, started, 60)
    finally:
        app.stop()
    result["rss_max_mb_b"] = app.rss.peak_mb()
    since = load_start.isoformat(timespec="microseconds")
    texts, drafted = texts_since(database, since)
    errors = run["non_2xx"] + run["connect_errors"] + run["read_errors"] + run["timeouts"]
    result["ingest"] = {
        "connections": knobs["connections"],
        "seconds": knobs["wrk_seconds"],
        "webhooks_per_s": run["per_s"],
        "p50_ms": ms(run["p50_us"] / 1e6),
        "p99_ms": ms(run["p99_us"] / 1e6),
        "errors": errors,
        "pool_wraps": run["pool_wraps"],
        "stored": len(texts),
        **decay(texts),
    }
    last = max((datetime.fromisoformat(d) for d in drafted), default=None)
    span = (last - load_start).total_seconds() if last else None
    per_s = round(len(drafted) / span, 1) if span else None
    result["drafted"] = {
        "texts": len(texts),
        "drafted": len(drafted),
        "per_s": per_s,
        "until_last_draft_s": round(span, 1) if span else None,
        "over_baseline": round(per_s / result["baseline"]["per_s"], 3) if per_s else None,
        # what one text costs in CPU, from the load's start to the last draft: the server's
        # threads together, and the fake Twilio's (the reviewers' notices it accepts)
        "server_cpu_ms_per_text": (
            round(1000 * (cpu_end[0] - cpu_start[0]) / len(drafted), 2) if drafted else None
        ),
        "fake_twilio_cpu_ms_per_text": (
            round(1000 * (cpu_end[1] - cpu_start[1]) / len(drafted), 2) if drafted else None
        ),
    }
    return result


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def run(
    sizes: dict[str, int],
    knobs: dict[str, Any],
    workdir: Path,
    progress: Path | None,
    *,
    sizes_phases: bool = True,
    backend_modes: bool = False,
    postgres: str | None = None,
) -> dict[str, Any]:
    """Every size in turn; the document so far is written to `progress` after each.

    `backend_modes`: then the backends' comparison at every size (`document["backends"]`,
    by size).
    """
    document: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_at_start": machine(),
        "knobs": knobs,
        "sizes": {},
    }
    fake = FakeTwilio(knobs["fake_latency"])
    try:
        for name, messages in sizes.items() if sizes_phases else ():
            print(f"[scale] {name}: {messages} messages", file=sys.stderr)
            load = machine()["loadavg"]
            a = phase_a(messages, workdir / name, knobs, fake)
            b = phase_b(messages, workdir / name, knobs, fake)
            merged = {**a, **b, "messages": messages, "loadavg_at_start": load}
            merged["rss_max_mb"] = max(merged.pop("rss_max_mb_a"), merged.pop("rss_max_mb_b"))
            document["sizes"][name] = merged
            if progress:
                progress.write_text(json.dumps(document, indent=2) + "\n")
        for name, messages in sizes.items() if backend_modes else ():
            print(f"[scale] backends, {name}: {messages} messages", file=sys.stderr)
            found = document.setdefault("backends", {})
            found[name] = {
                "loadavg_at_start": machine()["loadavg"],
                **backends.run(messages, workdir / f"backends-{name}", knobs, fake, postgres),
            }
            if progress:
                progress.write_text(json.dumps(document, indent=2) + "\n")
    finally:
        fake.close()
    document["machine_at_end"] = machine()
    if document["sizes"]:
        first = document["sizes"][next(iter(sizes))]["ingest"]["webhooks_per_s"]
        document["ratios"] = {
            "ingest_over_first_size": {
                name: round(size["ingest"]["webhooks_per_s"] / first, 3) if first else None
                for name, size in document["sizes"].items()
            },
            "drafted_over_bare": {
                name: size["drafted"]["over_baseline"] for name, size in document["sizes"].items()
            },
        }
    return document


def parse_sizes(text: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name in (part.strip().lower() for part in text.split(",") if part.strip()):
        if name in SIZES:
            sizes[name] = SIZES[name]
        elif re.fullmatch(r"\d+k?", name):
            sizes[name] = int(name.rstrip("k")) * (1000 if name.endswith("k") else 1)
        else:
            raise SystemExit(f"--sizes: {name!r} is not fresh, 10k, 100k, 1m or a number")
    if not sizes:
        raise SystemExit("--sizes names no size")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated: fresh,10k,100k,1m (the default)")
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--json", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--tables", type=Path, help="print the markdown tables of a JSON file")
    parser.add_argument("--workdir", type=Path, help="where the run's databases go")
    parser.add_argument(
        "--cache", type=Path, help="where seeded databases are kept (default: the temp dir)"
    )
    parser.add_argument(
        "--backends",
        action="store_true",
        help="also SQLite vs PostgreSQL with one and two instances, at every size",
    )
    parser.add_argument(
        "--backends-only", action="store_true", help="only that comparison, no size phases"
    )
    parser.add_argument(
        "--postgres",
        help="postgresql://… of a server where databases may be created (default: a "
        "throwaway cluster, scripts/pg-cluster)",
    )
    args = parser.parse_args()
    if args.tables:
        print(tables(json.loads(args.tables.read_text())))
        return
    cache = str(args.cache) if args.cache else None
    knobs: dict[str, Any] = {**(QUICK if args.quick else FULL), "cache": cache}
    default = ",".join(QUICK_SIZES if args.quick else SIZES)
    sizes = parse_sizes(args.sizes or default)
    harness.ensure_wrk()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        document = run(
            sizes,
            knobs,
            Path(tmp),
            args.json,
            sizes_phases=not args.backends_only,
            backend_modes=args.backends or args.backends_only,
            postgres=args.postgres,
        )
    text = json.dumps(document, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
        print(tables(document))
    else:
        print(text)


if __name__ == "__main__":
    main()
