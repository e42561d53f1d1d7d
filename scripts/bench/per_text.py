"""What the library-bound steps every text takes cost in CPU, one at a time, beside the bare
endpoint's rate from the same run: how much of issue 10's per-text budget they leave.

Each step runs `--calls` times in this process and is timed with `time.process_time` (all of
this process's threads): Twilio's signature check of a webhook (`RequestValidator`), the
built-in understanding of the benchmark's texts (dateparser), and a reviewer's notice sent
through the official twilio client to the fake Twilio (in its own process, not counted).
The bare one-insert endpoint is driven by wrk as in scale.py. The budget is the CPU a text
may take for the app to draft at a quarter of the bare rate on all of the machine's cores.

Run: python scripts/bench/per_text.py [--calls 500] [--wrk-seconds 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from approval_bot.config import load_settings  # noqa: E402
from approval_bot.gateways import OutgoingSms, TwilioGateway  # noqa: E402
from approval_bot.understanding import understand, warm_up  # noqa: E402

# what the issue asks: text → drafted at a quarter of the bare endpoint's rate
SHARE_OF_BARE = 0.25


def cpu_ms(step: Callable[[int], object], calls: int) -> float:
    """CPU milliseconds of this process per call of `step(i)`."""
    started = time.process_time()
    for i in range(calls):
        step(i)
    return round(1000 * (time.process_time() - started) / calls, 3)


def signature_check(calls: int) -> float:
    validator = RequestValidator("0123456789abcdef" * 2)
    url = "https://bot.example.com" + harness.WEBHOOK_PATH
    params = harness.webhook_params(harness.new_customer(0), harness.TEXTS[0])
    signature = validator.compute_signature(url, params)
    if not validator.validate(url, params, signature):
        raise SystemExit("the signature check refused its own signature")
    return cpu_ms(lambda i: validator.validate(url, params, signature), calls)


def understanding(calls: int) -> float:
    warm_up()
    zone, now = ZoneInfo("America/Los_Angeles"), datetime.now(UTC)
    texts = harness.TEXTS
    return cpu_ms(lambda i: understand(texts[i % len(texts)], now, zone), calls)


def notice(calls: int, fake: harness.FakeTwilio, workdir: Path) -> tuple[float, int]:
    """CPU per notice sent through the twilio client, and how many the fake accepted."""
    # the benchmark app's own settings, pointed at the fake (no server is started)
    settings = load_settings(harness.App(workdir / "unused.sqlite3", fake).env())
    reviewer = "+14155550188"
    body = "New draft for +14155550123: Yes, we are open Saturday 9 to 5. Reply A 4821 to send."

    async def send_all() -> float:
        gateway = TwilioGateway(settings)
        try:
            started = time.process_time()
            for _ in range(calls):
                await gateway.send(OutgoingSms(to=reviewer, body=body))
            return round(1000 * (time.process_time() - started) / calls, 3)
        finally:
            await gateway.aclose()

    per_call = asyncio.run(send_all())
    return per_call, sum(1 for m in fake.accepted() if m["to"] == reviewer)


def bare_rate(workdir: Path, seconds: float, connections: int) -> float:
    pool = workdir / "pool.tsv"
    customers = [harness.new_customer(i) for i in range(1000)]
    harness.write_pool(pool, "http://127.0.0.1", "0" * 32, 20_000, customers)
    with harness.baseline(workdir / "baseline.sqlite3") as url:
        run = harness.run_wrk(url, "/hit", pool, seconds, connections)
    return float(run["per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls of each step")
    parser.add_argument("--wrk-seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="per-text-") as tmp:
        workdir = Path(tmp)
        bare = bare_rate(workdir, args.wrk_seconds, args.connections)
        fake = harness.FakeTwilio(0.0)
        try:
            notice_ms, accepted = notice(args.calls, fake, workdir)
        finally:
            fake.close()
    steps = {
        "signature_check": signature_check(args.calls),
        "understanding": understanding(args.calls),
        "reviewer_notice": notice_ms,
    }
    budget = cores / (SHARE_OF_BARE * bare)
    document: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": cores,
        "calls": args.calls,
        "cpu_ms_per_call": steps,
        "steps_ms": round(sum(steps.values()), 3),
        "notices_accepted": accepted,
        "bare_per_s": bare,
        "budget_ms_per_text": round(1000 * budget, 3),
    }
    text = json.dumps(document, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
