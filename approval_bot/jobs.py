"""Background jobs: archive idle conversations, draft what a crash left behind, send
reviewers the digest of texts held through their quiet hours, climb the review-deadline
ladder, and prune spent codes and idempotency keys.

With several instances on one PostgreSQL database each job runs on one instance at a time
(`once_across_instances`: the others skip their tick).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import draft_notices, ladder, review, workflow
from .config import Settings
from .draft_codes import prune_codes
from .drafting import DraftingService
from .models import ConversationEvent, ConversationState
from .scheduler import once_across_instances, wake_sender
from .store import Priority, Store, Tx, conversations
from .store import sending as sending_rows

ARCHIVE_JOB_ID = "archive-idle-conversations"
RECOVERY_JOB_ID = "draft-recovery"
ARCHIVE_EVERY = timedelta(minutes=10)
RECOVER_EVERY = timedelta(minutes=1)
DIGEST_JOB_ID = "quiet-hours-digest"
DIGEST_EVERY = timedelta(minutes=1)
PRUNE_JOB_ID = "prune-draft-codes"
PRUNE_EVERY = timedelta(hours=1)
PRUNE_KEYS_JOB_ID = "prune-idempotency-keys"
LADDER_JOB_ID = "review-deadline-ladder"
LADDER_EVERY = timedelta(minutes=1)


async def archive_idle(db: Store, after_hours: float) -> int:
    """Archive ACTIVE conversations idle for `after_hours`; returns how many."""
    cutoff = (datetime.now(UTC) - timedelta(hours=after_hours)).isoformat(timespec="microseconds")
    archived = 0
    for thread_id in await conversations.idle(db, ConversationState.ACTIVE, cutoff):
        archive = partial(_archive, thread_id, cutoff, after_hours)
        if await db.write(archive, priority=Priority.BULK):
            archived += 1
    return archived


def _archive(thread_id: str, cutoff: str, after_hours: float, conn: Tx) -> bool:
    """Archive one conversation if it is still ACTIVE and idle; whether it was.

    Read under the thread's lock: a text being stored now (it touches the conversation
    under the same lock) is seen once committed, and keeps the thread active.
    """
    now = conversations.lock(conn, thread_id)
    # a message may have arrived since the read: it keeps the thread active
    if now is None or now.state != ConversationState.ACTIVE:
        return False
    if now.last_activity_at >= cutoff:
        return False
    workflow.change_conversation_state(
        conn,
        thread_id,
        expected=ConversationState.ACTIVE,
        target=ConversationState.ARCHIVED,
        event=ConversationEvent.ARCHIVED,
        reason=f"no activity for {after_hours:g} hours",
    )
    return True


async def recover_undrafted(db: Store, drafting: DraftingService) -> int:
    """Ask for drafts of threads with messages or missed calls still waiting; returns how many.

    After a crash between storing and drafting these would wait forever; a thread already
    being drafted here is only asked once more, one being drafted by another instance is
    left to it.
    """
    threads = await sending_rows.undrafted_threads(db)
    for thread_id in threads:
        drafting.schedule(thread_id, unless_elsewhere=True)
    return len(threads)


async def digest_held_texts(db: Store, scheduler: AsyncIOScheduler) -> None:
    """Send reviewers whose quiet hours ended one digest of the drafts that waited."""
    if await draft_notices.send_digests(db):
        wake_sender(scheduler)


async def climb_ladder(db: Store, scheduler: AsyncIOScheduler) -> None:
    """Take the review-deadline steps that are due; wake the sender for the texts queued."""
    if (await ladder.run_pass(db)).texts:
        wake_sender(scheduler)


def register(
    scheduler: AsyncIOScheduler, db: Store, settings: Settings, drafting: DraftingService
) -> None:
    """Add the jobs; recovery also runs at once, for what the last run left behind."""
    scheduler.add_job(
        once_across_instances(db, ARCHIVE_JOB_ID, archive_idle),
        "interval",
        seconds=ARCHIVE_EVERY.total_seconds(),
        args=[db, settings.archive_after_hours],
        id=ARCHIVE_JOB_ID,
        replace_existing=True,
    )
    scheduler.add_job(
        once_across_instances(db, DIGEST_JOB_ID, digest_held_texts),
        "interval",
        seconds=DIGEST_EVERY.total_seconds(),
        args=[db, scheduler],
        id=DIGEST_JOB_ID,
        replace_existing=True,
    )
    scheduler.add_job(
        once_across_instances(db, LADDER_JOB_ID, climb_ladder),
        "interval",
        seconds=LADDER_EVERY.total_seconds(),
        args=[db, scheduler],
        id=LADDER_JOB_ID,
        replace_existing=True,
        max_instances=1,  # a pass still running is not overlapped; the next one catches up
    )
    scheduler.add_job(
        once_across_instances(db, PRUNE_JOB_ID, prune_codes),
        "interval",
        seconds=PRUNE_EVERY.total_seconds(),
        args=[db],
        id=PRUNE_JOB_ID,
        replace_existing=True,
    )
    scheduler.add_job(
        once_across_instances(db, PRUNE_KEYS_JOB_ID, review.prune_idempotency_keys),
        "interval",
        seconds=PRUNE_EVERY.total_seconds(),
        args=[db],
        id=PRUNE_KEYS_JOB_ID,
        replace_existing=True,
    )
    scheduler.add_job(
        once_across_instances(db, RECOVERY_JOB_ID, recover_undrafted),
        "interval",
        seconds=RECOVER_EVERY.total_seconds(),
        args=[db, drafting],
        id=RECOVERY_JOB_ID,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
