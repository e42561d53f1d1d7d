#!/usr/bin/env python3
"""Benchmark one pass of the review-deadline ladder over many pending drafts.

A fresh database gets DRAFTS pending drafts, one per customer, each announced to the
reviewers who take texts, with clocks started at ages spread evenly over the last
AGE minutes; the policy is the defaults with a holding reply (remind 10, escalate 30,
holding 45 business minutes) and the holding template pre-approved. Three passes of the
ladder job, each timed with the texts it queued (reminders, escalations, holding
replies):
  * catch_up: as of a minute ago, with no pass ever run: every step due then (what the
    first pass after a long stop does);
  * steady: now, a minute later, as the job runs each minute: the steps that came due
    in that minute;
  * again: now once more, which must queue nothing (each step once).
Prints one JSON object.

Run: .venv/bin/python scripts/bench/sla.py [--drafts 10000] [--age 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from approval_bot import draft_notices, ladder, message_templates, review_clocks  # noqa: E402
from approval_bot.business_hours import BusinessHours  # noqa: E402
from approval_bot.models import Role  # noqa: E402
from approval_bot.store import Priority, Store, opened  # noqa: E402
from tests.builders import _store_draft, _store_inbound, first_start, make_reviewer  # noqa: E402

BATCH = 500
POLICY = review_clocks.Policy(
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(minutes=45),
    BusinessHours.always(ZoneInfo("UTC")),
)


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _seed_batch(first: int, count: int, now: datetime, age: float, total: int, conn: Any) -> None:
    """Drafts `first` to `first + count`, each with its clock started at its own age."""
    for n in range(first, first + count):
        started = now - timedelta(minutes=age * n / total)
        # the clock starts then (review_clocks' own name for models.now_iso)
        review_clocks.now_iso = partial(_at, started)  # type: ignore[attr-defined]
        thread = f"+1628{n:07d}"
        draft_id = _store_draft(_store_inbound(thread, "Are you open today?", conn), "Yes.", conn)
        draft_notices.announce(conn, draft_id)


async def _seed(db: Store, drafts: int, age: float, now: datetime) -> None:
    await first_start(db)
    await db.write(lambda conn: review_clocks.store_policy(conn, POLICY))
    for name, phone in (("Ana", "+14155550101"), ("Bob", "+14155550102")):
        await make_reviewer(db, name, phone=phone)
    root = await make_reviewer(db, "Root", phone="+14155550103", role=Role.ADMIN)
    await message_templates.pre_approve(db, "holding", True, root.id, root.role)
    real_now_iso = review_clocks.now_iso  # type: ignore[attr-defined]
    try:
        for first in range(0, drafts, BATCH):
            count = min(BATCH, drafts - first)

            def batch(conn: Any, first: int = first, count: int = count) -> None:
                _seed_batch(first, count, now, age, drafts, conn)

            await db.write(batch, priority=Priority.DRAFT)
    finally:
        review_clocks.now_iso = real_now_iso  # type: ignore[attr-defined]


def _count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def run(drafts: int, age: float, workdir: Path) -> dict[str, Any]:
    path = workdir / "sla.sqlite3"
    now = datetime.now(UTC)
    async with opened(path) as db:
        seeding = time.perf_counter()
        await _seed(db, drafts, age, now)
        seeded_s = time.perf_counter() - seeding
        before = _count(path, "SELECT count(*) FROM notifications")
        passes = {}
        for name, at in (("catch_up", now - timedelta(minutes=1)), ("steady", now), ("again", now)):
            started = time.perf_counter()
            result = await ladder.run_pass(db, at)
            passes[name] = {
                "pass_s": round(time.perf_counter() - started, 3),
                "steps": {str(step): n for step, n in result.steps.items()},
                "texts_queued": result.texts,
            }
    notices = _count(path, "SELECT count(*) FROM notifications") - before
    holding = _count(path, "SELECT count(*) FROM auto_replies WHERE trigger = 'holding'")
    return {
        "drafts": drafts,
        "age_minutes": age,
        "seed_s": round(seeded_s, 2),
        "target_s": 1.0,
        **passes,
        "reviewer_texts": notices,
        "holding_replies": holding,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--age", type=float, default=60.0, help="the oldest clock, in minutes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, help="where the database goes (default: temp)")
    args = parser.parse_args()
    if args.drafts < 1 or args.age <= 0:
        parser.error("--drafts must be at least 1 and --age positive")
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        figures = asyncio.run(run(args.drafts, args.age, Path(workdir)))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
