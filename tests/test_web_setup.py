"""The first-run checklist and the Business page: who sees them, what each step does."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from approval_bot import directives
from approval_bot import profile as business
from approval_bot.app import create_app
from approval_bot.models import Role
from tests.fake_twilio import FakeTwilio
from tests.webclient import Web

ADMIN_PHONE = "+14155550111"


@pytest.fixture
def ada(web):
    reviewer = web.reviewer("Ada", phone=ADMIN_PHONE, role=Role.ADMIN)
    return reviewer


def sign_in_to(web, name="Ada"):
    token = web.csrf("/login")
    response = web.client.post(
        "/login",
        data={"csrf_token": token, "name": name, "password": "correct horse battery"},
        follow_redirects=False,
    )
    return response.headers["location"]


def step_states(web):
    page = web.client.get("/setup").text
    return {
        key: state
        for key in ("profile", "faq", "reviewers", "twilio", "simulator")
        for state in ("done", "skipped", "open")
        if f'id="step-{key}" class="step step-{state}"' in page
    }


def test_an_admin_lands_on_the_checklist_until_every_step_is_done_or_skipped(web, ada):
    assert sign_in_to(web) == "/setup"
    assert step_states(web) == dict.fromkeys(
        ("profile", "faq", "reviewers", "twilio", "simulator"), "open"
    )
    for step in ("profile", "faq", "reviewers", "twilio"):
        assert web.post(f"/setup/{step}/skipped").status_code == 303
    assert sign_in_to(web) == "/setup"  # one step is still open

    web.post("/setup/simulator/done")

    assert sign_in_to(web) == "/"
    assert 'id="setup-finished"' in web.client.get("/setup").text
    events = web.rows("SELECT metadata FROM audit_log WHERE event = 'Marked Setup Step'")
    assert [json.loads(e["metadata"]) for e in events][-1] == {"step": "simulator", "state": "done"}


def test_a_reviewer_goes_to_the_queue_and_may_not_open_setup_or_business(web, ada):
    web.reviewer("Ben")
    assert sign_in_to(web, "Ben") == "/"
    assert web.client.get("/setup").status_code == 403
    assert web.client.get("/business").status_code == 403
    assert web.post("/setup/faq/skipped").status_code == 403
    assert web.rows("SELECT * FROM setup_steps") == []


def test_a_sign_in_to_a_named_page_goes_there(web, ada):
    token = web.csrf("/login")
    response = web.client.post(
        "/login",
        data={
            "csrf_token": token,
            "name": "Ada",
            "password": "correct horse battery",
            "next": "/audit",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/audit"


def test_an_unknown_step_is_404(web, ada):
    sign_in_to(web)
    assert web.post("/setup/payroll/done").status_code == 404
    assert web.post("/setup/faq/maybe").status_code == 404


def test_steps_are_done_when_what_they_ask_for_exists(web, ada):
    sign_in_to(web)
    web.post("/business/sample", {"next": "/setup"})  # the profile and three FAQ entries
    web.reviewer("Ben", phone="+14155550112")  # a second reviewer with a phone
    states = step_states(web)
    assert (states["profile"], states["faq"], states["reviewers"]) == ("done", "done", "done")
    assert (states["twilio"], states["simulator"]) == ("open", "open")


def test_the_faq_examples_are_added_once(web, ada):
    sign_in_to(web)
    assert "free parking behind the shop" in web.client.get("/setup").text
    web.post("/setup/faq/examples")
    web.post("/setup/faq/examples")
    entries = web.call(directives.list_faq, web.db)
    assert len(entries) == 3
    assert {keywords[0] for _, _, keywords, _ in entries} == {"parking", "card", "walk-in"}


def test_the_twilio_step_shows_what_to_paste_and_the_two_webhook_urls(web, ada):
    sign_in_to(web)
    page = web.client.get("/setup").text
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        assert name in page
    # the web fixture's PUBLIC_BASE_URL is the default, http://127.0.0.1:8000
    assert '<code id="sms-webhook-url">http://127.0.0.1:8000/webhooks/twilio/sms</code>' in page
    assert '<code id="voice-webhook-url">http://127.0.0.1:8000/webhooks/twilio/voice</code>' in page


def test_in_sandbox_mode_the_credentials_check_says_there_is_nothing_to_check(web, ada):
    sign_in_to(web)
    web.post("/setup/twilio/check")
    assert "Nothing to check" in web.client.get("/setup").text
    assert step_states(web)["twilio"] == "open"


def live_web(make_settings, fake, token):
    settings = make_settings(
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=token,
        TWILIO_FROM_NUMBER="+14155550199",
        TWILIO_API_BASE_URL=fake.url,
    )
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("token_ok", "state", "said"),
    [(True, "done", "Twilio accepted"), (False, "open", "Twilio refused the Account SID")],
)
def test_the_credentials_check_asks_twilio(make_settings, token_ok, state, said):
    with FakeTwilio() as fake:
        token = fake.auth_token if token_ok else "not-the-token"
        with live_web(make_settings, fake, token) as client:
            web = Web(client)
            web.reviewer("Ada", phone=ADMIN_PHONE, role=Role.ADMIN)
            sign_in_to(web)
            web.post("/setup/twilio/check")
            assert said in web.client.get("/setup").text
            assert step_states(web)["twilio"] == state
        # one authenticated read of the account's messages, nothing sent
        (seen,) = fake.lists()
        assert seen.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
        assert fake.accepted == []


def test_the_sample_business_loads_only_in_sandbox_mode(make_settings):
    with FakeTwilio() as fake, live_web(make_settings, fake, fake.auth_token) as client:
        web = Web(client)
        web.reviewer("Ada", phone=ADMIN_PHONE, role=Role.ADMIN)
        sign_in_to(web)
        assert "Load the sample business" not in web.client.get("/business").text
        assert web.post("/business/sample").status_code == 404
        assert web.rows("SELECT * FROM business_profile") == []


# --- the Business page -----------------------------------------------------------------------

FORM = {
    "name": "Corner Cuts",
    "phone": "+14155550123",
    "address": "1 Main St",
    "timezone": "Europe/Paris",
    "hours_mon": "09:00-18:00",
    "hours_sat": "10:00-14:00",
    "exceptions": "2026-12-24 09:00-12:00\n2026-12-25 closed",
    "services": "Haircut | $25 | 30\nBeard trim | 12.50\nConsultation",
    "booking_link": "https://book.example.com/corner",
    "sign_off": "- Corner",
    "tone": "formal",
}


def test_the_business_form_saves_the_profile_in_the_api_shape(web, ada):
    sign_in_to(web)
    response = web.post("/business", FORM)
    assert response.status_code == 303

    saved = business.document(web.call(business.get, web.db))
    assert saved["hours"] == {
        "mon": "09:00-18:00",
        "tue": None,
        "wed": None,
        "thu": None,
        "fri": None,
        "sat": "10:00-14:00",
        "sun": None,
    }
    assert saved["exceptions"] == [
        {"date": "2026-12-24", "hours": "09:00-12:00"},
        {"date": "2026-12-25", "hours": None},
    ]
    assert saved["services"] == [
        {"name": "Haircut", "price": 25, "minutes": 30},
        {"name": "Beard trim", "price": 12.5, "minutes": None},
        {"name": "Consultation", "price": None, "minutes": None},
    ]
    assert (saved["tone"], saved["timezone"]) == ("formal", "Europe/Paris")
    page = web.client.get("/business").text
    assert 'value="Corner Cuts"' in page and "Beard trim | 12.5" in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hours_sat": "10 till 2"}, "hours.sat"),
        ({"timezone": "Paris"}, "timezone"),
        ({"services": "Haircut | cheap"}, "services.0.price"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_value_re_renders_the_form_naming_the_field_and_keeping_the_text(
    web, ada, changes, field
):
    sign_in_to(web)
    response = web.post("/business", {**FORM, **changes})

    assert response.status_code == 422
    assert f"{field}: " in response.text
    assert 'value="1 Main St"' in response.text  # what was typed is kept
    assert web.rows("SELECT * FROM business_profile") == []
