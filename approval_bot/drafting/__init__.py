"""Drafting replies: the Drafter interface, the built-in and OpenAI-compatible drafters,
draft checks, and the service that drafts after the webhook has answered."""

from __future__ import annotations

from ..intents import Intent
from .base import DraftContext, Drafter, DraftResult, DraftUnavailable, FaqEntry, Turn
from .service import DraftingService, NotRegenerable, build_drafter

__all__ = [
    "DraftContext",
    "DraftResult",
    "DraftUnavailable",
    "Drafter",
    "DraftingService",
    "FaqEntry",
    "Intent",
    "NotRegenerable",
    "Turn",
    "build_drafter",
    "regenerate",
]


async def regenerate(drafting: DraftingService, message_id: str, actor_id: int | None) -> str:
    """Make a new draft version for a pending draft or a NEEDS_REVIEW message; returns its id.

    `drafting` is the app's service (`request.state.drafting`). The old draft is
    superseded through the workflow funnel.
    """
    return await drafting.regenerate(message_id, actor_id)
