"""Drafting after the webhook has answered: one task per thread, coalescing, with fallback.

The webhook stores a message and asks for its thread to be drafted; the drafting task reads
the thread, asks the drafter, and writes the draft (or the reason there is none) in one
transaction. Several texts in a row give one live draft answering the latest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .. import directives, draft_notices, message_templates, review, workflow
from .. import profile as business
from ..config import Settings
from ..metrics import Metrics
from ..models import (
    Channel,
    ConversationState,
    Event,
    MessageMode,
    MessageStatus,
    MessageType,
    Sentiment,
)
from ..sms_text import bounded
from ..store import Priority, Reader, Store, Tx, conversations, missed_calls
from ..store import messages as message_rows
from ..store import templates as template_rows
from ..store.conversations import Thread
from ..store.missed_calls import WaitingCall
from ..understanding import Understanding, UnderstandingSource
from .base import DraftContext, Drafter, DraftResult, DraftUnavailable, Turn
from .builtin import TEMPLATE_KEYS, BuiltinDrafter, propose_facts

if TYPE_CHECKING:
    from .openai_compat import OpenAICompatDrafter

log = logging.getLogger(__name__)
S = MessageStatus
HISTORY_TURNS = 20


def build_drafter(
    settings: Settings, metrics: Metrics
) -> tuple[Drafter, OpenAICompatDrafter | None]:
    """The drafter `settings` ask for, and the OpenAI client to close at shutdown if any."""
    if settings.drafter != "openai":
        return BuiltinDrafter(), None
    # imported only here: the OpenAI client and its types hold ~40 MB a built-in app never uses
    from .openai_compat import FallbackDrafter, OpenAICompatDrafter

    assert settings.openai_model is not None  # load_settings insists on it
    remote = OpenAICompatDrafter(
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        api_key=str(settings.openai_api_key) if settings.openai_api_key else None,
        timeout=settings.draft_timeout_seconds,
        max_tokens=settings.draft_max_tokens,
    )
    return FallbackDrafter(remote, settings.draft_timeout_seconds, metrics), remote


@dataclass(frozen=True)
class _Work:
    """What a thread needs drafted: its latest waiting message, or a missed call's text-back."""

    inbound: Any | None  # the messages row to answer
    call_ids: tuple[int, ...]
    sender: str  # our address, which the reply comes from
    channel: str


def _work_from(latest: Any | None, calls: list[WaitingCall]) -> _Work | None:
    """What a thread needs drafted, from its latest waiting message and waiting calls."""
    if latest is None and not calls:
        return None
    call_ids = tuple(call.id for call in calls)
    if latest is not None:
        return _Work(latest, call_ids, latest["receiver"], latest["channel"])
    return _Work(None, call_ids, calls[-1].called, "sms")


def _is_closed(controls: Thread | None) -> bool:
    """Whether the bot may not draft on the thread: paused, opted out, closed, taken over."""
    return (
        controls is None
        or controls.paused
        or controls.opted_out
        or controls.state == ConversationState.CLOSED
        or controls.taken_over_by is not None
    )


def _refusal(thread_id: str, controls: Thread | None) -> review.ThreadClosed:
    """Why a reviewer's request for a draft is refused on a thread the bot may not draft."""
    if controls is None:
        return review.ThreadClosed(f"no conversation {thread_id}")
    if controls.opted_out:
        return review.ThreadClosed(
            f"{thread_id} has opted out; nothing can be sent until they text START"
        )
    if controls.paused:
        reason = f" ({controls.paused_reason})" if controls.paused_reason else ""
        return review.ThreadClosed(f"thread {thread_id} is paused{reason}; resume it first")
    if controls.state == ConversationState.CLOSED:
        return review.ThreadClosed(
            f"the conversation with {thread_id} is closed: the customer's next text opens it again"
        )
    return review.ThreadClosed(
        f"{controls.holder_name} has taken thread {thread_id} over: the bot drafts nothing on "
        "it until it is released"
    )


def _work_now(conn: Tx, thread_id: str) -> _Work | None:
    return _work_from(
        message_rows.latest_waiting_now(conn, thread_id),
        missed_calls.waiting_now(conn, thread_id),
    )


def _closed_now(conn: Tx, thread_id: str) -> bool:
    return _is_closed(conversations.thread(conn, thread_id))


def _meta(result: DraftResult, started: float) -> dict[str, Any]:
    return {
        "drafter": result.drafter,
        "model": result.model,
        "confidence": result.confidence,
        "intent": result.intent,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "findings": [finding.as_dict() for finding in result.findings],
        "fallback_reason": result.fallback_reason,
        "source": result.source,
        # what the model read in the text (source "model"); the conversation rules ran on
        # the built-in understanding stored on the customer's message when it arrived
        "understanding": (
            json.loads(result.understanding.to_json())
            if result.understanding is not None
            and result.understanding.source is UnderstandingSource.MODEL
            else None
        ),
    }


def _age_seconds(timestamp: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(timestamp)).total_seconds()


# a draft's mode by its intent; every other draft is a reply
_MODES = {"missed_call": MessageMode.MISSED_CALL, "booking": MessageMode.APPOINTMENT}


class NotRegenerable(ValueError):
    """Only a pending draft, or a customer's message waiting for review, can be redrafted."""


def _answered_by_newer(message_id: str, newer_id: str) -> NotRegenerable:
    """A draft for an older text would replace the draft of a newer one and leave that text
    on no work list: the thread's replies answer its latest text, and so the older ones."""
    return NotRegenerable(
        f"the customer wrote again after message {message_id}: message {newer_id}, which "
        "is being drafted or has a draft pending that answers both; regenerate or reject "
        "that draft instead"
    )


class NoOtherWording(NotRegenerable):
    """The drafter wrote the same text again: it has no other wording for this message."""


def _new_draft(
    conn: Tx,
    thread_id: str,
    work: _Work,
    result: DraftResult,
    meta: dict[str, Any],
    *,
    actor_id: int | None,
    version: int,
    reason: str,
    metadata: dict[str, Any],
) -> str:
    """Store a draft; it replaces the thread's other open replies and is announced to
    reviewers with its code."""
    draft_id = workflow.create_message(
        conn,
        type=MessageType.DRAFT,
        event=Event.DRAFT_CREATED,
        thread_id=thread_id,
        sender=work.sender,
        receiver=thread_id,
        body=result.body,
        channel=Channel(work.channel),
        actor_id=actor_id,
        in_reply_to_id=work.inbound["id"] if work.inbound is not None else None,
        draft_version=version,
        sentiment=result.sentiment,
        draft_meta=meta,
        metadata=metadata,
        mode=_MODES.get(result.intent, MessageMode.REPLY),
        template_key=result.template_key,
    )
    review.supersede_open_replies(conn, thread_id, draft_id, reason, actor_id)
    draft_notices.announce(conn, draft_id)
    return draft_id


def _store_draft(
    conn: Tx,
    thread_id: str,
    work: _Work,
    result: DraftResult,
    meta: dict[str, Any],
    *,
    actor_id: int | None,
    version: int,
    extra: dict[str, Any] | None = None,
) -> str:
    draft_id = _new_draft(
        conn,
        thread_id,
        work,
        result,
        meta,
        actor_id=actor_id,
        version=version,
        reason="a newer draft",
        metadata={
            "drafter": result.drafter,
            "intent": result.intent,
            "source": result.source,
            **(extra or {}),
        },
    )
    # every message still waiting on the thread, up to the one drafted for, is answered by
    # this one draft (a later one, stored meanwhile by another writer, gets its own)
    until = work.inbound["timestamp"] if work.inbound is not None else None
    waiting = message_rows.waiting_ids(conn, thread_id, until)
    for message_id in waiting:
        workflow.change_status(
            conn,
            message_id,
            expected=S.RECEIVED,
            target=S.DRAFT_PENDING_APPROVAL,
            event=Event.DRAFT_CREATED,
            actor_id=actor_id,
            metadata={"draft_id": draft_id},
        )
    for call_id in work.call_ids:
        missed_calls.drafted(conn, call_id, draft_id)
    if result.facts:
        workflow.change_facts(
            conn, thread_id, dict(result.facts), source=f"drafter {result.drafter}"
        )
    if result.sentiment is not Sentiment.UNKNOWN:
        conversations.set_sentiment(conn, thread_id, result.sentiment)
    if result.sentiment is Sentiment.NEGATIVE:
        workflow.flag_conversation(conn, thread_id, "the customer sounds unhappy")
    return draft_id


def _hold(conn: Tx, thread_id: str) -> None:
    """The thread was paused (or closed) before its draft: waiting messages are held, calls
    dropped; on a thread taken over meanwhile they go to Needs reply for its holder."""
    conversations.lock(conn, thread_id)
    review.give_back_texts(conn, thread_id, (S.RECEIVED,), None)
    waiting = message_rows.waiting_ids(conn, thread_id)
    for message_id in waiting:
        workflow.change_status(
            conn,
            message_id,
            expected=S.RECEIVED,
            target=S.PAUSED_THREAD,
            event=Event.HELD,
            metadata={"reason": "the thread was paused before a draft was made"},
        )
    thread = conversations.thread(conn, thread_id)
    if waiting and thread is not None and thread.state != ConversationState.CLOSED:
        # as a text arriving on a paused thread does: a human sees it on Attention
        workflow.flag_conversation(conn, thread_id, "a message arrived on a paused thread")
    missed_calls.all_dropped(conn, thread_id)


class DraftingService:
    """Runs drafting tasks after responses; tracked so shutdown can cancel and await them."""

    def __init__(
        self,
        db: Store,
        drafter: Drafter,
        metrics: Metrics,
        zone: ZoneInfo | None = None,
    ) -> None:
        self.db = db
        self.drafter = drafter
        self.metrics = metrics
        self.zone = zone or ZoneInfo("UTC")  # BUSINESS_TIMEZONE
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._closing = False

    def schedule(self, thread_id: str, *, unless_elsewhere: bool = False) -> None:
        """Draft `thread_id` soon; while its task runs, ask it to run once more instead.

        `unless_elsewhere` (the recovery job): not while another instance drafts the thread;
        what it leaves waiting the next recovery finds. After `aclose` it does nothing: the
        recovery job drafts what is left at next start.
        """
        if self._closing:
            return
        if thread_id in self._tasks:
            self._again.add(thread_id)
            return
        self._tasks[thread_id] = asyncio.create_task(self._run(thread_id, unless_elsewhere))

    async def schedule_after_response(self, thread_id: str) -> None:
        """`schedule`, as a coroutine a response's BackgroundTask runs on the event loop."""
        self.schedule(thread_id)

    async def _run(self, thread_id: str, unless_elsewhere: bool) -> None:
        try:
            while True:
                self._again.discard(thread_id)
                try:
                    await self._draft_held(thread_id, unless_elsewhere)
                except Exception:  # the recovery job retries what is still RECEIVED
                    log.exception("drafting thread %s failed", thread_id)
                unless_elsewhere = False  # asked again here: a text arrived meanwhile
                if thread_id not in self._again:
                    break
        finally:
            del self._tasks[thread_id]

    async def _draft_held(self, thread_id: str, unless_elsewhere: bool) -> None:
        """`draft_thread` under the thread's drafting lock (`Store.exclusive`, an advisory
        lock on PostgreSQL), which tells another instance's recovery job to leave the thread.

        A text that arrived here is drafted even while another instance holds the lock: its
        draft answers the latest text, the other's is then not stored.
        """
        async with self.db.exclusive(f"drafting {thread_id}") as mine:
            if not mine and unless_elsewhere:
                log.debug("thread %s is being drafted by another instance", thread_id)
                return
            await self.draft_thread(thread_id)

    async def wait_idle(self) -> None:
        """Return once no drafting task is running (tests and the benchmark use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel running drafts; what they leave RECEIVED the recovery job drafts later."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- reading a thread

    async def _work(self, conn: Reader, thread_id: str) -> _Work | None:
        latest = await message_rows.latest_waiting(conn, thread_id)
        return _work_from(latest, await missed_calls.waiting(conn, thread_id))

    async def _templates(
        self,
        conn: Reader,
        channel: str,
        sender: str,
        profile: business.Profile | None,
        facts: dict[str, object],
    ) -> dict[str, str]:
        """The drafter's templates usable on `channel`, filled in; a missing one is absent."""
        found = await template_rows.by_keys(conn, tuple(TEMPLATE_KEYS.values()))
        values = message_templates.variable_values(
            business_phone=sender, profile=profile, facts=facts
        )
        return {
            key: message_templates.render(body, values)
            for key, body, usable_on in found
            if usable_on in (message_templates.Channel.ANY, channel)
        }

    async def _context(
        self,
        conn: Reader,
        thread_id: str,
        inbound_row: Any | None,
        channel: str,
        sender: str,
        variant: int = 0,
    ) -> DraftContext:
        until = inbound_row["timestamp"] if inbound_row is not None else "9999"
        turns = await message_rows.history(conn, thread_id, until, HISTORY_TURNS)
        # drafters read the first WORK_CHARS of each message: the rest is stored, not worked on
        history = tuple(
            Turn(turn.type == MessageType.INBOUND, bounded(turn.body)) for turn in turns
        )
        guidance = await directives.load_guidance(conn, thread_id)
        thread = await conversations.read_thread(conn, thread_id)
        known = {} if thread is None else dict(json.loads(thread.facts))
        received = inbound_row["timestamp"] if inbound_row is not None else None
        profile = await business.load(conn)
        latest = bounded(inbound_row["body"]) if inbound_row is not None else ""
        # the name this text gives, else the conversation's, as the built-in drafter greets
        named = {**known, **propose_facts(latest)}
        return DraftContext(
            thread_id=thread_id,
            latest=latest,
            history=history,
            directives=guidance.directives,
            faq=guidance.faq,
            missed_call=inbound_row is None,
            has_media=inbound_row is not None and inbound_row["media"] not in ("[]", ""),
            facts=known,
            understood=(
                Understanding.from_json(inbound_row["understanding"])
                if inbound_row is not None and inbound_row["understanding"]
                else None
            ),
            received_at=datetime.fromisoformat(received) if received else None,
            # the profile's time zone is the business's: its hours are read in it
            zone=profile.zone if profile is not None else self.zone,
            templates=await self._templates(conn, channel, sender, profile, named),
            profile=profile,
            variant=variant,
        )

    async def _closed(self, conn: Reader, thread_id: str) -> bool:
        return _is_closed(await conversations.read_thread(conn, thread_id))

    # -- drafting a thread

    async def draft_thread(self, thread_id: str) -> str | None:
        """Draft the latest waiting message (or missed call) of a thread; returns the draft id.

        Returns None when there was nothing to draft, the thread is paused, a newer message
        arrived meanwhile (it gets the draft), or no draft could be made (NEEDS_REVIEW).
        """
        async with self.db.snapshot() as conn:
            work = await self._work(conn, thread_id)
            if work is None:
                return None
            closed = await self._closed(conn, thread_id)
            context = (
                None
                if closed
                else await self._context(conn, thread_id, work.inbound, work.channel, work.sender)
            )
        if context is None:
            await self.db.write(lambda conn: _hold(conn, thread_id), priority=Priority.DRAFT)
            return None
        started = time.perf_counter()
        try:
            result = await self.drafter.draft(context)
            if not result.body.strip():
                raise DraftUnavailable(f"{result.drafter} wrote an empty draft")
        except DraftUnavailable as error:
            await self._unavailable(thread_id, work, str(error))
            return None
        meta = _meta(result, started)

        def store(conn: Tx) -> str | None:
            # a pause or takeover being written now is read once it is committed
            conversations.lock(conn, thread_id)
            now_work = _work_now(conn, thread_id)
            target = work.inbound["id"] if work.inbound is not None else None
            current = now_work.inbound["id"] if now_work and now_work.inbound is not None else None
            if now_work is None or current != target:
                return None  # drafted elsewhere, or a newer message is waiting: it is next
            if _closed_now(conn, thread_id):
                _hold(conn, thread_id)
                return None
            return _store_draft(conn, thread_id, work, result, meta, actor_id=None, version=1)

        draft_id = await self.db.write(store, priority=Priority.DRAFT)
        if draft_id is None:
            return None
        self.metrics.drafts.labels(drafter=result.drafter).inc()
        if work.inbound is not None:
            self.metrics.inbound_to_draft_seconds.observe(_age_seconds(work.inbound["timestamp"]))
        return draft_id

    async def _unavailable(self, thread_id: str, work: _Work, reason: str) -> None:
        """No draft: waiting messages go to NEEDS_REVIEW and the conversation needs attention."""

        def give_up(conn: Tx) -> None:
            conversations.lock(conn, thread_id)
            waiting = message_rows.waiting_ids(conn, thread_id)
            calls = {call.id for call in missed_calls.waiting_now(conn, thread_id)}
            if not waiting and not calls.intersection(work.call_ids):
                return  # drafted meanwhile (by another instance): nothing was left undrafted
            for message_id in waiting:
                workflow.change_status(
                    conn,
                    message_id,
                    expected=S.RECEIVED,
                    target=S.NEEDS_REVIEW,
                    event=Event.DRAFT_FAILED,
                    metadata={"reason": reason},
                )
            for call_id in work.call_ids:
                missed_calls.dropped(conn, call_id)
            workflow.flag_conversation(conn, thread_id, f"no draft could be made: {reason}")

        await self.db.write(give_up, priority=Priority.DRAFT)
        self.metrics.drafts_unavailable.inc()

    # -- a reviewer asks for another draft

    async def regenerate(self, message_id: str, actor_id: int | None) -> str:
        """A new draft version for a pending draft, or for a customer's message in NEEDS_REVIEW.

        The old draft is superseded through the funnel (Conflict when someone acted on it
        first). Raises NotRegenerable, review.ThreadClosed, DraftUnavailable, UnknownRecord.
        """
        async with self.db.snapshot() as conn:
            row = await message_rows.read_row(conn, message_id)
            if row is None:
                raise workflow.UnknownRecord(f"no message {message_id}")
            is_draft = row["type"] == MessageType.DRAFT
            if is_draft and row["status"] == S.DRAFT_PENDING_APPROVAL:
                reply_to = row["in_reply_to_id"]
                inbound_row = await message_rows.read_row(conn, reply_to) if reply_to else None
                sender, version = row["sender"], int(row["draft_version"]) + 1
            elif row["type"] == MessageType.INBOUND and row["status"] == S.NEEDS_REVIEW:
                newer = await message_rows.read_newer_awaiting_draft(
                    conn, row["thread_id"], row["timestamp"]
                )
                if newer is not None:
                    raise _answered_by_newer(message_id, newer)
                inbound_row, sender = row, row["receiver"]
                version = await message_rows.last_version(conn, message_id) + 1
            else:
                raise NotRegenerable(
                    f"message {message_id} is a {row['status']} {row['type']}: only a pending "
                    "draft or a customer's message waiting for review can be redrafted"
                )
            thread_id = row["thread_id"]
            controls = await conversations.read_thread(conn, thread_id)
            if _is_closed(controls):
                raise _refusal(thread_id, controls)
            # each regeneration asks for the next wording: version 2 is variant 1
            context = await self._context(
                conn, thread_id, inbound_row, row["channel"], sender, variant=version - 1
            )
        started = time.perf_counter()
        result = await self.drafter.draft(context)
        if not result.body.strip():
            raise DraftUnavailable(f"{result.drafter} wrote an empty draft")
        if is_draft and result.body.strip() == row["body"].strip():
            raise NoOtherWording(
                f"{result.drafter} has no other wording for this message; "
                "edit the draft or write your own reply"
            )
        work = _Work(inbound_row, (), sender, row["channel"])
        meta = _meta(result, started)

        def store(conn: Tx) -> str:
            conversations.lock(conn, thread_id)
            controls = conversations.thread(conn, thread_id)
            if _is_closed(controls):
                raise _refusal(thread_id, controls)
            if not is_draft:
                # a text the customer sent meanwhile, drafted since: its draft answers both
                newer = message_rows.newer_awaiting_draft(conn, thread_id, row["timestamp"])
                if newer is not None:
                    raise _answered_by_newer(message_id, newer)
            # the old draft, when there is one, is among the open replies this supersedes
            draft_id = _new_draft(
                conn,
                thread_id,
                work,
                result,
                meta,
                actor_id=actor_id,
                version=version,
                reason="regenerated",
                metadata={
                    "drafter": result.drafter,
                    "regenerated_from": message_id,
                    "source": result.source,
                },
            )
            if not is_draft:
                workflow.change_status(
                    conn,
                    message_id,
                    expected=S.NEEDS_REVIEW,
                    target=S.DRAFT_PENDING_APPROVAL,
                    event=Event.DRAFT_CREATED,
                    actor_id=actor_id,
                    metadata={"draft_id": draft_id},
                )
            return draft_id

        draft_id = await self.db.write(store, priority=Priority.DRAFT)
        self.metrics.drafts.labels(drafter=result.drafter).inc()
        return draft_id
