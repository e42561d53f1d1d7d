"""Structured logs: a line per request and per committed audited change."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from approval_bot import logs, workflow
from approval_bot.logs import TextFormatter
from approval_bot.models import Event, MessageStatus
from tests.builders import make_inbound

pytestmark = pytest.mark.anyio


def record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": "approval_bot.audit",
            "levelno": 20,
            "levelname": "INFO",
            "msg": "Approved",
            **extra,
        }
    )


def test_text_lines_carry_the_extras_as_key_value():
    line = TextFormatter().format(record(thread_id="+14155550100", message_id="m1"))
    assert line.endswith("INFO approval_bot.audit Approved thread_id=+14155550100 message_id=m1")


async def test_committed_changes_are_logged_with_their_ids(db, caplog):
    inbound = await make_inbound(db, "+14155550100")
    caplog.set_level(logging.INFO, logger="approval_bot.audit")

    def change(conn: sqlite3.Connection) -> Any:
        workflow.change_status(
            conn,
            inbound,
            expected=MessageStatus.RECEIVED,
            target=MessageStatus.NEEDS_REVIEW,
            event=Event.DRAFT_FAILED,
        )

    await db.write(change)
    (line,) = [r for r in caplog.records if r.name == "approval_bot.audit"]
    assert line.getMessage() == Event.DRAFT_FAILED
    assert (line.thread_id, line.message_id) == ("+14155550100", inbound)
    assert (line.__dict__["from"], line.__dict__["to"]) == ("RECEIVED", "NEEDS_REVIEW")
    formatted = json.loads(JsonFormatter().format(line))
    assert formatted["message_id"] == inbound


async def test_a_rolled_back_change_is_never_logged(db, caplog):
    inbound = await make_inbound(db, "+14155550100")
    caplog.set_level(logging.INFO, logger="approval_bot.audit")
    with pytest.raises(RuntimeError):

        def change(conn: sqlite3.Connection) -> Any:
            workflow.change_status(
                conn,
                inbound,
                expected=MessageStatus.RECEIVED,
                target=MessageStatus.NEEDS_REVIEW,
                event=Event.DRAFT_FAILED,
            )
            raise RuntimeError("crash before commit")

        await db.write(change)
    assert not [r for r in caplog.records if r.name == "approval_bot.audit"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_uvicorns_colour_copy_and_apschedulers_chatter_stay_out(log_format, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure(log_format)
        logging.getLogger("uvicorn.error").info(
            "Started", extra={"color_message": "\x1b[36mStarted\x1b[0m"}
        )
        logging.getLogger("apscheduler.executors.default").info("Running job x")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    assert "Started" in err and "color_message" not in err and "\x1b" not in err
    assert "Running job" not in err
