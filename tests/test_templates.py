"""Templates: placeholder validation at save time, the audited funnel, pre-approval cleared
on edit, the API (admins pre-approve), the page, the CLI, and the drafter using them."""

from __future__ import annotations

import hashlib
import io
import json
import sys

import pytest

from approval_bot import accounts, cli, message_templates
from approval_bot import profile as business
from approval_bot.drafting.base import DraftContext
from approval_bot.drafting.builtin import draft_offline
from approval_bot.message_templates import Change, InvalidTemplate, NotAdmin
from approval_bot.models import Role
from approval_bot.samples import sample_profile

from .builders import make_reviewer
from .twilio_client import BUSINESS, CUSTOMER, PUBLIC, running

pytestmark = pytest.mark.anyio

# the seeds (issue 14: "seeded with greeting, help, fallback, missed_call, holding,
# opt_out_confirmation"), with the texts the code used until now
SEEDED = {
    "greeting": "Hi! Thanks for getting in touch. How can we help you today?",
    "help": "We're here to help. Tell us what you need and a member of our team will get back "
    "to you shortly.",
    "fallback": "Thanks for your message. A member of our team will get back to you shortly.",
    "missed_call": "Sorry we missed your call! How can we help? Reply here and we'll get back "
    "to you as soon as we can.",
    "holding": "Thanks for your message, a person will reply shortly.",
    "opt_out_confirmation": "You have successfully been unsubscribed. You will not receive any "
    "more messages from this number. Reply START to resubscribe.",
}


@pytest.mark.parametrize(
    ("body", "used"),
    [
        ("Hello!", []),
        ("Hi {customer_name}", ["customer_name"]),
        (
            "{business_name}: call {business_phone} or book {booking_link}, {business_name}",
            ["business_name", "business_phone", "booking_link"],
        ),
        ("Braces {{like this}} are text", []),
        # issue 16's business profile: its address and sign-off read as text too
        ("Find us at {business_address}. {sign_off}", ["business_address", "sign_off"]),
        ("x" * 1600, []),
    ],
)
def test_a_body_with_known_placeholders_is_accepted(body, used):
    assert message_templates.check("greeting", body, "any", None) == used


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("Hi {nme}", "{nme}"),  # unknown: the "refused with 422 naming it"
        ("Hi {}", "{}"),  # positional
        ("Hi {0}", "{0}"),
        ("Hi {customer_name.upper}", "{customer_name.upper}"),  # attribute access
        ("Hi {customer_name[0]}", "{customer_name[0]}"),
        ("Hi {customer_name!r}", "{customer_name}"),  # a conversion
        ("Hi {customer_name:>20}", "{customer_name}"),  # a format spec
        ("Hi {customer_name", "brace"),  # unclosed
        ("Hi }", "brace"),  # a stray closing brace
        ("x" * 1601, "1600"),
        ("   ", "some text"),
        ("Hi\x00there", "NUL"),
    ],
)
def test_a_bad_body_is_refused_naming_what_is_wrong(body, named):
    with pytest.raises(InvalidTemplate) as refused:
        message_templates.check("greeting", body, "any", None)
    assert refused.value.field == "body"
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("key", "channel", "sid", "field"),
    [
        ("Greeting!", "any", None, "key"),
        ("greeting", "fax", None, "channel"),
        ("offer", "whatsapp", "MG" + "0" * 32, "content_sid"),
        ("offer", "whatsapp", "HX" + "0" * 31, "content_sid"),
        ("offer", "sms", "HX" + "0" * 32, "content_sid"),  # only WhatsApp has Content templates
    ],
)
def test_bad_keys_channels_and_content_sids_are_refused(key, channel, sid, field):
    with pytest.raises(InvalidTemplate) as refused:
        message_templates.check(key, "Hello", channel, sid)
    assert refused.value.field == field


def test_rendering_fills_the_variables_and_content_variables_number_them():
    values = {"customer_name": "Ana", "business_name": "Cuts", "business_phone": "+1415"}
    body = "Hi {customer_name}, {business_name} here ({business_phone}). {{ok}}"
    assert message_templates.render(body, values) == "Hi Ana, Cuts here (+1415). {ok}"
    names = message_templates.placeholders(body)
    # Twilio's ContentVariables: {"1": …, "2": …} in the order the body names them
    assert message_templates.content_variables(names, values) == {
        "1": "Ana",
        "2": "Cuts",
        "3": "+1415",
    }


# the sample business's fields, written out from approval_bot/samples/profile.json
SAMPLE_VALUES = {
    "customer_name": "",
    "business_name": "Sample Barbers",
    "business_phone": "+14155550123",
    "booking_link": "https://book.example.com/sample-barbers",
    "business_address": "12 Market Street, San Francisco, CA 94103 (next to the post office)",
    "sign_off": "- Sample Barbers",
}


def test_the_variables_come_from_the_business_profile_when_one_is_set():
    values = message_templates.variable_values(business_phone=BUSINESS, profile=sample_profile())
    assert values == SAMPLE_VALUES
    # without a profile only the number the customer wrote to is known
    assert message_templates.variable_values(
        business_phone=f"whatsapp:{BUSINESS}", profile=None
    ) == {**dict.fromkeys(SAMPLE_VALUES, ""), "business_phone": BUSINESS}
    # a profile without a phone leaves that number
    no_phone = sample_profile().model_copy(update={"phone": None, "booking_link": None})
    values = message_templates.variable_values(business_phone=BUSINESS, profile=no_phone)
    assert (values["business_phone"], values["booking_link"]) == (BUSINESS, "")


async def test_a_fresh_install_has_the_seeded_templates_and_nothing_pre_approved(db):
    templates = {t.key: t for t in await message_templates.list_all(db)}
    assert {key: t.body for key, t in templates.items()} == SEEDED
    assert [t.key for t in templates.values() if t.pre_approved] == []


async def test_pre_approval_is_cleared_by_an_edit_and_each_change_is_audited(db):
    admin = await make_reviewer(db, "Root", role=Role.ADMIN)
    ana = await make_reviewer(db, "Ana")
    approved = await message_templates.pre_approve(db, "help", True, admin.id, admin.role)
    assert approved.pre_approved and approved.pre_approved_by_name == "Root"
    expected_hash = hashlib.sha256(SEEDED["help"].encode()).hexdigest()
    assert approved.pre_approved_hash == expected_hash

    # saving the same text again keeps it; any edit clears it
    same = await message_templates.save(db, "help", Change(SEEDED["help"]), ana.id, ana.role)
    assert same.pre_approved
    edited = await message_templates.save(
        db, "help", Change("Text {business_phone} for help."), ana.id, ana.role
    )
    assert not edited.pre_approved and edited.pre_approved_by is None
    assert edited.variables == ["business_phone"] and edited.updated_by_name == "Ana"

    rows = await db.fetchall(
        "SELECT event, actor_id, metadata FROM audit_log WHERE event LIKE 'Template%' ORDER BY id"
    )
    assert [(r["event"], r["actor_id"]) for r in rows] == [
        ("Template Pre-Approved", admin.id),
        ("Template Updated", ana.id),
        ("Template Pre-Approval Cleared", ana.id),
    ]
    assert json.loads(rows[0]["metadata"])["body_hash"] == expected_hash
    assert json.loads(rows[2]["metadata"])["reason"] == "the template was edited"


async def test_only_an_admin_pre_approves_and_only_a_triggers_template(db):
    ana = await make_reviewer(db, "Ana")
    admin = await make_reviewer(db, "Root", role=Role.ADMIN)
    with pytest.raises(NotAdmin):
        await message_templates.pre_approve(db, "help", True, ana.id, ana.role)
    with pytest.raises(NotAdmin):
        await message_templates.save(db, "help", Change("Hi", pre_approved=True), ana.id, ana.role)
    with pytest.raises(InvalidTemplate) as refused:
        await message_templates.pre_approve(db, "greeting", True, admin.id, admin.role)
    assert refused.value.field == "pre_approved"
    assert [t.key for t in await message_templates.list_all(db) if t.pre_approved] == []
    count = await db.fetchone("SELECT count(*) AS n FROM audit_log WHERE event LIKE 'Template%'")
    assert count is not None and count["n"] == 0


# --- the API -----------------------------------------------------------------------------


@pytest.fixture
def api(web):
    admin = web.reviewer("Root", role=Role.ADMIN)
    ana = web.reviewer("Ana")
    tokens = {
        "admin": web.call(accounts.create_token, web.db, "root", admin.name),
        "ana": web.call(accounts.create_token, web.db, "ana", ana.name),
    }

    def call(method: str, path: str, who: str = "ana", **kwargs):
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        return web.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    return call


def test_the_api_lists_templates(api):
    answer = api("GET", "/templates")
    assert answer.status_code == 200
    items = {item["key"]: item for item in answer.json()["items"]}
    assert {key: item["body"] for key, item in items.items()} == SEEDED
    assert items["help"]["trigger"] == "help" and items["greeting"]["trigger"] is None
    assert not any(item["pre_approved"] for item in items.values())


@pytest.mark.parametrize(
    ("body", "field", "named"),
    [
        ({"body": "Hi {nme}"}, "body", "{nme}"),
        ({"body": "x" * 1601}, "body", "1600"),
        (
            {"body": "Hi", "channel": "sms", "content_sid": "HX" + "a" * 32},
            "content_sid",
            "WhatsApp",
        ),
        ({"body": "Hi", "color": "red"}, "color", "Extra"),
    ],
)
def test_the_api_refuses_a_bad_template_with_422_naming_it_and_changes_nothing(
    api, body, field, named
):
    before = api("GET", "/templates").json()
    answer = api("PUT", "/templates/greeting", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == field and named in error["message"]
    assert api("GET", "/templates").json() == before


def test_pre_approving_over_the_api_needs_an_admin_and_an_edit_clears_it(api):
    body = {"body": SEEDED["help"], "pre_approved": True}
    refused = api("PUT", "/templates/help", json=body)
    assert refused.status_code == 403
    assert not api("GET", "/templates").json()["items"][2]["pre_approved"]

    answer = api("PUT", "/templates/help", who="admin", json=body)
    assert answer.status_code == 200
    assert answer.json()["pre_approved"] is True and answer.json()["pre_approved_by"] == "Root"

    edited = api("PUT", "/templates/help", json={"body": "Reply STOP to stop, or ask us."})
    assert edited.status_code == 200 and edited.json()["pre_approved"] is False


def test_a_whatsapp_content_template_can_be_added_over_the_api(api):
    body = {
        "body": "Hi {customer_name}, about your booking at {business_name}.",
        "channel": "whatsapp",
        "content_sid": "HX" + "0123456789abcdef" * 2,
    }
    answer = api("PUT", "/templates/booking_update", json=body)
    assert answer.status_code == 200
    assert answer.json()["variables"] == ["customer_name", "business_name"]
    keys = [item["key"] for item in api("GET", "/templates").json()["items"]]
    assert "booking_update" in keys


# --- the page ----------------------------------------------------------------------------


def test_the_templates_page_edits_and_only_admins_see_the_pre_approval(web):
    web.reviewer("Ana")
    web.reviewer("Root", role=Role.ADMIN)
    web.sign_in("Ana")
    page = web.client.get("/templates")
    assert page.status_code == 200 and 'href="/templates"' in page.text
    assert 'name="pre_approved"' not in page.text
    refused = web.post("/templates/greeting", {"body": "Hi {nme}", "channel": "any"})
    assert refused.status_code == 422 and "{nme}" in refused.text
    saved = web.post("/templates/greeting", {"body": "Hello {business_phone}!", "channel": "any"})
    assert saved.status_code == 303
    row = web.rows("SELECT body, variables FROM templates WHERE key = 'greeting'")[0]
    assert (row["body"], json.loads(row["variables"])) == (
        "Hello {business_phone}!",
        ["business_phone"],
    )

    web.client.post("/logout", data={"csrf_token": web.csrf("/")})
    web.sign_in("Root")
    assert 'name="pre_approved"' in web.client.get("/templates").text
    web.post("/templates/help", {"body": SEEDED["help"], "channel": "any", "pre_approved": "1"})
    row = web.rows("SELECT pre_approved_hash FROM templates WHERE key = 'help'")[0]
    assert row["pre_approved_hash"] == hashlib.sha256(SEEDED["help"].encode()).hexdigest()


# --- the command line ---------------------------------------------------------------------


def test_the_cli_sets_lists_and_pre_approves(db_path, monkeypatch, capsys):
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    monkeypatch.setenv("ADMIN_PASSWORD", "correct horse battery")
    assert cli.main(["init-db"]) == 0
    assert cli.main(["template", "set", "greeting", "Hi {nme}"]) == 1
    assert "{nme}" in capsys.readouterr().err
    assert cli.main(["template", "set", "help", "Call {business_phone}."]) == 0
    assert cli.main(["template", "pre-approve", "help", "--by", "admin"]) == 0
    assert cli.main(["template", "pre-approve", "greeting", "--by", "admin"]) == 1
    capsys.readouterr()
    assert cli.main(["template", "show", "help"]) == 0
    shown = capsys.readouterr().out
    assert "pre-approved by admin" in shown and "Call {business_phone}." in shown
    assert cli.main(["template", "show", "nothing"]) == 1


def test_the_cli_refuses_a_body_from_stdin_with_a_nul_and_keeps_the_template(
    db_path, monkeypatch, capsys
):
    # the web and the API refuse a NUL at their edge; standard input is the other way in
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    assert cli.main(["init-db"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\x00there\n"))
    assert cli.main(["template", "set", "greeting", "-"]) == 1
    assert "NUL" in capsys.readouterr().err
    assert cli.main(["template", "show", "greeting"]) == 0
    assert SEEDED["greeting"] in capsys.readouterr().out


# --- the drafter -----------------------------------------------------------------------------


def test_the_builtin_drafter_answers_with_the_contexts_templates_or_its_defaults():
    own = DraftContext("+14155550100", "hello", templates={"greeting": "Hey from Cuts!"})
    assert draft_offline(own).body == "Hey from Cuts!"
    assert draft_offline(DraftContext("+14155550100", "hello")).body == SEEDED["greeting"]
    call = DraftContext("+14155550100", "", missed_call=True, templates={"missed_call": "Ring!"})
    assert draft_offline(call).body == "Ring!"


def test_drafts_use_the_stored_templates_filled_in_and_a_channel_mismatch_falls_back(
    make_settings,
):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        for key, change in (
            ("greeting", Change("Hello, this is {business_phone}!")),
            ("fallback", Change("WhatsApp only", channel="whatsapp")),
        ):
            twilio.run(message_templates.save, twilio.db, key, change, None, Role.REVIEWER)
        twilio.text("Hi there")
        twilio.text("Where is my parcel?", sender="+14155550101")
        (_, greeting) = twilio.messages(CUSTOMER)
        assert greeting["body"] == f"Hello, this is {BUSINESS}!"
        (_, fallback) = twilio.messages("+14155550101")
        assert fallback["body"] == SEEDED["fallback"]


def test_drafts_fill_the_templates_from_the_business_profile(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        twilio.run(business.put, twilio.db, sample_profile(), None)
        greeting = Change(
            "Hi from {business_name}! Book at {booking_link} or call {business_phone}"
        )
        twilio.run(message_templates.save, twilio.db, "greeting", greeting, None, Role.REVIEWER)
        twilio.text("Hello")
        (_, draft) = twilio.messages(CUSTOMER)
        assert draft["body"] == (
            "Hi from Sample Barbers! Book at https://book.example.com/sample-barbers or call "
            "+14155550123\n- Sample Barbers"  # the profile's sign-off ends every draft
        )
        assert draft["template_key"] == "greeting"


@pytest.mark.both_backends
def test_drafts_fill_customer_name_from_what_the_customer_said_or_the_facts(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC)) as twilio:
        greeting = Change("Hi {customer_name}! How can we help you today?")
        twilio.run(message_templates.save, twilio.db, "greeting", greeting, None, Role.REVIEWER)
        twilio.text("Hello, this is Ana")
        (_, draft) = twilio.messages(CUSTOMER)
        # the name she just gave, not an empty "Hi !"
        assert draft["body"] == "Hi Ana! How can we help you today?"
        # a later text gives none: the conversation's facts still know her
        twilio.text("Hello again", sender=CUSTOMER)
        (*_, latest) = twilio.messages(CUSTOMER)
        assert (latest["type"], latest["body"]) == ("DRAFT", "Hi Ana! How can we help you today?")
        # a customer whose name is unknown gets the empty value the README promises
        twilio.text("Hello", sender="+14155550101")
        (_, other) = twilio.messages("+14155550101")
        assert other["body"] == "Hi ! How can we help you today?"


# --- the longest a body can be once filled ---------------------------------------------------

# Twilio refuses a body over 1600 characters (error 21617). The business profile's own limits
# (issue 16): name 200, address 300, booking link 500, sign-off 100 characters; a phone number
# in E.164 is "+" and at most 15 digits; a customer's name is used up to 100 characters.
LONGEST = {
    "customer_name": 100,
    "business_name": 200,
    "business_phone": 16,
    "booking_link": 500,
    "business_address": 300,
    "sign_off": 100,
}


@pytest.mark.parametrize(
    ("body", "longest"),
    [
        ("x" * 1101 + "{booking_link}", 1601),
        ("{business_name} " * 8, 1608),  # each use counts
        ("Hi {customer_name}, " + "x" * 1496, 1601),
    ],
)
def test_a_body_that_can_pass_1600_characters_once_filled_is_refused(body, longest):
    with pytest.raises(InvalidTemplate) as refused:
        message_templates.check("help", body, "any", None)
    assert refused.value.field == "body"
    assert str(longest) in str(refused.value) and "1600" in str(refused.value)


def test_a_body_accepted_stays_within_1600_characters_filled_with_the_longest_values():
    placeholders = "".join(f"{{{name}}}" for name in LONGEST)
    body = placeholders + "x" * (1600 - sum(LONGEST.values()))
    assert message_templates.check("help", body, "any", None) == list(LONGEST)
    with pytest.raises(InvalidTemplate):
        message_templates.check("help", body + "x", "any", None)
    profile = business.validate(
        {
            "name": "N" * 200,
            "phone": "+14155550123",
            "address": "A" * 300,
            "booking_link": "https://book.example.com/" + "b" * 475,
            "sign_off": "S" * 100,
        }
    )
    values = message_templates.variable_values(
        business_phone=BUSINESS, profile=profile, facts={"name": "C" * 100}
    )
    assert len(message_templates.render(body, values)) <= 1600
    # a longer name in the facts is not used: the body could not fit it
    longer = message_templates.variable_values(
        business_phone=BUSINESS, profile=profile, facts={"name": "C" * 101}
    )
    assert longer["customer_name"] == ""


TOO_LONG_FILLED = "Book at {booking_link} " + "x" * 1100


def test_every_door_refuses_a_template_too_long_once_filled(web, api, db_path, monkeypatch, capsys):
    before = api("GET", "/templates").json()
    answer = api("PUT", "/templates/help", json={"body": TOO_LONG_FILLED})
    assert answer.status_code == 422 and "1600" in answer.json()["error"]["message"]
    web.sign_in("Ana")
    refused = web.post("/templates/help", {"body": TOO_LONG_FILLED, "channel": "any"})
    assert refused.status_code == 422 and "1600" in refused.text
    assert api("GET", "/templates").json() == before

    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    assert cli.main(["init-db"]) == 0
    assert cli.main(["template", "set", "help", TOO_LONG_FILLED]) == 1
    assert "1600" in capsys.readouterr().err


async def test_a_stored_body_too_long_once_filled_cannot_be_pre_approved(db):
    # a template saved before its filled length was checked
    await db.write(
        lambda conn: message_templates.save_in(
            conn, "help", Change(TOO_LONG_FILLED), ["booking_link"], None
        )
    )
    admin = await make_reviewer(db, "Root", role=Role.ADMIN)
    with pytest.raises(InvalidTemplate) as refused:
        await message_templates.pre_approve(db, "help", True, admin.id, admin.role)
    assert "1600" in str(refused.value)
    stored = await message_templates.fetch(db, "help")
    assert stored is not None and not stored.pre_approved
