"""Plain words everywhere: every enum member has a phrase, and no page shows a raw value."""

from __future__ import annotations

import inspect
import re
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from approval_bot import event_delivery, models, outbox, phrases, sending_gate
from approval_bot.app import create_app
from approval_bot.paths import TEMPLATES_DIR
from tests import ui_seed
from tests.webclient import Web

MODEL_ENUMS: list[type[StrEnum]] = [
    kind
    for _, kind in inspect.getmembers(models, inspect.isclass)
    if issubclass(kind, StrEnum) and kind.__module__ == models.__name__
]
SHOWN_ENUMS: list[type[StrEnum]] = [
    *MODEL_ENUMS,
    outbox.NotificationStatus,
    outbox.NotificationEvent,
    sending_gate.ComplianceStatus,
    event_delivery.DeliveryStatus,
]


@pytest.mark.parametrize("kind", SHOWN_ENUMS, ids=lambda k: k.__name__)
def test_every_member_has_a_phrase(kind):
    words = phrases.PHRASES[kind]
    assert set(words) == {m.value for m in kind}
    for member in kind:
        assert words[member].strip(), member


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        # the issue's own examples
        ("DRAFT_PENDING_APPROVAL", "MessageStatus", "Waiting for approval"),
        ("NEEDS_ATTENTION", "ConversationState", "Needs a person"),
        ("whatsapp", "Channel", "WhatsApp"),
        ("sms", "DecisionChannel", "by text"),
    ],
)
def test_phrases_say_it_in_words(value, kind, expected):
    assert phrases.phrase(value, kind) == expected


def test_a_pause_names_who_and_why():
    assert phrases.pause_phrase("reviewer", "owner will call", "Ana") == (
        "Paused by Ana: owner will call"
    )
    assert phrases.pause_phrase("opt_out", "opt-out") == "Customer opted out"
    assert (
        phrases.pause_phrase("escalation", "escalated: angry", None) == "Handed to a person: angry"
    )


@pytest.mark.parametrize(("confidence", "word"), [(0.3, "unsure"), (0.6, "unsure"), (0.9, "sure")])
def test_confidence_is_a_word(confidence, word):
    assert phrases.confidence_word(confidence) == word


def test_a_reply_says_sent_and_when_it_was_delivered():
    delivered = {
        "status": "SENT",
        "delivery_status": "delivered",
        "updated_at": "2026-12-01T14:03:09.000000+00:00",
    }
    assert phrases.sent_line(delivered) == "sent · delivered 14:03"
    failed = {"status": "FAILED_SEND", "error_code": 21211, "error_message": "Invalid 'To'"}
    assert phrases.sent_line(failed) == "not sent · Twilio error 21211: Invalid 'To'"


def test_an_audit_row_is_one_sentence():
    row = {
        "event": "Thread Paused",
        "actor": "Human",
        "actor_name": "Ana",
        "metadata": '{"from": "not paused", "reason": "owner will call"}',
    }
    assert phrases.event_sentence(row) == "Paused by Ana: owner will call"


def _raw_values() -> set[str]:
    """Enum values that read as codes, not English: CAPITALS, snake_case, Title Case events.

    One-word lowercase or capitalised values ("sms", "admin", "Approved") are also
    ordinary words a page may say, so they are left out of the search.
    """
    raw = set()
    for kind in SHOWN_ENUMS:
        for member in kind:
            value = member.value
            if re.fullmatch(r"[A-Z][A-Z_]+", value) or "_" in value or " " in value:
                raw.add(value)
    return raw


RAW = _raw_values()
SKIPPED_TAGS = {"script", "style"}
SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


class Visible(HTMLParser):
    """The text a reviewer reads (and hears): text nodes and labelling attributes.

    Elements marked `data-raw` (the audit's JSON behind its disclosure) are the record
    itself, deliberately shown as stored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []

    def _hidden(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        skip = tag in SKIPPED_TAGS or "data-raw" in names
        if tag not in {"input", "meta", "link", "br", "img", "hr"}:
            self.stack.append((tag, skip))
        if not skip and not self._hidden():
            self.parts.extend(v for k, v in attrs if k in SHOWN_ATTRIBUTES and v)

    def handle_endtag(self, tag):
        while self.stack:
            opened, _ = self.stack.pop()
            if opened == tag:
                break

    def handle_data(self, data):
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def raw_values_in(html: str) -> set[str]:
    text = visible_text(html)
    return {v for v in RAW if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", text)}


def test_the_search_finds_a_raw_value_and_skips_the_record():
    html = (
        '<p title="DRAFT_PENDING_APPROVAL">x</p><pre data-raw>{"to": "SENT"}</pre>'
        "<p>Draft Created</p>"
    )
    assert raw_values_in(html) == {"DRAFT_PENDING_APPROVAL", "Draft Created"}


@pytest.fixture
def web(make_settings):
    """The app with a sender that does not run during the test, so approved replies stay so."""
    app = create_app(make_settings(SEND_POLL_SECONDS="3600"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield Web(client)


@pytest.fixture
def seeded(web):
    boss = web.reviewer("Boss", role=models.Role.ADMIN)
    web.sign_in("Boss")
    return web.call(ui_seed.seed_every_status, web.db, boss.id)


def _pages(web) -> list[str]:
    threads = [row["thread_id"] for row in web.rows("SELECT thread_id FROM conversations")]
    return [
        "/",
        "/needs-review",
        "/attention",
        "/paused",
        "/audit",
        "/stats",
        "/reviewers",
        "/directives",
        "/templates",
        *(f"/threads/{t}" for t in threads),
    ]


def test_every_status_reaches_the_page_through_the_phrases(web, seeded):
    statuses = {row["status"] for row in web.rows("SELECT status FROM messages")}
    states = {row["state"] for row in web.rows("SELECT state FROM conversations")}
    kinds = {row["pause_kind"] for row in web.rows("SELECT pause_kind FROM thread_controls")}
    # the history covers every value the pages would show
    assert statuses == {m.value for m in models.MessageStatus}
    assert states == {m.value for m in models.ConversationState}
    assert kinds - {None} == {m.value for m in models.PauseKind}
    appointments = {
        row["a"] for row in web.rows("SELECT appointment_status AS a FROM conversations")
    }
    assert appointments == {"NONE", "INVITED", "BOOKED"}

    for path in _pages(web):
        page = web.client.get(path)
        assert page.status_code == 200, path
        assert raw_values_in(page.text) == set(), path


def test_the_thread_reads_in_plain_words(web, seeded):
    sent = web.client.get(f"/threads/{seeded.sent_thread}").text
    text = visible_text(sent)
    assert "sent · delivered" in text
    assert "Sent as" not in text
    assert "received" in text  # under the customer's own text
    paused = visible_text(web.client.get(f"/threads/{ui_seed.PAUSED}").text)
    assert "Paused by Boss: owner will call" in paused


def test_the_card_says_sure_or_unsure_with_the_number_on_hover(web, seeded):
    web.call(
        web.db.write,
        lambda conn: conn.execute(
            "UPDATE messages SET draft_meta = json_set(draft_meta, '$.confidence', 0.3)"
            " WHERE id = ?",
            (seeded.pending_draft,),
        ),
    )
    page = web.client.get("/").text
    assert '<span class="confidence" title="confidence 0.3">unsure</span>' in page


_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
_ENUM_FIELDS = re.compile(
    r"\.(status|state|conversation_state|sentiment|conversation_sentiment|channel|type|action"
    r"|role|pause_kind|event|delivery_status|sender_role|mode|appointment_status)\s*$"
)


# fields named like an enum that are not shown as one: an event type is the name an
# integration subscribes to, shown to the admin exactly as the API and the README spell it;
# a setup step's state is a CSS class there (its words are printed beside it)
_NOT_ENUMS = {("webhooks.html", "d.type"), ("setup.html", "s.state")}


def test_no_template_prints_an_enum_field_without_its_phrase():
    for template in Path(TEMPLATES_DIR).glob("*.html"):
        source = template.read_text()
        for expression in _OUTPUT.findall(source):
            if (template.name, expression.strip()) in _NOT_ENUMS:
                continue
            assert not _ENUM_FIELDS.search(expression.strip()), (template.name, expression)
        # literal text outside the template tags: no code a reviewer would read
        literal = re.sub(r"\{[{%#].*?[}%#]\}", " ", source, flags=re.S)
        assert raw_values_in(literal) == set(), template.name
