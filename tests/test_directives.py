"""Directives and FAQ entries: stored, audited as "Updated Directive", set from the CLI."""

from __future__ import annotations

import json

import pytest

from approval_bot import directives
from approval_bot.cli import main

pytestmark = pytest.mark.anyio


async def audit_rows(db):
    return await db.fetchall(
        "SELECT * FROM audit_log WHERE event = 'Updated Directive' ORDER BY id"
    )


async def test_directives_and_faq_are_stored_and_audited(db):
    await directives.set_directive(db, "global", "We are Dana's Bakery.", None)
    await directives.set_directive(db, "global", "We are Dana's Bakery & Café.", None)
    await directives.set_directive(db, "+14155550100", "Call her Ms Lee.", None)
    entry = await directives.add_faq(db, ("Hours", " open ", "hours"), " 9 to 5. ", None)

    async with db.snapshot() as conn:
        guidance = await directives.load_guidance(conn, "+14155550100")
        other = await directives.load_guidance(conn, "+14155550111")
    assert guidance.directives == ("We are Dana's Bakery & Café.", "Call her Ms Lee.")
    assert other.directives == ("We are Dana's Bakery & Café.",)
    assert [(e.keywords, e.answer) for e in guidance.faq] == [(("hours", "open"), "9 to 5.")]
    rows = await audit_rows(db)
    assert len(rows) == 4
    second = json.loads(rows[1]["metadata"])
    assert second["previous"] == "We are Dana's Bakery."
    assert rows[2]["thread_id"] == "+14155550100"

    await directives.remove_faq(db, entry, None)
    async with db.snapshot() as conn:
        assert (await directives.load_guidance(conn, None)).faq == ()
    assert json.loads((await audit_rows(db))[-1]["metadata"])["action"] == "remove"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: directives.set_directive(db, "nobody", "x", None), "scope must be"),
        (lambda db: directives.add_faq(db, (" ",), "x", None), "keyword"),
        (lambda db: directives.add_faq(db, ("a",), "  ", None), "answer"),
        (lambda db: directives.remove_faq(db, 42, None), "no FAQ entry 42"),
    ],
)
async def test_bad_guidance_is_refused_and_nothing_is_written(db, call, message):
    with pytest.raises(directives.InvalidGuidance, match=message):
        await call(db)
    assert await audit_rows(db) == []


def test_the_cli_sets_directives_and_adds_faq_entries(db_path, monkeypatch, capsys):
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))

    assert main(["directive", "set", "Be brief."]) == 0
    assert main(["faq", "add", "--keywords", "hours, open", "9 to 5."]) == 0
    assert main(["faq", "add", "--keywords", "x", "y", "--thread", "12"]) == 1
    assert main(["directive", "show"]) == 0
    assert main(["faq", "list"]) == 0

    out, err = capsys.readouterr()
    assert "set the global directive" in out
    assert "added FAQ entry 1 (global): hours, open" in out
    assert "Be brief." in out and "1  [global]  hours, open → 9 to 5." in out
    assert "scope must be 'global' or a customer's number" in err
