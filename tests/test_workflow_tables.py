"""The transition tables against DESIGN §4 and §5, written out here row by row.

Compared both ways: a row missing from the module and a row the design does not have
both fail. Nothing here is derived from the tables under test.
"""

from __future__ import annotations

from approval_bot import workflow
from approval_bot.models import ConversationEvent as CE
from approval_bot.models import ConversationState as C
from approval_bot.models import Event as E
from approval_bot.models import MessageStatus as S
from approval_bot.models import MessageType as T

I, D, O = T.INBOUND, T.DRAFT, T.OUTBOUND  # noqa: E741  (the type column of DESIGN §4)
NEW = None  # "—" in DESIGN §4: the row is being created

# (type, from, event, to)
DESIGN_MESSAGE_ROWS = {
    # §4 "INBOUND | — | webhook stored | RECEIVED"
    (I, NEW, E.STORED, S.RECEIVED),
    # §5 inbound: "paused? PAUSED_THREAD : RECEIVED"
    (I, NEW, E.HELD, S.PAUSED_THREAD),
    # §4 "INBOUND | RECEIVED | draft created | DRAFT_PENDING_APPROVAL"
    (I, S.RECEIVED, E.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
    # §4 "INBOUND | RECEIVED | drafter failed, timed out, skipped or flagged | NEEDS_REVIEW"
    (I, S.RECEIVED, E.DRAFT_FAILED, S.NEEDS_REVIEW),
    # §4 "INBOUND | RECEIVED | thread paused / opted out | PAUSED_THREAD"
    (I, S.RECEIVED, E.HELD, S.PAUSED_THREAD),
    # §4 "INBOUND | DRAFT_PENDING_APPROVAL | its draft rejected | NEEDS_REVIEW"
    (I, S.DRAFT_PENDING_APPROVAL, E.DRAFT_REJECTED, S.NEEDS_REVIEW),
    # §5 review: "regenerate" a message that needs review
    (I, S.NEEDS_REVIEW, E.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
    # §4 "DRAFT | — | drafter output | DRAFT_PENDING_APPROVAL"
    (D, NEW, E.DRAFT_CREATED, S.DRAFT_PENDING_APPROVAL),
    # §4 "EDIT (new row, version n+1)"; §5 "save keeps it pending"
    (D, NEW, E.EDIT, S.DRAFT_PENDING_APPROVAL),
    (O, NEW, E.EDIT, S.DRAFT_PENDING_APPROVAL),
    # §4 "OUTBOUND | — | reviewer wrote the reply | APPROVED_TO_SEND"
    (O, NEW, E.HUMAN_REPLY, S.APPROVED_TO_SEND),
    # §4 "DRAFT | DRAFT_PENDING_APPROVAL | APPROVE | APPROVED_TO_SEND"
    (D, S.DRAFT_PENDING_APPROVAL, E.APPROVE, S.APPROVED_TO_SEND),
    (O, S.DRAFT_PENDING_APPROVAL, E.APPROVE, S.APPROVED_TO_SEND),
    # §4 "DRAFT | DRAFT_PENDING_APPROVAL | REJECT | REJECTED"
    (D, S.DRAFT_PENDING_APPROVAL, E.REJECT, S.REJECTED),
    (O, S.DRAFT_PENDING_APPROVAL, E.REJECT, S.REJECTED),
    # §4 "DRAFT | DRAFT_PENDING_APPROVAL | EDIT (new row, version n+1) | SUPERSEDED (old row)"
    (D, S.DRAFT_PENDING_APPROVAL, E.EDIT, S.SUPERSEDED),
    (O, S.DRAFT_PENDING_APPROVAL, E.EDIT, S.SUPERSEDED),
    # §5 inbound: "older pending drafts of that thread are superseded"
    (D, S.DRAFT_PENDING_APPROVAL, E.SUPERSEDED, S.SUPERSEDED),
    (O, S.DRAFT_PENDING_APPROVAL, E.SUPERSEDED, S.SUPERSEDED),
    # §4 "a draft held by a pause goes back to review on resume; it is never sent silently"
    (D, S.DRAFT_PENDING_APPROVAL, E.HELD, S.PAUSED_THREAD),
    (O, S.DRAFT_PENDING_APPROVAL, E.HELD, S.PAUSED_THREAD),
    (D, S.PAUSED_THREAD, E.RELEASED, S.DRAFT_PENDING_APPROVAL),
    (O, S.PAUSED_THREAD, E.RELEASED, S.DRAFT_PENDING_APPROVAL),
    # §4 "DRAFT, OUTBOUND | APPROVED_TO_SEND | gateway accepted | SENT"
    (D, S.APPROVED_TO_SEND, E.SEND_ACCEPTED, S.SENT),
    (O, S.APPROVED_TO_SEND, E.SEND_ACCEPTED, S.SENT),
    # §4 "DRAFT, OUTBOUND | APPROVED_TO_SEND | permanent error / retries spent | FAILED_SEND"
    (D, S.APPROVED_TO_SEND, E.SEND_FAILED, S.FAILED_SEND),
    (O, S.APPROVED_TO_SEND, E.SEND_FAILED, S.FAILED_SEND),
    # §4 "DRAFT, OUTBOUND | APPROVED_TO_SEND | thread paused or opted out before send |
    # PAUSED_THREAD"
    (D, S.APPROVED_TO_SEND, E.HELD, S.PAUSED_THREAD),
    (O, S.APPROVED_TO_SEND, E.HELD, S.PAUSED_THREAD),
    # §5 sending: "the version is still the latest" (a newer version supersedes it)
    (D, S.APPROVED_TO_SEND, E.SUPERSEDED, S.SUPERSEDED),
    (O, S.APPROVED_TO_SEND, E.SUPERSEDED, S.SUPERSEDED),
    # §5 sending: "no newer inbound since approval → back to review"
    (D, S.APPROVED_TO_SEND, E.CUSTOMER_WROTE_AGAIN, S.DRAFT_PENDING_APPROVAL),
    (O, S.APPROVED_TO_SEND, E.CUSTOMER_WROTE_AGAIN, S.DRAFT_PENDING_APPROVAL),
    # issue 14: "on reopening, approved replies older than GATE_STALE_MINUTES go back to review"
    (D, S.APPROVED_TO_SEND, E.GATE_RETURNED, S.DRAFT_PENDING_APPROVAL),
    (O, S.APPROVED_TO_SEND, E.GATE_RETURNED, S.DRAFT_PENDING_APPROVAL),
    # issue 14: "the automatic reply is an OUTBOUND message approved by the pre-approval"
    (O, NEW, E.AUTO_REPLY, S.APPROVED_TO_SEND),
    # issue 14: "the chosen template is sent with content_sid and content_variables"
    (O, NEW, E.TEMPLATE_REPLY, S.APPROVED_TO_SEND),
    # issue 14: "a 63016 answer from Twilio sends the reply back to review"
    (D, S.APPROVED_TO_SEND, E.WINDOW_CLOSED, S.DRAFT_PENDING_APPROVAL),
    (O, S.APPROVED_TO_SEND, E.WINDOW_CLOSED, S.DRAFT_PENDING_APPROVAL),
    # issue 13: "while taken over the bot drafts nothing; every new customer text lands in
    # Needs reply"; "after a human's reply, a new customer text ... goes to Needs reply"
    (I, NEW, E.FOR_HUMAN, S.NEEDS_REVIEW),
    (I, S.RECEIVED, E.FOR_HUMAN, S.NEEDS_REVIEW),
    # "texts held by a pause come back on Resume (to drafting, or to Needs reply when taken
    # over)"
    (I, S.PAUSED_THREAD, E.FOR_HUMAN, S.NEEDS_REVIEW),
    (I, S.PAUSED_THREAD, E.BACK_TO_DRAFTING, S.RECEIVED),
    # "until a human answers, drafts, or dismisses it": marked as dealt with, a text whose
    # reply failed to send waits on Needs reply
    (I, S.DRAFT_PENDING_APPROVAL, E.FOR_HUMAN, S.NEEDS_REVIEW),
    # "release ... if the latest customer text is unanswered, it is drafted at once"
    (I, S.NEEDS_REVIEW, E.BACK_TO_DRAFTING, S.RECEIVED),
    # a manager's reply on a paused thread, and a close: "open replies are superseded"
    (D, S.PAUSED_THREAD, E.SUPERSEDED, S.SUPERSEDED),
    (O, S.PAUSED_THREAD, E.SUPERSEDED, S.SUPERSEDED),
}

# (from, event, to); DESIGN §4 "Conversation state"
DESIGN_CONVERSATION_ROWS = {
    # "ACTIVE (default)"
    (NEW, CE.OPENED, C.ACTIVE),
    # "NEEDS_ATTENTION (a draft failed, negative sentiment, escalation, ...)", from any state
    (C.ACTIVE, CE.FLAGGED, C.NEEDS_ATTENTION),
    (C.NEEDS_ATTENTION, CE.FLAGGED, C.NEEDS_ATTENTION),
    (C.ARCHIVED, CE.FLAGGED, C.NEEDS_ATTENTION),
    # a reviewer resolves it
    (C.NEEDS_ATTENTION, CE.RESOLVED, C.ACTIVE),
    # "ARCHIVED (no activity for ARCHIVE_AFTER_HOURS)"; "NEEDS_ATTENTION is never archived"
    (C.ACTIVE, CE.ARCHIVED, C.ARCHIVED),
    # "a text to an ARCHIVED ... conversation starts the next contact"
    (C.ARCHIVED, CE.REACTIVATED, C.ACTIVE),
    # issue 13: "close ...: the conversation becomes CLOSED"; "A new text from that
    # customer opens the next contact (as an archived thread does)"
    (C.ACTIVE, CE.CLOSED, C.CLOSED),
    (C.NEEDS_ATTENTION, CE.CLOSED, C.CLOSED),
    (C.ARCHIVED, CE.CLOSED, C.CLOSED),
    (C.CLOSED, CE.REACTIVATED, C.ACTIVE),
    # NEEDS_ATTENTION "from any state": a send claimed before the close can fail after it
    (C.CLOSED, CE.FLAGGED, C.NEEDS_ATTENTION),
}


def test_the_message_table_is_the_design_row_for_row():
    table = {(t.type, t.source, t.event, t.target) for t in workflow.MESSAGE_TRANSITIONS}
    assert table - DESIGN_MESSAGE_ROWS == set(), "rows the design does not have"
    assert DESIGN_MESSAGE_ROWS - table == set(), "design rows the table lacks"
    assert len(workflow.MESSAGE_TRANSITIONS) == 47


def test_the_conversation_table_is_the_design_row_for_row():
    table = set(workflow.CONVERSATION_TRANSITIONS)
    assert table - DESIGN_CONVERSATION_ROWS == set(), "rows the design does not have"
    assert DESIGN_CONVERSATION_ROWS - table == set(), "design rows the table lacks"
    assert len(workflow.CONVERSATION_TRANSITIONS) == 12
