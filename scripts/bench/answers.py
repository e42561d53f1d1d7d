"""How often the built-in drafter answers from the right source, with the sample business.

Reads tests/data/profile_questions.jsonl (a customer's text and the source a right answer
comes from; null where nothing the business wrote answers it and a holding reply is right),
drafts each with the sample profile and FAQ as if it arrived on Wednesday 2 December 2026 at
10:00 in the business's time zone, and prints JSON: the share answered from the right
source, and every miss.

    .venv/bin/python scripts/bench/answers.py
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from approval_bot.drafting.base import DraftContext, FaqEntry
from approval_bot.drafting.builtin import draft_offline
from approval_bot.samples import sample_faq, sample_profile

QUESTIONS = Path(__file__).resolve().parents[2] / "tests" / "data" / "profile_questions.jsonl"
TARGET = 0.8


def run(path: Path = QUESTIONS) -> dict[str, Any]:
    profile = sample_profile()
    faq = tuple(FaqEntry(keywords, answer) for keywords, answer in sample_faq())
    received = datetime(2026, 12, 2, 10, 0, tzinfo=profile.zone)
    cases = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    misses = []
    for case in cases:
        context = DraftContext(
            "+14155550100", case["text"], faq=faq, profile=profile, received_at=received
        )
        result = draft_offline(context)
        if result.source != case["source"]:
            misses.append({"text": case["text"], "expected": case["source"], "got": result.source})
    right = len(cases) - len(misses)
    return {
        "questions": len(cases),
        "right_source": right,
        "share": round(right / len(cases), 3),
        "target": TARGET,
        "misses": misses,
    }


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else QUESTIONS), indent=2))
