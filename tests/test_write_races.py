"""Two write transactions on one thread or draft at the same moment.

On PostgreSQL write transactions run side by side (READ COMMITTED), so a transaction that
reads a thread's pause, holder, a draft's claim or an idempotency key and then writes
must not act on what another transaction is changing. Each test holds the first
transaction inside its write (a gate on the store function that writes), starts the
second, and checks what people notice once both are done: one pause and one Conflict,
one holder, one claim, one reply. On SQLite the one writer runs them one after the other;
the same outcome is expected there. The `..._between_the_read_and_...` tests force the
competing write inside the transaction, which shows the guarded UPDATEs on both backends.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from approval_bot import claims, delivery_callbacks, directives, review, signin_limits, workflow
from approval_bot.inbound import InboundSms, Outcome, receive_sms
from approval_bot.models import Channel, DecisionChannel, Event, Role, iso
from approval_bot.store import Store, Tx, conversations
from approval_bot.store import approvals as approval_rows
from approval_bot.store import claims as claim_rows
from approval_bot.store import guidance as guidance_rows
from approval_bot.store import messages as message_rows
from approval_bot.store import reviewers as reviewer_rows
from approval_bot.store.sql import sql
from tests.builders import BUSINESS, first_start, make_draft, make_inbound, make_reviewer

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

THREAD = "+14155550100"
OTHER_THREAD = "+14155550111"
WAIT_S = 20.0  # at most, for a transaction to reach its gate (a busy machine)
OVERLAP_S = 0.3  # how long the second transaction is given to run past the first's lock


class Gate:
    """A store function whose first call waits, inside its write transaction, until opened
    (before it runs, or with `after` once it has run). The later calls (the competing
    transaction's) run straight through.
    """

    def __init__(self, fn: Callable[..., Any], *, after: bool = False) -> None:
        self._fn, self._after = fn, after
        self._guard = threading.Lock()
        self._used = False
        self.reached = threading.Event()
        self._opened = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._guard:
            first, self._used = not self._used, True
        if not first:
            return self._fn(*args, **kwargs)
        result = self._fn(*args, **kwargs) if self._after else None
        self.reached.set()
        if not self._opened.wait(WAIT_S):
            raise TimeoutError("the test never opened the gate")
        return result if self._after else self._fn(*args, **kwargs)

    def open(self) -> None:
        self._opened.set()


async def at_once(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    first: Callable[[], Awaitable[Any]],
    second: Callable[[], Awaitable[Any]],
    *,
    after: bool = False,
) -> tuple[bool, Any, Any]:
    """Run `first` until it calls `module.name` (or, with `after`, until that call is
    done), then start `second`; both outcomes (a result or the exception raised) and
    whether `second` was still waiting for `first` a moment later."""
    gate = Gate(getattr(module, name), after=after)
    monkeypatch.setattr(module, name, gate)
    one = asyncio.ensure_future(first())
    try:
        assert await asyncio.to_thread(gate.reached.wait, WAIT_S), f"{name} was never called"
        two = asyncio.ensure_future(second())
        await asyncio.sleep(OVERLAP_S)
        waited = not two.done()
    finally:
        gate.open()
    results = await asyncio.gather(one, two, return_exceptions=True)
    return waited, results[0], results[1]


async def thread_events(db: Store, thread_id: str = THREAD) -> list[str]:
    """The audit rows of the thread itself (not of its messages), oldest first."""
    rows = await db.all(
        sql("SELECT event FROM audit_log WHERE thread_id = :t AND message_id IS NULL ORDER BY id"),
        t=thread_id,
    )
    return [row["event"] for row in rows]


async def message_events(db: Store, message_id: str) -> list[str]:
    rows = await db.all(
        sql("SELECT event FROM audit_log WHERE message_id = :m ORDER BY id"), m=message_id
    )
    return [row["event"] for row in rows]


async def controls(db: Store, thread_id: str = THREAD) -> conversations.Thread:
    thread = await conversations.read_thread(db, thread_id)
    assert thread is not None
    return thread


# -- 1. pause and resume


async def test_two_pauses_at_once_are_one_pause_and_a_conflict_naming_the_first(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "set_pause",
        lambda: review.pause_thread(db, THREAD, "Ana's pause", ana.id),
        lambda: review.pause_thread(db, THREAD, "Ben's pause", ben.id),
    )
    assert waited  # the second read the thread only once the first had committed
    assert first is None
    assert isinstance(second, workflow.Conflict)
    assert "is already paused" in str(second) and "Ana" in str(second)
    assert (await controls(db)).paused_reason == "Ana's pause"
    assert await thread_events(db) == ["Conversation Opened", "Thread Paused"]


async def test_two_resumes_at_once_are_one_resume_and_a_conflict(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    await review.pause_thread(db, THREAD, "a look first", ana.id)
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "lift_pause",
        lambda: review.resume_thread(db, THREAD, ana.id),
        lambda: review.resume_thread(db, THREAD, ben.id),
    )
    assert waited
    assert first is False  # nothing was held: the text waited for its draft all along
    assert isinstance(second, workflow.Conflict) and "is not paused" in str(second)
    assert not (await controls(db)).paused
    assert (await thread_events(db))[1:] == ["Thread Paused", "Thread Resumed"]


async def test_a_pause_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    # what a writer outside the thread's lock would do: pause the thread after
    # set_paused read it unpaused; the guarded UPDATE then matches nothing
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    real = conversations.set_pause

    def raced(conn: Tx, thread_id: str, **kwargs: Any) -> int:
        conn.run(
            sql(
                "UPDATE thread_controls SET paused = 1, pause_kind = 'reviewer'"
                " WHERE thread_id = :t"
            ),
            t=thread_id,
        )
        return real(conn, thread_id, **kwargs)

    monkeypatch.setattr(conversations, "set_pause", raced)
    with pytest.raises(workflow.Conflict, match="is already paused"):
        await review.pause_thread(db, THREAD, "mine", ana.id)
    assert not (await controls(db)).paused  # rolled back whole
    assert await thread_events(db) == ["Conversation Opened"]


async def test_a_resume_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    await review.pause_thread(db, THREAD, "a look first", ana.id)
    real = conversations.lift_pause

    def raced(conn: Tx, thread_id: str, **kwargs: Any) -> int:
        conn.run(
            sql("UPDATE thread_controls SET paused = 0, pause_kind = NULL WHERE thread_id = :t"),
            t=thread_id,
        )
        return real(conn, thread_id, **kwargs)

    monkeypatch.setattr(conversations, "lift_pause", raced)
    with pytest.raises(workflow.Conflict, match="not paused"):
        await review.resume_thread(db, THREAD, ana.id)
    assert (await controls(db)).paused
    assert await thread_events(db) == ["Conversation Opened", "Thread Paused"]


async def test_an_escalation_during_a_pause_flags_the_paused_thread(db, monkeypatch):
    # the escalation reads the pause the first transaction made, as it does on one writer:
    # no second pause, no Conflict; the thread needs attention with its reason
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "set_pause",
        lambda: review.pause_thread(db, THREAD, "Ana's pause", ana.id),
        lambda: review.escalate(db, THREAD, "angry customer", ben.id),
    )
    assert waited and first is None and second is None
    thread = await controls(db)
    assert thread.paused_reason == "Ana's pause"
    assert thread.attention_reason == "angry customer"
    assert await thread_events(db) == [
        "Conversation Opened",
        "Thread Paused",
        "Conversation Needs Attention",
    ]


# -- opt-outs and new conversations through the customer's texts


def _sms(body: str, thread_id: str = THREAD) -> InboundSms:
    return InboundSms("SM" + uuid.uuid4().hex, thread_id, BUSINESS, body, Channel.SMS)


async def test_two_stops_at_once_opt_the_customer_out_once(db, monkeypatch):
    await make_inbound(db, THREAD)
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "set_opted_out",
        lambda: receive_sms(db, _sms("STOP")),
        lambda: receive_sms(db, _sms("STOP")),
    )
    assert waited
    assert first.outcome is Outcome.OPTED_OUT and second.outcome is Outcome.OPTED_OUT
    thread = await controls(db)
    assert thread.opted_out and thread.paused
    events = await thread_events(db)
    assert events.count("Opted Out") == 1 and events.count("Thread Paused") == 1


async def test_an_opt_out_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    await make_inbound(db, THREAD)
    real = conversations.set_opted_out

    def raced(conn: Tx, thread_id: str, opted_out: bool) -> int:
        conn.run(sql("UPDATE conversations SET opted_out = 1 WHERE thread_id = :t"), t=thread_id)
        return real(conn, thread_id, opted_out)

    monkeypatch.setattr(conversations, "set_opted_out", raced)
    with pytest.raises(workflow.Conflict, match="opted out"):
        await db.write(
            lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=True, source="keyword")
        )
    assert not (await controls(db)).opted_out
    assert "Opted Out" not in await thread_events(db)


async def test_a_new_customers_two_first_texts_at_once_open_one_conversation(db, monkeypatch):
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "insert",
        lambda: receive_sms(db, _sms("Hi, are you open?")),
        lambda: receive_sms(db, _sms("And on Sundays?")),
        after=True,  # the first has inserted the conversation, not yet committed it
    )
    assert waited
    assert first.outcome is Outcome.STORED and second.outcome is Outcome.STORED
    rows = await db.all(
        sql("SELECT body FROM messages WHERE thread_id = :t ORDER BY timestamp"), t=THREAD
    )
    assert [row["body"] for row in rows] == ["Hi, are you open?", "And on Sundays?"]
    assert await thread_events(db) == ["Conversation Opened"]


# -- 2. take over and release


async def test_two_takeovers_at_once_leave_the_thread_with_the_first(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    waited, first, second = await at_once(
        monkeypatch,
        approval_rows,
        "take_over",
        lambda: review.take_over(db, THREAD, ana.id),
        lambda: review.take_over(db, THREAD, ben.id),
    )
    assert waited and first is None
    assert isinstance(second, review.HeldByOther) and second.holder == "Ana"
    thread = await controls(db)
    assert thread.holder_name == "Ana"
    assert (await thread_events(db)).count("Thread Taken Over") == 1


async def test_a_takeover_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    real = approval_rows.take_over

    def raced(conn: Tx, thread_id: str, reviewer_id: int, now: str, **kwargs: Any) -> int:
        conn.run(
            sql("UPDATE thread_controls SET taken_over_by = :r WHERE thread_id = :t"),
            r=ana.id,
            t=thread_id,
        )
        return real(conn, thread_id, reviewer_id, now, **kwargs)

    monkeypatch.setattr(approval_rows, "take_over", raced)
    with pytest.raises(workflow.Conflict, match="is taken over by Ana, not free"):
        await review.take_over(db, THREAD, ben.id)
    assert (await controls(db)).taken_over_by is None
    assert "Thread Taken Over" not in await thread_events(db)


async def test_two_releases_at_once_are_one_release(db, monkeypatch):
    ana = await make_reviewer(db, "Ana")
    boss = await make_reviewer(db, "Boss", role=Role.ADMIN)
    await make_inbound(db, THREAD)
    await review.take_over(db, THREAD, ana.id)
    waited, first, second = await at_once(
        monkeypatch,
        approval_rows,
        "give_back",
        lambda: review.release(db, THREAD, ana.id),
        lambda: review.release(db, THREAD, boss.id),
    )
    assert waited and first is True  # the text on Needs reply goes back to drafting
    assert isinstance(second, review.NothingToDo)
    assert (await controls(db)).taken_over_by is None
    assert (await thread_events(db)).count("Thread Released") == 1


async def test_a_release_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    await review.take_over(db, THREAD, ana.id)
    real = approval_rows.give_back

    def raced(conn: Tx, thread_id: str, now: str, **kwargs: Any) -> int:
        conn.run(
            sql("UPDATE thread_controls SET taken_over_by = NULL WHERE thread_id = :t"),
            t=thread_id,
        )
        return real(conn, thread_id, now, **kwargs)

    monkeypatch.setattr(approval_rows, "give_back", raced)
    with pytest.raises(workflow.Conflict, match="is free, not taken over by Ana"):
        await review.release(db, THREAD, ana.id)
    assert (await controls(db)).holder_name == "Ana"
    assert "Thread Released" not in await thread_events(db)


# -- 3. claims on a draft


async def test_two_claims_at_once_leave_the_draft_with_the_first(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    waited, first, second = await at_once(
        monkeypatch,
        claim_rows,
        "write",
        lambda: review.claim(db, draft, ana.id, 5.0),
        lambda: review.claim(db, draft, ben.id, 5.0),
    )
    assert waited
    assert isinstance(first, claims.Claim) and first.reviewer_name == "Ana"
    assert isinstance(second, claims.ClaimedByOther)
    assert str(second).startswith("Ana is editing this draft")
    held = await db.one(sql("SELECT reviewer_id FROM draft_claims WHERE draft_id = :d"), d=draft)
    assert held is not None and held["reviewer_id"] == ana.id
    assert (await message_events(db, draft)).count("Draft Claimed") == 1


async def test_two_claim_releases_at_once_are_one_release(db, monkeypatch):
    ana = await make_reviewer(db, "Ana")
    boss = await make_reviewer(db, "Boss", role=Role.ADMIN)
    draft = await make_draft(db, await make_inbound(db, THREAD))
    await review.claim(db, draft, ana.id, 5.0)
    waited, first, second = await at_once(
        monkeypatch,
        claim_rows,
        "end",
        lambda: review.release_claim(db, draft, ana.id),
        lambda: review.release_claim(db, draft, boss.id),
    )
    assert waited and first is None
    assert isinstance(second, review.NothingToDo)
    assert (await message_events(db, draft)).count("Draft Claim Released") == 1


async def test_an_approval_while_a_claim_is_taken_waits_and_is_refused(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    decision = review.Decision(ben.id, DecisionChannel.WEB)
    waited, first, second = await at_once(
        monkeypatch,
        claim_rows,
        "write",
        lambda: review.claim(db, draft, ana.id, 5.0),
        lambda: review.approve(db, draft, decision),
    )
    assert waited and isinstance(first, claims.Claim)
    assert isinstance(second, claims.ClaimedByOther)  # as it is once the claim is there
    assert Event.APPROVE not in await message_events(db, draft)


# -- 4. idempotency keys of reviewers' replies


async def _replies(db: Store, thread_id: str = THREAD) -> list[str]:
    rows = await db.all(
        sql("SELECT id FROM messages WHERE thread_id = :t AND type = 'OUTBOUND'"), t=thread_id
    )
    return [row["id"] for row in rows]


async def test_one_key_twice_at_once_sends_one_reply_and_replays_it(db, monkeypatch):
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    inbound = await make_inbound(db, THREAD)

    def reply() -> Awaitable[str]:
        return review.write_reply(
            db, THREAD, "Yes, daily.", ana.id, in_reply_to_id=inbound, idempotency_key="k1"
        )

    waited, first, second = await at_once(monkeypatch, approval_rows, "insert_key", reply, reply)
    assert waited
    assert isinstance(first, str) and second == first  # the second request replays the first
    assert await _replies(db) == [first]
    assert await message_events(db, first) == [Event.HUMAN_REPLY]


async def test_one_key_on_two_threads_at_once_is_a_reused_key_not_an_error(db, monkeypatch):
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    inbound = await make_inbound(db, THREAD)
    other = await make_inbound(db, OTHER_THREAD)
    # the two threads share no lock: on PostgreSQL the second may store the key first
    _, first, second = await at_once(
        monkeypatch,
        approval_rows,
        "insert_key",
        lambda: review.write_reply(
            db, THREAD, "Yes.", ana.id, in_reply_to_id=inbound, idempotency_key="k1"
        ),
        lambda: review.write_reply(
            db, OTHER_THREAD, "Yes.", ana.id, in_reply_to_id=other, idempotency_key="k1"
        ),
    )
    if isinstance(first, str):
        assert isinstance(second, review.KeyReused)
        assert await _replies(db) == [first] and await _replies(db, OTHER_THREAD) == []
    else:
        assert isinstance(first, review.KeyReused) and isinstance(second, str)
        assert await _replies(db) == [] and await _replies(db, OTHER_THREAD) == [second]


async def test_a_key_stored_between_the_read_and_the_insert_is_replayed(db, monkeypatch):
    # the key was read before the other request committed: the insert finds it taken,
    # this transaction's reply is rolled back and the request answered with the first's
    await first_start(db)
    ana = await make_reviewer(db, "Ana")
    inbound = await make_inbound(db, THREAD)
    first = await review.write_reply(
        db, THREAD, "Yes, daily.", ana.id, in_reply_to_id=inbound, idempotency_key="k1"
    )
    real, reads = approval_rows.key_use, []

    def key_use(conn: Tx, reviewer_id: int, key: str) -> approval_rows.KeyUse | None:
        reads.append(key)
        return None if len(reads) == 1 else real(conn, reviewer_id, key)

    monkeypatch.setattr(approval_rows, "key_use", key_use)
    again = await review.write_reply(
        db, THREAD, "Yes, daily.", ana.id, in_reply_to_id=inbound, idempotency_key="k1"
    )
    assert again == first
    assert len(reads) == 2  # the stale read, then the replay's
    assert await _replies(db) == [first]


# -- 5. the same kind elsewhere: facts, FAQ entries


async def test_two_fact_edits_at_once_keep_both(db, monkeypatch):
    ana, ben = await make_reviewer(db, "Ana"), await make_reviewer(db, "Ben")
    await make_inbound(db, THREAD)
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "set_facts",
        lambda: review.edit_facts(db, THREAD, {"name": "Dana"}, ana.id),
        lambda: review.edit_facts(db, THREAD, {"dog": "Rex"}, ben.id),
    )
    assert waited
    assert first == {"name": "Dana"}
    assert second == {"dog": "Rex", "name": "Dana"}
    assert json.loads((await controls(db)).facts) == {"dog": "Rex", "name": "Dana"}


async def test_one_faq_entry_removed_twice_at_once_is_removed_once(db, monkeypatch):
    ana = await make_reviewer(db, "Ana", role=Role.ADMIN)
    entry = await directives.add_faq(db, ("parking",), "Free parking behind the shop.", ana.id)
    _, first, second = await at_once(
        monkeypatch,
        guidance_rows,
        "delete_faq",
        lambda: directives.remove_faq(db, entry, ana.id),
        lambda: directives.remove_faq(db, entry, ana.id),
    )
    # whichever deletes first removes it; the other is told there is no such entry
    outcomes = sorted([first, second], key=lambda outcome: outcome is None)
    assert isinstance(outcomes[0], directives.InvalidGuidance) and outcomes[1] is None
    rows = await db.all(sql("SELECT metadata FROM audit_log WHERE event = :e"), e=directives.EVENT)
    removals = [json.loads(row["metadata"]) for row in rows]
    assert [row["action"] for row in removals] == ["add", "remove"]


async def test_two_first_directives_of_one_scope_at_once_each_record_what_they_replaced(
    db, monkeypatch
):
    ana = await make_reviewer(db, "Ana", role=Role.ADMIN)
    waited, first, second = await at_once(
        monkeypatch,
        guidance_rows,
        "put_directive",
        lambda: directives.set_directive(db, THREAD, "Sign off as Ana.", ana.id),
        lambda: directives.set_directive(db, THREAD, "Sign off as the team.", ana.id),
    )
    assert waited and first is None and second is None
    rows = await db.all(sql("SELECT metadata FROM audit_log WHERE event = :e"), e=directives.EVENT)
    changes = [json.loads(row["metadata"]) for row in rows]
    # the second waited for the first's row and replaced its text, not "nothing"
    assert [(c["previous"], c["body"]) for c in changes] == [
        (None, "Sign off as Ana."),
        ("Sign off as Ana.", "Sign off as the team."),
    ]
    assert await directives_now(db) == "Sign off as the team."


async def directives_now(db: Store) -> str:
    row = await db.one(sql("SELECT body FROM directives WHERE scope = :s"), s=THREAD)
    assert row is not None
    return str(row["body"])


# -- 6. sign-in attempts: the limit holds for guesses at the same moment


@pytest.mark.parametrize("shared", ["account", "address"])
async def test_the_last_allowed_guess_is_reserved_once_when_two_arrive_at_once(
    db, monkeypatch, shared
):
    # one guess is left for the account (or the address); two instances (or two writer
    # threads) reserve at once: before, both read the allowance, both inserted, and one
    # more password was checked than the limit allows
    now = datetime.now(UTC)
    limit = signin_limits.ACCOUNT_LIMIT if shared == "account" else signin_limits.ADDRESS_LIMIT

    def spent(conn: Tx) -> None:
        for n in range(limit - 1):
            account = "ana" if shared == "account" else f"guess{n}"
            address = "198.51.100.1" if shared == "address" else f"192.0.2.{n}"
            reviewer_rows.add_attempt(conn, account, address, iso(now - timedelta(minutes=1)))

    await db.write(spent)

    def reserve(n: int) -> Callable[[], Awaitable[int]]:
        account = "ana" if shared == "account" else f"late{n}"
        address = "198.51.100.1" if shared == "address" else f"203.0.113.{n}"
        return lambda: db.write(
            partial(signin_limits.reserve, account=account, address=address, now=now)
        )

    _, first, second = await at_once(
        monkeypatch, reviewer_rows, "add_attempt", reserve(1), reserve(2)
    )

    outcomes = sorted(type(result).__name__ for result in (first, second))
    assert outcomes == ["SignInRefused", "int"]
    column = "account = 'ana'" if shared == "account" else "address = '198.51.100.1'"
    rows = await db.all(sql(f"SELECT id FROM signin_attempts WHERE {column}"))
    assert len(rows) == limit


# -- a decision, a send's outcome or a delivery callback beside a customer's STOP


async def test_a_stop_and_an_approval_at_once_opt_out_and_approve_nothing(db, monkeypatch):
    # the approval waits for the STOP's thread lock and then finds the customer opted out;
    # before, it approved meanwhile and the STOP's hold of the thread's replies lost
    ana = await make_reviewer(db, "Ana")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    waited, first, second = await at_once(
        monkeypatch,
        conversations,
        "set_opted_out",
        lambda: receive_sms(db, _sms("STOP")),
        lambda: review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB)),
    )
    assert waited
    assert first.outcome is Outcome.OPTED_OUT  # the STOP is stored
    assert isinstance(second, review.ThreadClosed) and "opted out" in str(second)
    assert (await controls(db)).opted_out
    assert Event.APPROVE not in await message_events(db, draft)
    assert await db.all(sql("SELECT 1 FROM approvals WHERE draft_id = :d"), d=draft) == []


async def test_two_delivery_callbacks_at_once_never_move_the_status_back(db, monkeypatch):
    # Twilio's "sent" and "delivered" for one message, arriving together: "delivered" waits
    # for "sent" to be recorded, then moves on from it
    draft = await make_draft(db, await make_inbound(db, THREAD))
    sid = "SM" + "a" * 32
    await db.write(
        lambda conn: conn.run(
            sql(
                "UPDATE messages SET status = 'SENT', provider_sid = :sid,"
                " delivery_status = 'queued' WHERE id = :id"
            ),
            sid=sid,
            id=draft,
        )
    )
    waited, first, second = await at_once(
        monkeypatch,
        message_rows,
        "set_delivery_status",
        lambda: db.write(partial(delivery_callbacks.record, sid, "sent", None, None)),
        lambda: db.write(partial(delivery_callbacks.record, sid, "delivered", None, None)),
    )
    assert waited
    assert (first, second) == ("applied", "applied")
    row = await db.one(sql("SELECT delivery_status FROM messages WHERE id = :id"), id=draft)
    assert row is not None and row["delivery_status"] == "delivered"
    moves = await db.all(
        sql("SELECT metadata FROM audit_log WHERE message_id = :m AND event = :e ORDER BY id"),
        m=draft,
        e=delivery_callbacks.DELIVERY_UPDATE,
    )
    assert [
        (json.loads(m["metadata"])["from"], json.loads(m["metadata"])["to"]) for m in moves
    ] == [
        ("queued", "sent"),
        ("sent", "delivered"),
    ]
