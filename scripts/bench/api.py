#!/usr/bin/env python3
"""JSON API latencies against a real `approval-bot serve`: list drafts, read one, approve.

Seeds a fresh database with N pending drafts through the app's own builders, creates a
token, starts the server (sandbox mode), then times from the client side: pages of
`GET /api/v1/drafts` walked with the cursor, `GET /api/v1/messages/{id}`, and
`POST /api/v1/drafts/{id}/approve` for each draft (each approval also wakes the sender).
Prints JSON: p50/p95 in milliseconds per endpoint and approvals per second.

    .venv/bin/python scripts/bench/api.py [--drafts 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from approval_bot import accounts
from approval_bot.store import opened
from tests.builders import make_draft, make_inbound, make_reviewer


async def seed(path: Path, drafts: int) -> tuple[str, list[str]]:
    async with opened(path) as db:
        await make_reviewer(db, "Bench")
        ids = []
        for i in range(drafts):
            inbound = await make_inbound(db, f"+1415{6000000 + i:07d}", "Are you open today?")
            ids.append(await make_draft(db, inbound))
        return await accounts.create_token(db, "bench", "Bench"), ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        token, ids = asyncio.run(seed(path, args.drafts))
        port = free_port()
        env = {"APPROVAL_BOT_DATABASE": str(path), "PATH": "/usr/bin:/bin"}
        script = Path(sys.executable).parent / "approval-bot"
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        timings: dict[str, list[float]] = {"list": [], "message": [], "approve": []}
        try:
            headers = {"Authorization": f"Bearer {token}"}
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
                for _ in range(200):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                cursor = None
                while True:
                    started = time.perf_counter()
                    params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
                    page = client.get("/api/v1/drafts", params=params).json()
                    timings["list"].append(time.perf_counter() - started)
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                for draft in ids[:200]:
                    started = time.perf_counter()
                    client.get(f"/api/v1/messages/{draft}").raise_for_status()
                    timings["message"].append(time.perf_counter() - started)
                began = time.perf_counter()
                for draft in ids:
                    started = time.perf_counter()
                    client.post(f"/api/v1/drafts/{draft}/approve").raise_for_status()
                    timings["approve"].append(time.perf_counter() - started)
                approve_seconds = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "drafts": args.drafts,
                "list_page_of_50": summary(timings["list"]),
                "get_message": summary(timings["message"]),
                "approve": summary(timings["approve"]),
                "approvals_per_second": round(args.drafts / approve_seconds, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
