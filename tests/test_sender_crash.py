"""Never twice, across a crash: the app is killed with SIGKILL mid-send, then restarted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from approval_bot import review
from approval_bot.models import DecisionChannel
from approval_bot.store import opened, sql
from tests import fake_twilio
from tests.builders import BUSINESS, approve_sending, make_draft, make_inbound, make_reviewer
from tests.fake_twilio import FakeTwilio, Reply
from tests.settings_env import environ_without_settings
from tests.test_serve import free_port, script, wait_for_health

pytestmark = [pytest.mark.slow, pytest.mark.both_backends]

Database = Path | str  # the SQLite file, or a PostgreSQL URL

TAKEN_THEN_KILLED = ["+14155550121", "+14155550122", "+14155550123"]  # accepted, unrecorded
NEVER_TAKEN = "+14155550124"  # the request hangs before Twilio takes it
ANSWERED = "+14155550125"  # an ordinary send, answered at once
NUMBERS = [*TAKEN_THEN_KILLED, NEVER_TAKEN, ANSWERED]


async def approve_one_each(database: Database) -> dict[str, str]:
    async with opened(database) as db:
        await approve_sending(db)  # with credentials the gate starts pending
        ana = await make_reviewer(db)
        drafts = {}
        for number in NUMBERS:
            draft = await make_draft(db, await make_inbound(db, number), f"Hello {number}")
            await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
            drafts[number] = draft
        return drafts


DRAFTS = sql("SELECT receiver, status, provider_sid, claimed_at FROM messages WHERE type = 'DRAFT'")


def statuses(database: Database) -> dict[str, tuple[str, str | None, str | None]]:
    async def read() -> list[Any]:
        async with opened(database, migrate=False) as db:
            return await db.all(DRAFTS)

    rows = asyncio.run(read())
    return {r["receiver"]: (r["status"], r["provider_sid"], r["claimed_at"]) for r in rows}


def start(tmp_path: Path, database: Database, fake: FakeTwilio, port: int, **env: str):
    environ = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(tmp_path / "data" / "approval_bot.sqlite3"),
        **({"DATABASE_URL": database} if isinstance(database, str) else {}),
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": BUSINESS,
        "TWILIO_API_BASE_URL": fake.url,
        "SEND_POLL_SECONDS": "0.5",
        **env,
    }
    return subprocess.Popen(
        [str(script()), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_send_killed_before_it_was_recorded_is_accepted_exactly_once(
    tmp_path: Path, database_target: Database
):
    database = database_target
    drafts = asyncio.run(approve_one_each(database))
    with FakeTwilio() as fake:
        for number in TAKEN_THEN_KILLED:
            fake.script(number, fake_twilio.HELD)
        fake.script(NEVER_TAKEN, Reply(hold=True, accept=False))

        port = free_port()
        first = start(
            tmp_path, database, fake, port, SEND_TIMEOUT_SECONDS="30", SEND_LEASE_SECONDS="61"
        )
        try:
            wait_for_health(first, f"http://127.0.0.1:{port}/healthz")
            fake.wait_accepted(len(TAKEN_THEN_KILLED) + 1)
            deadline = time.monotonic() + 20
            while not fake.creates(NEVER_TAKEN) and time.monotonic() < deadline:
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
        assert first.returncode == -signal.SIGKILL

        # the scene the crash left: taken by Twilio, claimed, not recorded
        left = statuses(database)
        for number in [*TAKEN_THEN_KILLED, NEVER_TAKEN]:
            status, sid, claimed_at = left[number]
            assert (status, sid) == ("APPROVED_TO_SEND", None)
            assert claimed_at is not None
        fake.release()  # the dead process's held requests end; nobody reads the answers

        second = start(
            tmp_path, database, fake, port, SEND_TIMEOUT_SECONDS="1", SEND_LEASE_SECONDS="3"
        )
        try:
            wait_for_health(second, f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                final = statuses(database)
                if all(s[0] in ("SENT", "FAILED_SEND") for s in final.values()):
                    break
                time.sleep(0.1)
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=10)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
        assert "Traceback" not in err, err

        final = statuses(database)
        for number in NUMBERS:
            accepted = fake.accepted_to(number)
            assert len(accepted) == 1, f"{number} was accepted {len(accepted)} times"
            assert final[number][:2] == ("SENT", accepted[0]["sid"]), number
        assert set(drafts) == set(final)
