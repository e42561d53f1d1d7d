"""The first-run setup checklist: five steps an admin finishes or skips.

A step is done when what it asks for exists (a profile, a few FAQ entries, reviewers with
phones, a texted conversation) or when an admin marked it so (the Twilio check marks its
own step); skipped when an admin said so. Each mark is one write with its audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from . import audit
from .models import Actor, now_iso
from .store import Priority, Store, Tx
from .store import guidance as guidance_rows

EVENT = "Marked Setup Step"
FEW_FAQ = 3  # "a few FAQ entries"
FEW_REVIEWERS = 2  # someone besides the admin can approve
STEPS = ("profile", "faq", "reviewers", "twilio", "simulator")
TITLES = {
    "profile": "Fill in the business profile",
    "faq": "Add a few FAQ entries",
    "reviewers": "Add reviewers and their phones",
    "twilio": "Connect Twilio",
    "simulator": "Try it in the simulator",
}
State = Literal["done", "skipped", "open"]


class UnknownStep(ValueError):
    """Not one of the checklist's steps."""


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    state: State


async def _present(db: Store) -> set[str]:
    """The steps whose work exists in the database, whatever was marked."""
    row = await guidance_rows.setup_present(db)
    present = set()
    if row["profile"]:
        present.add("profile")
    if row["faq"] >= FEW_FAQ:
        present.add("faq")
    if row["reviewers"] >= FEW_REVIEWERS:
        present.add("reviewers")
    if row["simulator"]:
        present.add("simulator")
    return present


async def checklist(db: Store) -> list[Step]:
    """Every step with its state, in order. This is a read-only operation."""
    marked = await guidance_rows.setup_marks(db)
    present = await _present(db)
    steps = []
    for key in STEPS:
        state = "done" if key in present else cast(State, marked.get(key, "open"))
        steps.append(Step(key, TITLES[key], state))
    return steps


async def finished(db: Store) -> bool:
    """Whether every step is done or skipped. This is a read-only operation."""
    return all(step.state != "open" for step in await checklist(db))


def _mark(conn: Tx, step: str, state: str, actor_id: int | None) -> None:
    guidance_rows.mark_setup_step(conn, step, state, now_iso(), actor_id)
    audit.record(
        conn,
        audit.AuditEvent(
            EVENT,
            actor=Actor.SYSTEM if actor_id is None else Actor.HUMAN,
            actor_id=actor_id,
            metadata={"step": step, "state": state},
        ),
    )


async def mark(
    db: Store, step: str, state: Literal["done", "skipped"], actor_id: int | None
) -> None:
    """Mark a step done or skipped; UnknownStep for anything else."""
    if step not in STEPS:
        raise UnknownStep(f"there is no setup step {step!r}")
    await db.write(lambda conn: _mark(conn, step, state, actor_id), priority=Priority.DECISION)
