"""The audit page and its exports, and the reviewers page."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from approval_bot.models import Role
from approval_bot.store import Tx
from approval_bot.web.audit_pages import csv_cell
from tests.builders import make_draft, make_inbound

THREAD = "+14155550100"


@pytest.fixture
def boss(web):
    reviewer = web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    return reviewer


def test_audit_page_filters_and_shows_the_chain_verifies(web, boss):
    web.call(make_draft, web.db, web.call(make_inbound, web.db, THREAD))
    web.call(make_inbound, web.db, "+14155550101")

    page = web.client.get("/audit?thread=%2B14155550100&event=Draft+Created")

    assert page.status_code == 200
    assert "Hash chain verified" in page.text
    assert page.text.count('class="audit-row"') == 2  # the inbound's and the draft's rows
    assert "+14155550101" not in page.text.split('class="audit-rows"')[1]


def test_audit_pages_backwards_with_a_keyset(web, boss, monkeypatch):
    from approval_bot.store.views import audit

    monkeypatch.setattr(audit, "PAGE_SIZE", 2)
    for i in range(3):
        web.call(make_inbound, web.db, f"+1415555030{i}")
    first = web.client.get("/audit?actor=system").text
    link = first.split("before=")[-1].split('"')[0]
    second = web.client.get(f"/audit?actor=system&before={link}").text
    assert "+14155550302" in first and "+14155550302" not in second


BAD_FILTERS = [
    "actor=bob",
    "since=yesterday",
    "until=31/01/2026",
    # "²" passes str.isdigit but is no number; 2**63 is past the largest row id
    "actor=%C2%B2",
    "actor=9223372036854775808",
    # a valid time that UTC puts after year 9999 or before year 1
    "since=9999-12-31T23:59:59-05:00",
    "until=0001-01-01T00:00:00%2B05:00",
]


@pytest.mark.parametrize(
    "query",
    [
        *BAD_FILTERS,
        "before=x",
        "before=%C2%B2",
        "before=9223372036854775808",
        "before=" + "9" * 5000,
    ],
)
def test_audit_bad_filters_are_400(web, boss, query):
    response = web.client.get(f"/audit?{query}")
    assert response.status_code == 400
    assert "must be" in response.json()["error"]["message"]


@pytest.mark.parametrize("query", BAD_FILTERS)
@pytest.mark.parametrize("kind", ["csv", "json"])
def test_audit_exports_refuse_bad_filters_with_400(web, boss, kind, query):
    response = web.client.get(f"/audit/export.{kind}?{query}")
    assert response.status_code == 400
    assert "must be" in response.json()["error"]["message"]


def test_audit_shows_a_broken_chain(web, boss):
    web.call(make_inbound, web.db, THREAD)

    async def tamper(db):
        def change(conn: Tx) -> Any:
            conn.execute("DROP TRIGGER audit_log_no_update")
            conn.execute("UPDATE audit_log SET metadata = '{}' WHERE id = 2")

        await db.write(change)

    web.call(tamper, web.db)
    page = web.client.get("/audit?verify=full")
    assert "Hash chain broken at row 2" in page.text


def test_audit_exports_csv_and_json(web, boss):
    web.call(make_inbound, web.db, THREAD, '=HYPERLINK("x")')

    exported = web.client.get("/audit/export.csv?thread=%2B14155550100")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["event"] for r in rows] == ["Conversation Opened", "Stored"]
    assert rows[0]["thread_id"] == THREAD

    as_json = web.client.get("/audit/export.json?thread=%2B14155550100").json()
    assert [r["event"] for r in as_json] == ["Conversation Opened", "Stored"]
    assert as_json[1]["metadata"]["to"] == "RECEIVED"
    assert web.client.get("/audit/export.xml").status_code == 404


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-cmd", "'-cmd"),
        ("-5", "-5"),
        ("-2.5", "-2.5"),
        # a sign then digits and more: a spreadsheet reads these as formulas too
        ("-2+3", "'-2+3"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("+14155550100 x", "'+14155550100 x"),
        ("plain", "plain"),
        (None, ""),
        (7, "7"),
    ],
)
def test_csv_cells_never_become_formulas(value, expected):
    assert csv_cell(value) == expected


def test_audit_csv_export_quotes_a_reviewer_name_a_spreadsheet_would_run(web):
    boss_name = "-1+cmd|' /C calc'!A0"
    web.reviewer(boss_name, role=Role.ADMIN)
    web.sign_in(boss_name)
    web.post("/reviewers/add", {"name": "Cleo", "phone": "+14155550123"})

    exported = web.client.get("/audit/export.csv?event=Reviewer+Added")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    added_cleo = [r for r in rows if "Cleo" in r["metadata"]]
    assert [r["actor_name"] for r in added_cleo] == ["'" + boss_name]


def test_admin_adds_a_reviewer_who_can_then_sign_in(web, boss):
    response = web.post("/reviewers/add", {"name": "Cleo", "phone": "+14155550123"})
    assert response.status_code == 200
    password = response.text.split("shown once: ")[1].split("<")[0]
    assert password not in web.client.get("/reviewers").text
    (row,) = web.rows("SELECT * FROM reviewers WHERE name = 'Cleo'")
    assert row["phone"] == "+14155550123"
    (entry,) = web.rows(
        "SELECT * FROM audit_log WHERE event = 'Reviewer Added' AND actor_id = ?", boss.id
    )
    web.post("/logout")
    web.sign_in("Cleo", password)
    assert web.client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/reviewers/add", {"name": "Dee", "phone": "555-0100"}),
        ("/reviewers/add", {"name": "", "phone": ""}),
        ("/reviewers/add", {"name": "Dee", "role": "king"}),
        ("/reviewers/add", {"name": "boss"}),
        ("/reviewers/{id}/phone", {"phone": "+1415555"}),
        ("/reviewers/{id}/notify", {"notify_sms": "maybe"}),
        ("/reviewers/{id}/active", {"active": "2"}),
    ],
)
def test_reviewer_changes_refuse_bad_input(web, boss, path, data):
    cleo = web.reviewer("Cleo", phone="+14155550124")
    before = web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"]
    response = web.post(path.format(id=cleo.id), data)
    assert response.status_code == 400
    assert web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"] == before
    assert len(web.rows("SELECT * FROM reviewers")) == 2


def test_admin_sets_phone_notifications_and_disables(web, boss):
    cleo = web.reviewer("Cleo")
    assert web.post(f"/reviewers/{cleo.id}/phone", {"phone": "+14155550125"}).status_code == 303
    assert web.post(f"/reviewers/{cleo.id}/notify", {"notify_sms": "0"}).status_code == 303
    assert web.post(f"/reviewers/{cleo.id}/active", {"active": "0"}).status_code == 303
    (row,) = web.rows("SELECT * FROM reviewers WHERE id = ?", cleo.id)
    assert (row["phone"], row["notify_sms"], row["active"]) == ("+14155550125", 0, 0)
    events = [
        r["event"] for r in web.rows("SELECT event FROM audit_log WHERE actor_id = ?", boss.id)
    ]
    assert {"Reviewer Phone Set", "Reviewer Notifications Off", "Reviewer Disabled"} <= set(events)
    assert web.post("/reviewers/999/active", {"active": "0"}).status_code == 404


def test_the_last_admin_cannot_be_disabled(web, boss):
    assert web.post(f"/reviewers/{boss.id}/active", {"active": "0"}).status_code == 400


def test_password_reset_signs_the_reviewer_out_elsewhere(web, boss):
    cleo = web.reviewer("Cleo")
    response = web.post(f"/reviewers/{cleo.id}/password")
    assert response.status_code == 200
    password = response.text.split("shown once: ")[1].split("<")[0]
    assert password not in response.headers.get("set-cookie", "")
    web.post("/logout")
    token = web.csrf("/login")
    old = web.client.post(
        "/login", data={"csrf_token": token, "name": "Cleo", "password": "correct horse battery"}
    )
    assert old.status_code == 401
    web.sign_in("Cleo", password)


def test_reviewer_actions_need_an_admin_and_csrf(web):
    web.reviewer("Boss", role=Role.ADMIN)
    ana = web.reviewer("Ana")
    web.sign_in("Ana")
    assert web.post(f"/reviewers/{ana.id}/notify", {"notify_sms": "0"}).status_code == 403
    web.post("/logout")
    web.sign_in("Boss")
    assert (
        web.client.post(f"/reviewers/{ana.id}/notify", data={"notify_sms": "0"}).status_code == 403
    )
    assert web.rows("SELECT notify_sms FROM reviewers WHERE id = ?", ana.id)[0]["notify_sms"] == 1


def test_a_long_chain_walk_runs_in_the_background(web, boss, monkeypatch):
    from approval_bot.web import audit_pages

    for i in range(5):
        web.call(make_inbound, web.db, f"+1415555040{i}")
    monkeypatch.setattr(audit_pages, "WAIT_FOR_WALK_SECONDS", 0)
    monkeypatch.setattr(audit_pages, "WALK_BATCH", 1)

    first = web.client.get("/audit?verify=full")
    assert first.status_code == 200
    assert "Verifying the hash chain" in first.text, first.text.split('id="chain"')[1][:300]

    monkeypatch.setattr(audit_pages, "WAIT_FOR_WALK_SECONDS", 5)
    # only the request that starts a walk waits for it: a page asked for while the first walk
    # is still going says so, and a later one shows its end
    for _ in range(100):
        page = web.client.get("/audit").text
        if "Hash chain verified" in page:
            break
        assert "Verifying the hash chain" in page
        web.call(asyncio.sleep, 0.1)  # the app's loop runs on: the walk goes on
    assert "Hash chain verified" in page


# "²" passes str.isdigit but is no number; 2**63 is past the largest row id of either backend;
# Python's int() refuses a string of over 4,300 digits
NOT_ROW_IDS = ["%C2%B2", "9223372036854775808", "99999999999999999999999", "9" * 5000]


@pytest.mark.both_backends
@pytest.mark.parametrize("raw_id", NOT_ROW_IDS)
@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("active", {"active": "0"}),
        ("phone", {"phone": "+14155550124"}),
        ("notify", {"notify_sms": "0"}),
        ("quiet", {"quiet_start": "22:00", "quiet_end": "07:00"}),
        ("backup", {"backup": "1"}),
        ("password", {}),
    ],
)
def test_a_reviewer_id_that_cannot_be_one_is_404(web, boss, raw_id, action, data):
    before = web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"]

    response = web.post(f"/reviewers/{raw_id}/{action}", data)

    assert response.status_code == 404
    assert "no such reviewer" in response.text
    assert web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"] == before
