"""The sample business (a barber's profile and three FAQ entries) a newcomer can load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import directives
from .. import profile as business
from ..store import Priority, Store, Tx
from ..store.views.guidance import faq_answers

HERE = Path(__file__).resolve().parent
PROFILE_FILE = HERE / "profile.json"
FAQ_FILE = HERE / "faq.json"


def sample_profile() -> business.Profile:
    return business.validate(json.loads(PROFILE_FILE.read_text("utf-8")))


def sample_faq() -> list[tuple[tuple[str, ...], str]]:
    entries: list[dict[str, Any]] = json.loads(FAQ_FILE.read_text("utf-8"))
    return [(tuple(entry["keywords"]), entry["answer"]) for entry in entries]


def _add_missing_faq(conn: Tx, actor_id: int | None) -> int:
    """Add the sample FAQ entries whose answers are not there yet; how many were added."""
    have = faq_answers(conn)
    added = 0
    for keywords, answer in sample_faq():
        if answer not in have:
            directives.add_faq_now(conn, directives.GLOBAL, keywords, answer, actor_id)
            added += 1
    return added


async def load(db: Store, actor_id: int | None) -> None:
    """The sample profile and FAQ entries, in one transaction, each change audited."""
    profile = sample_profile()

    def body(conn: Tx) -> None:
        business.save(conn, profile, actor_id)
        _add_missing_faq(conn, actor_id)

    await db.write(body, priority=Priority.DECISION)


async def add_faq_examples(db: Store, actor_id: int | None) -> int:
    """The sample FAQ entries (the checklist's examples) that are not there yet."""
    return await db.write(lambda conn: _add_missing_faq(conn, actor_id), priority=Priority.DECISION)
