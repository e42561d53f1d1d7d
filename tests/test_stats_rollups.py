"""The stats rollups: kept by the funnel, equal to the history recounted, read by index.

The recounts here are the test's own, from the raw rows (messages, approvals, the audit
log) with rapidfuzz and decimal rounding, never from the rollup code: after a seeded run of
the real review actions, the rollups the funnel kept must equal them, and so must what
migration 0007 back-fills from the same history.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

import pytest
import time_machine
from rapidfuzz.distance import Levenshtein

from approval_bot import review, stats
from approval_bot.models import DecisionChannel, MessageStatus
from approval_bot.stats_queries import load_stats
from approval_bot.store import Store, Tx, split_statements
from approval_bot.web.stats_page import window
from tests.builders import first_start, make_draft, make_inbound, make_reviewer
from tests.query_plans import trace
from tests.stats_seed import seed

pytestmark = pytest.mark.anyio

PENDING = MessageStatus.DRAFT_PENDING_APPROVAL
ROLLUPS = {
    "queue_hours": "hour",
    "decision_days": "day, action, channel, reviewer_id, reviewer_phone",
    "decision_waits": "day, reviewer_id, reviewer_phone",
    "edit_days": "day",
}
CHANGES = ((0.10, "up to 10%"), (0.25, "10–25%"), (0.50, "25–50%"))  # else "over 50%"
THREADS = tuple(f"+1415555{n:04d}" for n in range(101, 106))
# how far the clock moves between two actions: clicks, minutes, hours, a day
GAPS = (1, 2, 7, 59, 61, 333, 599, 601, 3599, 3601, 36001, 86399, 90001)
BODIES = ("Yes, we are open 9 to 6.", "Open till 6 today.", "Sorry, closed Sunday.")


def display_step(seconds: Decimal) -> int:
    """The step stats.duration shows a wait at, from its formats: "42 s", "5.5 min", "12 min",
    "3.2 h", "14 h", "2.1 d", "12 d"."""
    for below, step in ((60, 1), (600, 6), (3600, 60), (36000, 360), (86400, 3600)):
        if seconds < below:
            return step
    return 8640 if seconds < 864000 else 86400


def rounded_wait(since: str, at: str) -> int:
    micros = (datetime.fromisoformat(at) - datetime.fromisoformat(since)) // timedelta(
        microseconds=1
    )
    seconds = Decimal(max(0, micros)) / Decimal(1_000_000)
    step = display_step(seconds)
    return int((seconds / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step


async def rows(db: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await db.fetchall(sql)]


def histogram(text: str, value: Any = int) -> dict[Any, int]:
    return {value(key): n for key, n in json.loads(text).items()}


async def rollups(db: Store) -> dict[str, Any]:
    """The rollups, their JSON histograms read as dicts."""
    kept: dict[str, Any] = {
        table: await rows(db, f"SELECT * FROM {table} ORDER BY {key}")
        for table, key in ROLLUPS.items()
    }
    kept["decision_waits"] = {(*r[:3],): histogram(r[3]) for r in kept["decision_waits"]}
    kept["edit_days"] = {
        r[0]: (r[1], histogram(r[2]), histogram(r[3]), histogram(r[4], str))
        for r in kept["edit_days"]
    }
    return kept


def change_of(distance: int, longest: int) -> str:
    share = distance / longest if longest else 0.0
    return next((label for limit, label in CHANGES if share <= limit), "over 50%")


def permille(distance: int, longest: int) -> int:
    if not longest:
        return 0
    exact = Decimal(distance * 1000) / Decimal(longest)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def recounted(db: Store) -> dict[str, Any]:
    """The rollups as the raw rows give them."""
    messages = {r["id"]: r for r in await db.fetchall("SELECT * FROM messages")}
    approvals = await db.fetchall("SELECT * FROM approvals ORDER BY id")
    log = await db.fetchall("SELECT * FROM audit_log ORDER BY id")

    decisions: dict[tuple[Any, ...], int] = defaultdict(int)
    waits: dict[tuple[Any, ...], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for a in approvals:
        day = a["timestamp"][:10]
        decisions[(day, a["action"], a["channel"], a["reviewer_id"], "")] += 1
        # an edit-and-approve decided on the version it replaced
        edited = [m for m in messages.values() if m["superseded_by"] == a["draft_id"]]
        since = (
            edited[0]["timestamp"]
            if a["action"] == "EDIT"
            else messages[a["draft_id"]]["timestamp"]
        )
        waits[(day, a["reviewer_id"], "")][rounded_wait(since, a["timestamp"])] += 1

    edits: dict[str, list[Any]] = {}
    moves: dict[str, int] = defaultdict(int)  # one transaction's rows share a timestamp here
    for entry in log:
        meta = json.loads(entry["metadata"])
        if entry["event"] == "Edited" and "previous_version" in meta:
            before = messages[meta["previous_version"]]["body"]
            after = messages[entry["message_id"]]["body"]
            distance = Levenshtein.distance(before, after)
            longest = max(len(before), len(after))
            day = edits.setdefault(
                entry["timestamp"][:10], [0, defaultdict(int), defaultdict(int), defaultdict(int)]
            )
            day[0] += 1
            day[1][distance] += 1
            day[2][permille(distance, longest)] += 1
            day[3][change_of(distance, longest)] += 1
        message = messages.get(entry["message_id"])
        if message is not None and message["type"] != "INBOUND" and "to" in meta:
            moves[entry["timestamp"]] += (meta["to"] == PENDING) - (meta.get("from") == PENDING)

    hours: dict[str, tuple[int, int]] = {}
    depth = 0
    for moment, delta in sorted(moves.items()):
        if not delta:
            continue
        hour = moment[:13]
        peak = max(hours[hour][1], depth) if hour in hours else depth
        depth += delta
        hours[hour] = (depth, max(peak, depth))
    return {
        "queue_hours": [(hour, d, p) for hour, (d, p) in sorted(hours.items())],
        "decision_days": sorted((*k, n) for k, n in decisions.items()),
        "decision_waits": {key: dict(counts) for key, counts in waits.items()},
        "edit_days": {day: (n, *(dict(h) for h in hs)) for day, (n, *hs) in edits.items()},
    }


async def random_history(db: Store, rng: random.Random) -> None:
    """A seeded run of the real actions: drafts, approvals, rejections, edits, pauses and
    resumes, human replies, with the clock moved between them."""
    await first_start(db)  # as the app leaves it: the sending gate set up (sandbox)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    with time_machine.travel(start, tick=False) as clock:
        ana = await make_reviewer(db, "Ana")
        bo = await make_reviewer(db, "Bo")
        moment = start
        for _ in range(120):
            moment += timedelta(seconds=rng.choice(GAPS), microseconds=rng.randrange(10**6))
            clock.move_to(moment)
            await random_action(db, rng, rng.choice([ana.id, bo.id]))


async def random_action(db: Store, rng: random.Random, reviewer_id: int) -> None:
    thread = rng.choice(THREADS)
    paused = await db.fetchone("SELECT paused FROM thread_controls WHERE thread_id = ?", (thread,))
    if paused is not None and paused["paused"]:
        await review.resume_thread(db, thread, reviewer_id)
        return
    pending = await db.fetchone(
        """SELECT id FROM messages WHERE thread_id = ? AND status = ?
           AND type IN ('DRAFT', 'OUTBOUND')""",
        (thread, PENDING),
    )
    decision = review.Decision(reviewer_id, rng.choice(list(DecisionChannel)))
    if pending is None or paused is None:
        await make_draft(db, await make_inbound(db, thread), rng.choice(BODIES))
        return
    draft = pending["id"]
    action = rng.choice(("approve", "reject", "edit", "edit-approve", "pause", "reply", "draft"))
    if action == "approve":
        await review.approve(db, draft, decision)
    elif action == "reject":
        await review.reject(db, draft, decision)
    elif action in ("edit", "edit-approve"):
        body = rng.choice(BODIES) + rng.choice(("", " Thanks!", "!"))
        await review.edit(db, draft, body, decision, approve=action == "edit-approve")
    elif action == "pause":
        await review.pause_thread(db, thread, "checking", reviewer_id)
    elif action == "reply":
        await review.write_reply(db, thread, "I will call you.", reviewer_id, in_reply_to_id=None)
    else:
        await make_draft(db, await make_inbound(db, thread, "And Sunday?"))


@pytest.mark.parametrize("seed_value", [1, 2, 3])
async def test_the_rollups_equal_the_history_recounted(db, seed_value):
    await random_history(db, random.Random(seed_value))
    kept = await rollups(db)
    assert all(kept.values())  # every rollup saw something
    assert kept == await recounted(db)
    (waiting,) = await rows(
        db,
        """SELECT count(*) FROM messages WHERE status = 'DRAFT_PENDING_APPROVAL'
           AND type IN ('DRAFT', 'OUTBOUND')""",
    )
    assert kept["queue_hours"][-1][1] == waiting[0]


def _rebuild(conn: Tx) -> None:
    for table in ROLLUPS:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX messages_failed_sends")
    migration = resources.files("approval_bot.migrations") / "0010_stats_rollups.sql"
    for statement in split_statements(migration.read_text(encoding="utf-8")):
        conn.execute(statement)


async def test_the_migration_back_fills_what_the_funnel_keeps(db):
    await random_history(db, random.Random(4))
    kept = await rollups(db)
    await db.write(_rebuild)
    assert await rollups(db) == kept


async def test_the_back_fill_anchors_the_queue_to_the_replies_waiting_now(db):
    """A reply whose moves the log lacks (an older row) still counts now, not below zero."""
    await random_history(db, random.Random(5))
    waiting = await db.fetchone(
        "SELECT count(*) FROM messages WHERE status = ? AND type != 'INBOUND'", (PENDING,)
    )
    assert waiting is not None

    def lose_a_move(conn: Tx) -> None:
        inbound = conn.execute("SELECT id FROM messages WHERE type = 'INBOUND' LIMIT 1").fetchone()
        conn.execute(
            """INSERT INTO messages (id, thread_id, in_reply_to_id, sender, receiver, body,
                   status, type, timestamp, updated_at)
               SELECT 'unlogged', thread_id, id, receiver, sender, 'Hi', ?, 'DRAFT',
                      timestamp, timestamp FROM messages WHERE id = ?""",
            (PENDING, inbound[0]),
        )
        _rebuild(conn)

    await db.write(lose_a_move)
    assert (await rollups(db))["queue_hours"][-1][1] == waiting[0] + 1


async def test_stats_read_only_the_rollups_and_every_query_uses_an_index(db):
    await seed(db)
    statements: list[str] = []
    await trace(db, statements.append)  # the reader's connection, where the page reads
    await load_stats(db, *window(90, datetime.now(UTC)))
    await trace(db, None)
    queries = [s for s in statements if s.split()[0].upper() in ("SELECT", "WITH")]
    assert len(queries) >= 5  # the queue, its depth now and before, decisions, edits, failures
    for query in queries:
        plan = [row["detail"] for row in await db.fetchall(f"EXPLAIN QUERY PLAN {query}")]
        touched = " ".join(plan)
        assert "audit_log" not in touched and "approvals" not in touched, plan
        for step in plan:
            if "messages" in step:  # only the few failed sends, by when they changed
                assert step.startswith("SEARCH") and "messages_failed_sends" in step, plan


async def test_percentiles_come_to_the_page_rounded_as_it_shows_them(db):
    """Waits off the page's steps: p50 and p95 are those of the waits rounded to those steps
    (statistics.quantiles, inclusive), within half a step of the exact ones."""
    waits = [61.3, 125.9, 200.2, 4000.4]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    with time_machine.travel(start, tick=False) as clock:
        ana = await make_reviewer(db, "Ana")
        for n, wait in enumerate(waits):
            clock.move_to(start + timedelta(hours=2 * n))
            draft = await make_draft(db, await make_inbound(db, THREADS[n]))
            clock.move_to(start + timedelta(hours=2 * n, seconds=wait))
            await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
    data = await load_stats(db, *window(7, datetime.now(UTC)))
    summary = data.per_reviewer["Ana"]

    shown = [60, 126, 198, 3960]  # each wait to its step: 6 s, 6 s, 6 s, 6 min
    cuts = statistics.quantiles(shown, n=100, method="inclusive")
    assert (summary.count, summary.p50) == (4, cuts[49])
    assert summary.p95 == pytest.approx(cuts[94])
    exact = statistics.quantiles(waits, n=100, method="inclusive")
    assert abs(summary.p50 - exact[49]) <= 3 and abs(summary.p95 - exact[94]) <= 180
    assert stats.duration(summary.p50) == stats.duration(exact[49]) == "2.7 min"


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, 0),
        (0.4999, 0),
        (0.5, 1),
        (42.2, 42),
        (59.4, 59),
        (59.6, 60),
        (62.9, 60),  # 6 s steps from 1 min: "1 min"
        (63.0, 66),  # "1.1 min"
        (599.0, 600),
        (629.9, 600),  # whole minutes from 10 min
        (630.0, 660),
        (5399.0, 5400),  # 6 min steps from 1 h: "1.5 h"
        (37799.0, 36000),  # whole hours from 10 h
        (3 * 86400 + 4319, 3 * 86400),  # 0.1 d steps from 1 d
        (3 * 86400 + 4320, 3 * 86400 + 8640),
        (12 * 86400 + 43199, 12 * 86400),  # whole days from 10 d
    ],
)
def test_a_wait_is_rounded_half_up_to_the_step_the_page_shows(seconds, bucket):
    assert stats.wait_bucket(round(seconds * 1_000_000)) == bucket
