"""The business profile: validation naming the field, the audited save, the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from approval_bot import cli
from approval_bot import profile as business
from approval_bot.models import Role
from approval_bot.samples import PROFILE_FILE

from .settings_env import clear_settings
from .test_api import token_for

# the API's shape as issue 16 writes it, filled in by hand
GOOD: dict[str, Any] = {
    "name": "Corner Cuts",
    "phone": "+14155550123",
    "address": "1 Main St",
    "timezone": "Europe/Paris",
    "hours": {
        "mon": "09:00-18:00",
        "tue": "09:00-18:00",
        "wed": "09:00-18:00",
        "thu": "09:00-18:00",
        "fri": "09:00-18:00",
        "sat": "10:00-14:00",
        "sun": None,
    },
    "exceptions": [{"date": "2026-12-25", "hours": None}],
    "services": [{"name": "Haircut", "price": 25, "minutes": 30}],
    "booking_link": "https://book.example.com/corner",
    "sign_off": "- Corner Cuts",
    "tone": "brief",
}


def with_(**changes):
    return {**GOOD, **changes}


BAD = [
    (with_(name=""), "name"),
    (with_(name="   "), "name"),
    ({k: v for k, v in GOOD.items() if k != "name"}, "name"),
    (with_(phone="555-0100"), "phone"),
    (with_(phone="+1415555"), "phone"),
    (with_(timezone="Mars/Olympus"), "timezone"),
    (with_(hours={**GOOD["hours"], "mon": "9 to 5"}), "hours.mon"),
    (with_(hours={**GOOD["hours"], "tue": "18:00-09:00"}), "hours.tue"),
    (with_(hours={**GOOD["hours"], "wed": "25:00-26:00"}), "hours.wed"),
    (with_(hours={**GOOD["hours"], "funday": None}), "hours.funday"),
    (with_(exceptions=[{"date": "2026-02-30", "hours": None}]), "exceptions.0.date"),
    (with_(exceptions=[{"date": "2026-12-24", "hours": "late"}]), "exceptions.0.hours"),
    (
        with_(exceptions=[{"date": "2026-12-24", "hours": None}, {"date": "2026-12-24"}]),
        "exceptions",
    ),
    (with_(services=[{"name": "Haircut", "price": -5}]), "services.0.price"),
    (with_(services=[{"name": "Haircut", "price": "cheap"}]), "services.0.price"),
    (with_(services=[{"name": "Haircut", "minutes": 0}]), "services.0.minutes"),
    (with_(services=[{"name": ""}]), "services.0.name"),
    (with_(services=[{"name": "Cut"}, {"name": "cut"}]), "services"),
    (with_(booking_link="javascript:alert(1)"), "booking_link"),
    (with_(booking_link="book.example.com"), "booking_link"),
    (with_(tone="rude"), "tone"),
    (with_(colour="blue"), "colour"),
]


@pytest.mark.parametrize(("data", "field"), BAD)
def test_a_bad_value_is_refused_naming_its_field(data, field):
    with pytest.raises(business.InvalidProfile) as refused:
        business.validate(data)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def test_the_api_shape_comes_back_as_it_went_in():
    assert business.document(business.validate(GOOD)) == GOOD


def test_left_out_fields_are_empty_and_the_week_closed():
    shown = business.document(business.validate({"name": "Bo"}))
    assert shown["hours"] == dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    assert (shown["timezone"], shown["tone"], shown["services"]) == ("UTC", "friendly", [])


def test_the_sample_file_is_a_valid_profile():
    assert business.validate(json.loads(PROFILE_FILE.read_text())).name == "Sample Barbers"


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def admin_api(web):
    web.reviewer("Ada", phone="+14155550111", role=Role.ADMIN)
    return token_for(web, "Ada")


def call(web, method, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    return web.client.request(method, "/api/v1/profile", json=body, headers=headers)


def test_get_before_any_profile_is_404(web, admin_api):
    response = call(web, "GET", admin_api)
    assert response.status_code == 404
    assert "no business profile" in response.json()["error"]["message"]


def test_an_admin_puts_the_profile_and_every_reviewer_reads_it(web, admin_api):
    response = call(web, "PUT", admin_api, GOOD)
    assert response.status_code == 200 and response.json() == GOOD

    web.reviewer("Ben")
    assert call(web, "GET", token_for(web, "Ben")).json() == GOOD
    (event,) = web.rows("SELECT * FROM audit_log WHERE event = 'Updated Business Profile'")
    metadata = json.loads(event["metadata"])
    assert metadata["profile"] == GOOD and "services" in metadata["changed"]
    assert event["actor"] == "Human"


def test_a_second_put_audits_only_what_changed(web, admin_api):
    call(web, "PUT", admin_api, GOOD)
    call(web, "PUT", admin_api, with_(tone="formal"))
    last = web.rows(
        "SELECT metadata FROM audit_log WHERE event = 'Updated Business Profile' ORDER BY id"
    )[-1]
    assert json.loads(last["metadata"])["changed"] == ["tone"]


def test_a_reviewer_may_not_put_the_profile(web, admin_api):
    web.reviewer("Ben")
    response = call(web, "PUT", token_for(web, "Ben"), GOOD)
    assert response.status_code == 403
    assert web.rows("SELECT * FROM business_profile") == []


@pytest.mark.parametrize(("data", "field"), BAD[:8])
def test_a_bad_put_is_422_naming_the_field_and_changes_nothing(web, admin_api, data, field):
    call(web, "PUT", admin_api, GOOD)
    response = call(web, "PUT", admin_api, data)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"].startswith(f"{field}: ")
    assert "Value error" not in response.json()["error"]["message"]
    assert call(web, "GET", admin_api).json() == GOOD


def test_the_openapi_description_has_the_profile(web):
    paths = web.client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/profile"]) == {"get", "put"}


# --- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli_db(monkeypatch, tmp_path: Path, db_path: Path) -> Path:
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    return db_path


def test_profile_set_from_a_file_then_show(cli_db, tmp_path, capsys):
    source = tmp_path / "profile.json"
    source.write_text(json.dumps(GOOD))

    assert cli.main(["profile", "set", str(source)]) == 0
    assert "Corner Cuts" in capsys.readouterr().out
    assert cli.main(["profile", "show"]) == 0
    assert json.loads(capsys.readouterr().out) == GOOD


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps(with_(hours={"mon": "9-5"})), "hours.mon"),
        ("{not json", "is not JSON"),
    ],
)
def test_profile_set_refuses_bad_input_and_changes_nothing(
    cli_db, tmp_path, capsys, content, message
):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    cli.main(["profile", "set", str(good)])
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    capsys.readouterr()

    assert cli.main(["profile", "set", str(bad)]) == 1
    assert message in capsys.readouterr().err
    cli.main(["profile", "show"])
    assert json.loads(capsys.readouterr().out) == GOOD


def test_profile_show_without_a_profile_says_how_to_set_one(cli_db, capsys):
    assert cli.main(["profile", "show"]) == 1
    assert "approval-bot profile set" in capsys.readouterr().err


def test_profile_set_of_a_missing_file_is_an_error(cli_db, tmp_path, capsys):
    assert cli.main(["profile", "set", str(tmp_path / "nope.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
