"""The reviewers page, for reviewers by SMS: who texted STOP, and quiet hours set by an admin."""

from __future__ import annotations

import pytest

from approval_bot.models import Role

CLEO_PHONE = "+14155550124"


@pytest.fixture
def boss(web):
    reviewer = web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    return reviewer


def quiet_of(web, reviewer_id):
    (row,) = web.rows(
        "SELECT quiet_start, quiet_end, time_zone FROM reviewers WHERE id = ?", reviewer_id
    )
    return row["quiet_start"], row["quiet_end"], row["time_zone"]


def audit_count(web):
    return web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"]


def test_a_reviewer_who_texted_stop_is_shown_and_start_clears_it(web, boss):
    cleo = web.reviewer("Cleo", phone=CLEO_PHONE)
    # through the simulator, so through the signed webhook, as Twilio would post it
    assert web.post("/simulator/send", {"from": CLEO_PHONE, "body": "STOP"}).status_code == 303

    row = web.client.get("/reviewers").text.split(f'id="reviewer-{cleo.id}"')[1].split("</tr>")[0]
    assert "Texted STOP" in row and "Off — turn on" in row

    web.post("/simulator/send", {"from": CLEO_PHONE, "body": "START"})
    row = web.client.get("/reviewers").text.split(f'id="reviewer-{cleo.id}"')[1].split("</tr>")[0]
    assert "Texted STOP" not in row and "On — turn off" in row


def test_admin_sets_and_clears_quiet_hours(web, boss):
    cleo = web.reviewer("Cleo", phone=CLEO_PHONE)

    response = web.post(
        f"/reviewers/{cleo.id}/quiet",
        {"quiet_start": "22:00", "quiet_end": "07:00", "time_zone": "Europe/Paris"},
    )

    assert response.status_code == 303
    assert quiet_of(web, cleo.id) == ("22:00", "07:00", "Europe/Paris")
    page = web.client.get("/reviewers").text
    assert "quiet hours are 22:00–07:00 (Europe/Paris)" in page
    assert 'value="Europe/Paris"' in page

    assert web.post(f"/reviewers/{cleo.id}/quiet", {"clear": "1"}).status_code == 303
    assert quiet_of(web, cleo.id) == (None, None, "UTC")
    events = web.rows("SELECT actor_id FROM audit_log WHERE event = 'Reviewer Quiet Hours Set'")
    assert [e["actor_id"] for e in events] == [boss.id, boss.id]


@pytest.mark.parametrize(
    "form",
    [
        {"quiet_start": "25:00", "quiet_end": "07:00", "time_zone": "UTC"},
        {"quiet_start": "22:00", "quiet_end": "22:00", "time_zone": "UTC"},
        {"quiet_start": "22:00", "quiet_end": "07:00", "time_zone": "Mars/Olympus"},
        {"quiet_start": "22:00", "quiet_end": "07:00", "time_zone": "../../etc/passwd"},
        {"quiet_start": "", "quiet_end": "07:00"},
        {"quiet_start": "22:00:00:00", "quiet_end": "07:00"},
    ],
)
def test_bad_quiet_hours_are_400_and_change_nothing(web, boss, form):
    cleo = web.reviewer("Cleo")
    before = audit_count(web)

    response = web.post(f"/reviewers/{cleo.id}/quiet", form)

    assert response.status_code == 400
    assert quiet_of(web, cleo.id) == (None, None, "UTC")
    assert audit_count(web) == before


def test_quiet_hours_need_an_admin_and_csrf(web):
    web.reviewer("Boss", role=Role.ADMIN)
    ana = web.reviewer("Ana")
    web.sign_in("Ana")
    form = {"quiet_start": "22:00", "quiet_end": "07:00"}
    assert web.post(f"/reviewers/{ana.id}/quiet", form).status_code == 403
    web.post("/logout")
    web.sign_in("Boss")
    assert web.client.post(f"/reviewers/{ana.id}/quiet", data=form).status_code == 403
    assert web.post("/reviewers/999/quiet", form).status_code == 404
    assert quiet_of(web, ana.id) == (None, None, "UTC")


def test_admin_marks_a_backup_for_overdue_replies_and_bad_input_changes_nothing(web, boss):
    cleo = web.reviewer("Cleo", phone=CLEO_PHONE)
    row = web.client.get("/reviewers").text.split(f'id="reviewer-{cleo.id}"')[1].split("</tr>")[0]
    assert "Make backup" in row

    assert web.post(f"/reviewers/{cleo.id}/backup", {"backup": "1"}).status_code == 303
    assert web.rows("SELECT backup FROM reviewers WHERE id = ?", cleo.id)[0]["backup"] == 1
    row = web.client.get("/reviewers").text.split(f'id="reviewer-{cleo.id}"')[1].split("</tr>")[0]
    assert "Backup — stop" in row
    events = web.rows("SELECT actor_id FROM audit_log WHERE event = 'Reviewer Backup On'")
    assert [e["actor_id"] for e in events] == [boss.id]

    before = audit_count(web)
    assert web.post(f"/reviewers/{cleo.id}/backup", {"backup": "yes"}).status_code == 400
    assert web.rows("SELECT backup FROM reviewers WHERE id = ?", cleo.id)[0]["backup"] == 1
    assert audit_count(web) == before
