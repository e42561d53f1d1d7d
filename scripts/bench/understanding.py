"""Precision and recall of the built-in understanding on a labelled set of texts, as JSON.

Run: python scripts/bench/understanding.py [--set tests/data/understanding_holdout.jsonl] [--misses]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from approval_bot.sms_text import WORK_CHARS  # noqa: E402
from approval_bot.understanding import Understanding, understand  # noqa: E402

SET = ROOT / "tests" / "data" / "understanding.jsonl"
FLAGS = ("opt_out_request", "soft_no", "confused")
APPOINTMENT = ("vague", "specific")


def load(path: Path = SET) -> list[dict[str, Any]]:
    """The labelled texts, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _scores(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Precision and recall of (expected, got) pairs; None where nothing was predicted/expected."""
    hits = sum(1 for want, got in pairs if want and got)
    predicted = sum(1 for _, got in pairs if got)
    expected = sum(1 for want, _ in pairs if want)
    return {
        "precision": round(hits / predicted, 3) if predicted else None,
        "recall": round(hits / expected, 3) if expected else None,
        "expected": expected,
        "predicted": predicted,
    }


def _predicted(row: dict[str, Any]) -> Understanding:
    return understand(
        row["text"], datetime.fromisoformat(row["received_at"]), ZoneInfo(row["zone"])
    )


def evaluate(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The figures, and the rows the understanding got wrong."""
    got = [_predicted(row) for row in rows]
    figures: dict[str, Any] = {"texts": len(rows)}
    for flag in FLAGS:
        figures[flag] = _scores(
            [(row[flag], getattr(u, flag)) for row, u in zip(rows, got, strict=True)]
        )
    for kind in APPOINTMENT:
        figures[f"appointment_{kind}"] = _scores(
            [
                (row["appointment_intent"] == kind, u.appointment_intent == kind)
                for row, u in zip(rows, got, strict=True)
            ]
        )
    both = [
        (row, u)
        for row, u in zip(rows, got, strict=True)
        if row["appointment_intent"] == "specific" and u.appointment_intent == "specific"
    ]
    right = sum(
        1
        for row, u in both
        if u.appointment_at
        and row["appointment_at"]
        and datetime.fromisoformat(u.appointment_at)
        == datetime.fromisoformat(row["appointment_at"])
    )
    figures["appointment_at_right_when_both_specific"] = f"{right}/{len(both)}"
    misses = []
    for row, u in zip(rows, got, strict=True):
        wrong = [flag for flag in FLAGS if row[flag] != getattr(u, flag)]
        if row["appointment_intent"] != u.appointment_intent:
            wrong.append(f"appointment {row['appointment_intent']}->{u.appointment_intent}")
        elif (
            row["appointment_at"]
            and u.appointment_at
            and datetime.fromisoformat(row["appointment_at"])
            != datetime.fromisoformat(u.appointment_at)
        ):
            wrong.append(f"at {row['appointment_at']}->{u.appointment_at}")
        if wrong:
            misses.append({"text": row["text"], "wrong": wrong})
    return figures, misses


def timing(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Milliseconds per call: the set's texts (median, max) and a text of WORK_CHARS characters."""
    understand("warm up", datetime.now().astimezone(), ZoneInfo("UTC"))
    each = []
    for row in rows:
        started = time.perf_counter()
        _predicted(row)
        each.append((time.perf_counter() - started) * 1000)
    long_text = ("Hi, about Saturday at 9:30 and the order I want to pick up, thanks! " * 40)[
        :WORK_CHARS
    ]
    longs = []
    for _ in range(5):
        started = time.perf_counter()
        understand(long_text, datetime.now().astimezone(), ZoneInfo("UTC"))
        longs.append((time.perf_counter() - started) * 1000)
    return {
        "set_median_ms": round(statistics.median(each), 2),
        "set_max_ms": round(max(each), 2),
        f"text_of_{WORK_CHARS}_chars_median_ms": round(statistics.median(longs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="also list the texts got wrong")
    parser.add_argument("--set", type=Path, default=SET, help="the labelled texts (JSON lines)")
    args = parser.parse_args()
    rows = load(args.set)
    figures, misses = evaluate(rows)
    figures["timing"] = timing(rows)
    if args.misses:
        figures["misses"] = misses
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
