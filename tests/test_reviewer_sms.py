"""Reviewers deciding by text: codes, decisions, refusals and their answers."""

from __future__ import annotations

import json

import pytest

from approval_bot import accounts, draft_notices, inbound, review, reviewer_sms
from approval_bot.inbound import InboundSms
from approval_bot.models import Channel, DecisionChannel, MessageStatus
from approval_bot.store import Store, sql
from tests.builders import (
    BUSINESS,
    first_start,
    make_draft,
    make_inbound,
    make_reviewer,
    status_of,
)
from tests.query_plans import trace

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


@pytest.fixture(autouse=True)
async def started(db) -> None:
    """The database as the app's first start leaves it (sandbox: the sending gate open)."""
    await first_start(db)


S = MessageStatus
CUSTOMER = "+14155550100"
ANA_PHONE = "+14155550111"


async def coded_draft(
    db: Store, customer: str = CUSTOMER, body: str = "Yes, 9 to 5."
) -> tuple[str, str]:
    draft = await make_draft(db, await make_inbound(db, customer), body)
    code = await db.write(lambda conn: draft_notices.issue_code(conn, draft))
    return draft, code


def said(answer: reviewer_sms.Answer) -> str:
    assert answer.text is not None, "expected an answer"
    return answer.text


@pytest.fixture
async def ana(db):
    return await make_reviewer(db, "Ana", phone=ANA_PHONE)


async def test_approve_by_code_is_a_decision_on_the_record(db, ana):
    draft, code = await coded_draft(db)

    answer = await reviewer_sms.answer(db, ana, f" a {code.lower()}. ")

    assert answer.approved and CUSTOMER in said(answer) and "goes out now" in said(answer)
    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    (approval,) = await db.all(sql("SELECT * FROM approvals WHERE draft_id = :id"), id=draft)
    assert (approval["channel"], approval["reviewer_phone"], approval["action"]) == (
        "sms",
        ANA_PHONE,
        "APPROVE",
    )


async def test_edit_by_code_sends_the_new_text_and_keeps_the_original(db, ana):
    draft, code = await coded_draft(db, body="Open 9-5")

    answer = await reviewer_sms.answer(db, ana, f"E {code} We are open 9 to 5, see you!")

    assert answer.approved
    old = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=draft)
    new = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=old["superseded_by"])
    assert (old["status"], old["body"]) == (S.SUPERSEDED, "Open 9-5")
    assert (new["status"], new["body"]) == (S.APPROVED_TO_SEND, "We are open 9 to 5, see you!")


async def test_reject_with_a_reason(db, ana):
    draft, code = await coded_draft(db)

    answer = await reviewer_sms.answer(db, ana, f"R {code} wrong hours")

    assert not answer.approved and "web queue" in said(answer)
    assert await status_of(db, draft) == S.REJECTED
    approval = await db.one(sql("SELECT notes FROM approvals WHERE draft_id = :id"), id=draft)
    assert approval["notes"] == "wrong hours"


async def test_a_decided_code_says_who_decided_and_when(db, ana):
    bob = await make_reviewer(db, "Bob", phone="+14155550112")
    draft, code = await coded_draft(db)
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))

    answer = await reviewer_sms.answer(db, bob, f"R {code}")

    assert said(answer).startswith(f"{code} was approved by Ana at ")
    assert said(answer).endswith(" UTC.")
    assert await status_of(db, draft) == S.APPROVED_TO_SEND
    assert len(await db.all(sql("SELECT 1 FROM approvals"))) == 1


async def test_a_replaced_code_names_its_replacement(db, ana):
    draft, code = await coded_draft(db)
    newer = await review.edit(
        db, draft, "Better words", review.Decision(ana.id, DecisionChannel.WEB), approve=False
    )
    # the new version got a code of its own when it was saved
    row = await db.one(sql("SELECT code FROM draft_codes WHERE message_id = :id"), id=newer)
    newer_code = row["code"]

    answer = await reviewer_sms.answer(db, ana, f"A {code}")

    assert said(answer) == f"{code} was replaced by {newer_code}."
    assert await status_of(db, newer) == S.DRAFT_PENDING_APPROVAL


async def test_a_code_whose_conversation_was_closed_says_so_not_replaced(db, ana):
    draft, code = await coded_draft(db)
    await review.close(db, CUSTOMER, ana.id)

    answer = await reviewer_sms.answer(db, ana, f"A {code}")

    # no newer draft exists to look for: the close withdrew this one
    assert said(answer) == (
        f"{code} was withdrawn: the conversation with {CUSTOMER} was closed. No drafts are waiting."
    )
    assert await status_of(db, draft) == S.SUPERSEDED


async def test_a_code_replaced_by_an_approved_edit_says_who_approved_it(db, ana):
    bob = await make_reviewer(db, "Bob", phone="+14155550112")
    draft, code = await coded_draft(db)
    newer = await review.edit(
        db, draft, "Better words", review.Decision(ana.id, DecisionChannel.WEB), approve=True
    )
    row = await db.one(sql("SELECT code FROM draft_codes WHERE message_id = :id"), id=newer)

    answer = await reviewer_sms.answer(db, bob, f"A {code}")

    # Bob learns the reply is decided, rather than to try the new code
    assert said(answer).startswith(
        f"{code} was replaced by {row['code']}; {row['code']} was edited and approved by Ana at "
    )
    assert len(await db.all(sql("SELECT 1 FROM approvals WHERE reviewer_id = :id"), id=bob.id)) == 0


@pytest.mark.parametrize("command", ["A", "R"])
@pytest.mark.parametrize("coded", [True, False])
async def test_the_code_of_a_customers_text_points_to_its_waiting_draft(db, ana, command, coded):
    # a text held as an opt-out in plain words got a code; KEEP had it drafted
    inbound_id = await make_inbound(db, CUSTOMER)
    text_code = await db.write(lambda conn: draft_notices.issue_code(conn, inbound_id))
    draft = await make_draft(db, inbound_id, "Yes, 9 to 5.")
    if coded:
        draft_code = await db.write(lambda conn: draft_notices.issue_code(conn, draft))

    answer = await reviewer_sms.answer(db, ana, f"{command} {text_code}")

    if coded:
        assert said(answer) == (
            f"{text_code} is the text from {CUSTOMER}. Its draft reply is {draft_code}: "
            f"reply A {draft_code} to send, R {draft_code} to reject."
        )
    else:
        assert said(answer) == (
            f"{text_code} is the text from {CUSTOMER}. Its draft reply waits in the web queue."
        )
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL


@pytest.mark.parametrize("text", ["ok", "yes", "Y", "👍", "A", "approve 7F3"])
async def test_a_bare_yes_approves_nothing_and_asks_for_the_code(db, ana, text):
    draft, code = await coded_draft(db)

    answer = await reviewer_sms.answer(db, ana, text)

    assert not answer.approved
    assert "Which draft?" in said(answer) and code in said(answer)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL


async def test_a_long_word_where_the_code_goes_is_not_texted_back_whole(db, ana):
    _, code = await coded_draft(db)
    word = "x" * 600  # one word, as a phone's paste or a stuck key makes it

    answer = await reviewer_sms.answer(db, ana, f"A {word}")

    assert "Which draft?" in said(answer) and code in said(answer)
    assert word not in said(answer)
    # one SMS segment of Twilio's GSM-7 alphabet holds 160 characters: the answer fits one
    assert len(said(answer)) <= 160


async def test_an_unknown_code_lists_the_open_ones(db, ana):
    _, code = await coded_draft(db)
    unknown = "ZZZZ" if code != "ZZZZ" else "YYYY"

    answer = await reviewer_sms.answer(db, ana, f"A {unknown}")

    assert said(answer) == f"No draft {unknown}. Open: {code}."


async def test_a_disabled_reviewer_is_refused_and_audited(db, ana):
    draft, code = await coded_draft(db)
    disabled = await accounts.disable_reviewer(db, "Ana")

    answer = await reviewer_sms.answer(db, disabled, f"A {code}")

    assert "disabled" in said(answer) and not answer.approved
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    refused = await db.one(
        sql("SELECT * FROM audit_log WHERE event = :event AND actor_id = :id"),
        event=reviewer_sms.REFUSED,
        id=ana.id,
    )
    assert json.loads(refused["metadata"])["text"] == f"A {code}"


async def test_error_answers_are_rate_limited_but_always_audited(db, ana):
    await coded_draft(db)

    answers = [await reviewer_sms.answer(db, ana, "what?") for _ in range(5)]

    assert [a.text is not None for a in answers] == [True, True, True, False, False]
    refusals = await db.all(
        sql("SELECT 1 FROM audit_log WHERE event = :event"), event=reviewer_sms.REFUSED
    )
    assert len(refusals) == 5
    # a good command still gets its answer
    assert said(await reviewer_sms.answer(db, ana, "L")).startswith("Open, oldest first")


async def test_pause_and_resume_by_code(db, ana):
    draft, code = await coded_draft(db)

    paused = await reviewer_sms.answer(db, ana, f"P {code}")
    again = await reviewer_sms.answer(db, ana, f"pause {code}.")
    held = await status_of(db, draft)
    resumed = await reviewer_sms.answer(db, ana, f"RESUME {code}")

    assert CUSTOMER in said(paused) and f"RESUME {code}" in said(paused)
    assert said(again) == f"{CUSTOMER} is paused already."
    assert held == S.PAUSED_THREAD
    assert "back for review" in said(resumed)
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert said(await reviewer_sms.answer(db, ana, f"RESUME {code}")) == (
        f"{CUSTOMER} is not paused."
    )


async def test_list_shows_at_most_five_oldest_first(db, ana):
    codes = [(await coded_draft(db, f"+1415555020{n}", f"answer {n}"))[1] for n in range(7)]

    answer = await reviewer_sms.answer(db, ana, "LIST")

    lines = said(answer).splitlines()[1:]
    assert [line.split()[0] for line in lines] == codes[:5]
    assert "answer 0" in lines[0]


async def test_codes_of_open_drafts_are_unique(db):
    codes = [(await coded_draft(db, f"+141555503{n:02d}"))[1] for n in range(60)]
    assert len(set(codes)) == 60


async def test_help(db, ana):
    answer = await reviewer_sms.answer(db, ana, "?")
    assert "A CODE" in said(answer) and "RESUME" in said(answer)


@pytest.mark.parametrize(("first", "then"), [("STOP", "START"), (None, "YES"), (None, "START")])
async def test_start_or_yes_from_a_reviewer_reads_their_row_once(db, backend, ana, first, then):
    if backend != "sqlite":
        pytest.skip("the statements are traced on SQLite's connections")
    if first is not None:
        await inbound.receive_sms(
            db, InboundSms("SM" + "a" * 32, ANA_PHONE, BUSINESS, first, Channel.SMS)
        )
    statements: list[str] = []
    assert await trace(db, statements.append) > 0
    try:
        received = await inbound.receive_sms(
            db, InboundSms("SM" + "b" * 32, ANA_PHONE, BUSINESS, then, Channel.SMS)
        )
    finally:
        await trace(db, None)
    assert received.outcome is inbound.Outcome.REVIEWER
    # who texted, and whether they had texted STOP: one read of their row
    reads = [
        text
        for text in statements
        if text.lstrip().upper().startswith("SELECT") and " reviewers" in text
    ]
    assert len(reads) == 1, reads


@pytest.mark.parametrize("first", ["E {} We open at 9.", "R {}", "A {}"])
async def test_two_commands_in_one_text_decide_nothing_and_say_so(db, ana, first):
    draft, code = await coded_draft(db)
    other, other_code = await coded_draft(db, "+14155550101")

    answer = await reviewer_sms.answer(db, ana, first.format(code) + f"\nA {other_code}")

    assert said(answer) == (
        f"Nothing was done: send one command per text. This one named {code} and {other_code}."
    )
    assert not answer.approved
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert await status_of(db, other) == S.DRAFT_PENDING_APPROVAL
    assert await db.all(sql("SELECT 1 FROM approvals")) == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("A 7F3K\nA 7F3K", "7F3K"),
        ("A 2222\nA 3333\nA 4444\nA 5555\nA 6666", "2222, 3333, 4444 and others"),
    ],
)
async def test_several_commands_are_named_once_and_briefly(db, ana, text, named):
    answer = await reviewer_sms.answer(db, ana, text)

    assert said(answer) == f"Nothing was done: send one command per text. This one named {named}."


async def test_a_clear_approval_with_what_phones_add_is_carried_out(db, ana):
    draft, code = await coded_draft(db)

    answer = await reviewer_sms.answer(db, ana, f"Ok, A {code.lower()}! Thanks 👍")

    assert answer.approved and said(answer).startswith(f"Approved {code}: ")
    assert await status_of(db, draft) == S.APPROVED_TO_SEND


async def coded_text(db: Store, customer: str = CUSTOMER) -> tuple[str, str]:
    """A customer's text with a code, as one held as an opt-out in plain words gets."""
    inbound_id = await make_inbound(db, customer)
    return inbound_id, await db.write(lambda conn: draft_notices.issue_code(conn, inbound_id))


async def test_the_code_of_a_text_being_drafted_says_so_in_a_sentence(db, ana):
    _, code = await coded_text(db)

    answer = await reviewer_sms.answer(db, ana, f"A {code}")

    assert said(answer) == (
        f"{code} is the text from {CUSTOMER}: its reply is being drafted. No drafts are waiting."
    )


async def test_the_code_of_a_text_needing_a_written_reply_says_so_in_a_sentence(db, ana):
    inbound_id, code = await coded_text(db)
    draft = await make_draft(db, inbound_id)
    await review.reject(db, draft, review.Decision(ana.id, DecisionChannel.WEB))

    answer = await reviewer_sms.answer(db, ana, f"R {code}")

    assert said(answer) == (
        f"{code} is the text from {CUSTOMER}: it needs a reply written on the web. "
        "No drafts are waiting."
    )


async def held_opt_out_request(db: Store) -> str:
    """A customer's "please stop texting me", held for a reviewer; its code."""
    await inbound.receive_sms(
        db, InboundSms("SM" + "c" * 32, CUSTOMER, BUSINESS, "please stop texting me", Channel.SMS)
    )
    (row,) = await db.all(sql("SELECT code FROM draft_codes"))
    return str(row["code"])


@pytest.mark.parametrize("command", ["A", "E {} Sorry to hear that.", "R"])
async def test_deciding_on_an_opt_out_requests_code_points_to_optout_and_keep(db, ana, command):
    code = await held_opt_out_request(db)
    text = command.format(code) if "{}" in command else f"{command} {code}"

    answer = await reviewer_sms.answer(db, ana, text)

    assert said(answer) == (
        f"{code} is the text from {CUSTOMER}, who may want to stop: reply OPTOUT {code} to "
        f"opt them out, KEEP {code} if it is not an opt-out."
    )
    assert await db.all(sql("SELECT 1 FROM messages WHERE type != 'INBOUND'")) == []


async def test_the_code_of_an_opted_out_customers_text_says_they_opted_out(db, ana):
    code = await held_opt_out_request(db)
    await reviewer_sms.answer(db, ana, f"OPTOUT {code}")

    answer = await reviewer_sms.answer(db, ana, f"A {code}")

    assert said(answer) == f"{code} is the text from {CUSTOMER}, who has opted out."


async def test_pausing_by_a_customers_text_code_names_the_customer(db, ana):
    code = await held_opt_out_request(db)

    answer = await reviewer_sms.answer(db, ana, f"P {code}")

    assert said(answer) == f"{CUSTOMER} is paused already."


async def test_an_edit_holding_the_pasted_notice_sends_nothing_and_says_why(db, ana):
    draft, code = await coded_draft(db)
    # the reviewer copied the notice's draft line to change a word, and forgot to cut it
    answer = await reviewer_sms.answer(db, ana, f'E {code} Draft: "Yes, 9 to 6."')

    assert said(answer) == (
        f"Not sent: your text holds lines of the draft notice. "
        f"Send E {code} and only the words for the customer."
    )
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL
    assert len(await db.all(sql("SELECT id FROM messages WHERE type = 'DRAFT'"))) == 1


@pytest.mark.parametrize("typed", ["7F30", "7FO3", "1F3K", "7F3I", "7f3l"])
async def test_a_code_typed_with_a_look_alike_is_refused_saying_which_characters_codes_lack(
    db, ana, typed
):
    draft, code = await coded_draft(db)

    answer = await reviewer_sms.answer(db, ana, f"A {typed}")

    # DESIGN §5: codes have no look-alikes, so none of these is guessed to be 7F3K
    assert said(answer) == (
        f"Which draft? {typed!r} is not a draft code (codes have no 0, O, 1, I or L). "
        f"Reply A CODE. Open: {code}."
    )
    assert await status_of(db, draft) == S.DRAFT_PENDING_APPROVAL


async def test_resume_by_code_has_the_texts_the_pause_held_drafted(db, ana):
    draft, code = await coded_draft(db)
    await reviewer_sms.answer(db, ana, f"P {code}")
    received = await inbound.receive_sms(
        db, InboundSms("SM" + "d" * 32, CUSTOMER, BUSINESS, "Hello? Still there?", Channel.SMS)
    )
    held = received.message_id
    assert held is not None and await status_of(db, held) == S.PAUSED_THREAD
    asked: list[str] = []

    answer = await reviewer_sms.answer(db, ana, f"RESUME {code}", asked.append)

    assert said(answer) == f"Resumed {CUSTOMER}; held replies are back for review."
    assert await status_of(db, held) == S.RECEIVED
    assert asked == [CUSTOMER]  # drafted now, as the web's Resume does, not a minute later
