"""The pages' read models, by their old names: they live in `store/views/`, one module per
page family (queue, menu, lists, threads, audit, guidance, reviewers).

Kept so code not yet moved to those modules keeps working; new code imports the views.
"""

from __future__ import annotations

from .store.views.audit import AuditFilter, audit_batches, audit_events, audit_page
from .store.views.common import Page, decode_cursor, encode_cursor, with_segments
from .store.views.guidance import guidance
from .store.views.lists import needs_review, paused_threads, threads_needing_attention
from .store.views.menu import MENU_COUNT_CAP, menu_counts
from .store.views.queue import (
    Outcome,
    awaiting_draft,
    card,
    claims_on,
    drafts,
    outcomes,
    pending_after,
    queue,
)
from .store.views.reviewers import reviewer_names
from .store.views.threads import Thread, message, thread, threads

__all__ = [
    "MENU_COUNT_CAP",
    "AuditFilter",
    "Outcome",
    "Page",
    "Thread",
    "audit_batches",
    "audit_events",
    "audit_page",
    "awaiting_draft",
    "card",
    "claims_on",
    "decode_cursor",
    "drafts",
    "encode_cursor",
    "guidance",
    "menu_counts",
    "message",
    "needs_review",
    "outcomes",
    "paused_threads",
    "pending_after",
    "queue",
    "reviewer_names",
    "thread",
    "threads",
    "threads_needing_attention",
    "with_segments",
]
