"""The `approval-bot` command, run in-process through `cli.main(argv)`."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from approval_bot import accounts, cli
from approval_bot.store import load_migrations, opened, sql

from .settings_env import clear_settings, environ_without_settings

ANA_PHONE = "+14155550101"
BEA_PHONE = "+14155550102"
PASSWORD = "correct horse battery"


class Run(NamedTuple):
    code: int
    out: str
    err: str


RunCli = Callable[..., Run]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_path: Path) -> Path:
    """No approval-bot settings but the database, and a working directory of our own."""
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    monkeypatch.chdir(tmp_path)
    return db_path


@pytest.fixture
def run(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> RunCli:
    def run(*argv: str, stdin: str | None = None) -> Run:
        capsys.readouterr()  # only this command's output
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def rows(db_path: Path, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def reviewer_names(db_path: Path) -> list[str]:
    if not db_path.exists():  # refused before the database was opened
        return []
    return [row["name"] for row in rows(db_path, "SELECT name FROM reviewers ORDER BY id")]


def audit_events(db_path: Path) -> list[str]:
    return [row["event"] for row in rows(db_path, "SELECT event FROM audit_log ORDER BY id")]


def reviewer_for_token(db_path: Path, token: str) -> accounts.Reviewer | None:
    async def find() -> accounts.Reviewer | None:
        async with opened(db_path) as db:
            return await accounts.reviewer_for_token(db, token)

    return asyncio.run(find())


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command argparse must refuse; return its stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        cli.main(list(argv))
    assert raised.value.code == 2
    return capsys.readouterr().err


def last_line_with(text: str, needle: str) -> str:
    return [line for line in text.splitlines() if needle in line][-1]


# -- init-db ---------------------------------------------------------------------------------


def test_init_db_creates_database_and_admin_with_password_shown_once(
    run: RunCli, cli_env: Path
) -> None:
    result = run("init-db")

    assert result.code == 0
    assert f"schema version {len(load_migrations())}" in result.out
    line = last_line_with(result.out, "password:")
    password = line.split("password:", 1)[1].strip()
    assert len(password) >= 8

    (admin,) = rows(cli_env, "SELECT * FROM reviewers")
    assert admin["name"] == "admin"
    assert admin["role"] == "admin"
    assert admin["active"] == 1
    assert accounts.password_matches(admin["password_hash"], password)
    assert not accounts.password_matches(admin["password_hash"], password + "x")
    assert password not in admin["password_hash"]
    # init-db is a first start: it sets the sending gate up too (sandbox here: approved)
    assert audit_events(cli_env) == ["Sending Gate Set Up", "Reviewer Added"]
    assert {entry["actor"] for entry in rows(cli_env, "SELECT actor FROM audit_log")} == {"System"}

    again = run("init-db")

    assert again.code == 0
    assert "password" not in again.out
    assert password not in again.out
    assert len(rows(cli_env, "SELECT * FROM reviewers")) == 1
    assert audit_events(cli_env) == ["Sending Gate Set Up", "Reviewer Added"]


def test_init_db_uses_admin_password_without_printing_it(
    run: RunCli, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "from-the-environment")
    monkeypatch.setenv("ADMIN_NAME", "Root")

    result = run("init-db")

    assert result.code == 0
    assert "from-the-environment" not in result.out + result.err
    (admin,) = rows(cli_env, "SELECT * FROM reviewers")
    assert admin["name"] == "Root"
    assert admin["role"] == "admin"
    assert accounts.password_matches(admin["password_hash"], "from-the-environment")


def test_init_db_refuses_a_short_admin_password(
    run: RunCli, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "short")

    result = run("init-db")

    assert result.code == 1
    assert "8 characters" in result.err
    assert "short" not in result.out
    assert reviewer_names(cli_env) == []


def test_bad_setting_is_one_sentence_naming_it(
    run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEND_POLL_SECONDS", "0")

    result = run("init-db")

    assert result.code == 1
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith("approval-bot: error: SEND_POLL_SECONDS")
    assert "Traceback" not in result.err


def test_bad_setting_changes_nothing(
    run: RunCli, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAFTER", "other")

    result = run("reviewer", "add", "Ana", "--phone", ANA_PHONE)

    assert result.code == 1
    assert "DRAFTER" in result.err
    assert not cli_env.exists()


# -- reviewer add ----------------------------------------------------------------------------


def test_reviewer_add_with_generated_password(run: RunCli, cli_env: Path) -> None:
    result = run("reviewer", "add", "Ana", "--phone", ANA_PHONE)

    assert result.code == 0
    assert "Ana" in result.out and ANA_PHONE in result.out
    password = last_line_with(result.out, "password:").split("password:", 1)[1].split()[0]
    (ana,) = rows(cli_env, "SELECT * FROM reviewers")
    assert (ana["name"], ana["phone"], ana["role"]) == ("Ana", ANA_PHONE, "reviewer")
    assert accounts.password_matches(ana["password_hash"], password)
    assert audit_events(cli_env) == ["Reviewer Added"]
    (entry,) = rows(cli_env, "SELECT actor FROM audit_log")
    assert entry["actor"] == "Human"


def test_reviewer_add_admin_with_password_from_stdin(run: RunCli, cli_env: Path) -> None:
    result = run("reviewer", "add", "Bea", "--phone", BEA_PHONE, "--admin", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip

    assert result.code == 0
    assert PASSWORD not in result.out
    assert "password" not in result.out
    (bea,) = rows(cli_env, "SELECT * FROM reviewers")
    assert bea["role"] == "admin"
    assert accounts.password_matches(bea["password_hash"], PASSWORD)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("", "no password"), ("\n", "no password"), ("seven77\n", "8 characters")],
    ids=["nothing", "empty-line", "short"],
)
def test_reviewer_add_refuses_a_bad_stdin_password(
    run: RunCli, cli_env: Path, stdin: str, message: str
) -> None:
    result = run("reviewer", "add", "Ana", "--phone", ANA_PHONE, "--password-stdin", stdin=stdin)

    assert result.code == 1
    assert message in result.err
    assert "Traceback" not in result.err
    assert reviewer_names(cli_env) == []


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("555", "E.164"),
        ("14155550101", "E.164"),
        ("whatsapp:+14155550101", "E.164"),
        ("+1415555", "not a valid phone number"),
        ("+99912345678", "not a phone number"),
        ("+1415\u0665\u0662\u06638801", "E.164"),  # Arabic-Indic digits: +1415٥٢٣8801
        ("+1415\uff11\uff12\uff138801", "E.164"),  # full-width digits: +1415１２３8801
    ],
)
def test_reviewer_add_refuses_a_bad_phone(
    cli_env: Path, capsys: pytest.CaptureFixture[str], phone: str, message: str
) -> None:
    err = usage_error(capsys, "reviewer", "add", "Ana", "--phone", phone)

    assert "--phone" in err
    assert message in err
    assert repr(phone) in err
    assert not cli_env.exists()


def test_reviewer_add_refuses_a_name_taken_in_any_case(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("reviewer", "add", "ANA", "--phone", BEA_PHONE)

    assert result.code == 1
    assert "'Ana' already exists" in result.err
    assert reviewer_names(cli_env) == ["Ana"]
    assert audit_events(cli_env) == ["Reviewer Added"]


def test_reviewer_add_refuses_a_phone_taken(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("reviewer", "add", "Bea", "--phone", ANA_PHONE)

    assert result.code == 1
    assert ANA_PHONE in result.err and "Ana" in result.err
    assert reviewer_names(cli_env) == ["Ana"]


def test_reviewer_add_refuses_a_blank_name(run: RunCli, cli_env: Path) -> None:
    result = run("reviewer", "add", "   ", "--phone", ANA_PHONE)

    assert result.code == 1
    assert "name" in result.err
    assert reviewer_names(cli_env) == []


def test_reviewer_add_without_phone_is_a_usage_error(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(capsys, "reviewer", "add", "Ana")

    assert "--phone" in err


# -- reviewer list / disable -----------------------------------------------------------------


def test_reviewer_list_on_an_empty_database(run: RunCli) -> None:
    result = run("reviewer", "list")

    assert result.code == 0
    assert "no reviewers yet" in result.out


def test_reviewer_list_shows_columns_and_rows(run: RunCli) -> None:
    assert run("init-db").code == 0
    assert run("reviewer", "add", "bea", "--phone", BEA_PHONE).code == 0
    assert run("reviewer", "add", "Carl", "--phone", ANA_PHONE).code == 0
    assert run("reviewer", "disable", "Carl").code == 0

    result = run("reviewer", "list")

    assert result.code == 0
    header, *lines = result.out.splitlines()
    assert header.split() == ["NAME", "ROLE", "PHONE", "SMS", "BACKUP", "ACTIVE"]
    # sorted by name regardless of case; an admin made by init-db has no phone
    assert [line.split() for line in lines] == [
        ["admin", "admin", "-", "on", "no", "yes"],
        ["bea", "reviewer", BEA_PHONE, "on", "no", "yes"],
        ["Carl", "reviewer", ANA_PHONE, "on", "no", "disabled"],
    ]
    # columns line up under their headings
    assert all(line.index(BEA_PHONE[:4]) == header.index("PHONE") for line in lines[1:])


def test_reviewer_disable(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("reviewer", "disable", "ana")

    assert result.code == 0
    assert "Ana" in result.out
    (ana,) = rows(cli_env, "SELECT active FROM reviewers")
    assert ana["active"] == 0
    assert audit_events(cli_env) == ["Reviewer Added", "Reviewer Disabled"]

    again = run("reviewer", "disable", "Ana")

    assert again.code == 1
    assert "already disabled" in again.err
    assert audit_events(cli_env) == ["Reviewer Added", "Reviewer Disabled"]


def test_reviewer_disable_unknown(run: RunCli, cli_env: Path) -> None:
    result = run("reviewer", "disable", "Nobody")

    assert result.code == 1
    assert "no reviewer named 'Nobody'" in result.err
    assert audit_events(cli_env) == []


# -- token create / revoke -------------------------------------------------------------------


def create_token(run: RunCli, name: str = "ci", reviewer: str = "Ana") -> str:
    result = run("token", "create", name, "--reviewer", reviewer)
    assert result.code == 0, result.err
    (token,) = [line for line in result.out.splitlines() if line.startswith(accounts.TOKEN_PREFIX)]
    return token


def database_bytes(db_path: Path) -> bytes:
    """The database file and any WAL or shared-memory file beside it."""
    files = sorted(db_path.parent.glob(db_path.name + "*"))
    assert db_path in files
    return b"".join(path.read_bytes() for path in files)


def test_token_create_prints_it_once_and_stores_only_its_hash(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    token = create_token(run)

    found = reviewer_for_token(cli_env, token)
    assert found is not None and found.name == "Ana"
    assert reviewer_for_token(cli_env, token + "x") is None
    stored = database_bytes(cli_env)
    assert accounts.hash_token(token).encode() in stored  # the search does find what is there
    assert token.encode() not in stored
    assert token.removeprefix(accounts.TOKEN_PREFIX).encode() not in stored
    assert audit_events(cli_env) == ["Reviewer Added", "Token Created"]
    assert token not in str([tuple(r) for r in rows(cli_env, "SELECT * FROM audit_log")])


def test_each_token_is_different(run: RunCli) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    assert create_token(run, "one") != create_token(run, "two")


def test_token_create_for_unknown_reviewer(run: RunCli, cli_env: Path) -> None:
    result = run("token", "create", "ci", "--reviewer", "Nobody")

    assert result.code == 1
    assert "no reviewer named 'Nobody'" in result.err
    assert result.out == ""
    assert rows(cli_env, "SELECT * FROM api_tokens") == []


def test_token_create_for_disabled_reviewer(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0
    assert run("reviewer", "disable", "Ana").code == 0

    result = run("token", "create", "ci", "--reviewer", "Ana")

    assert result.code == 1
    assert "disabled" in result.err
    assert rows(cli_env, "SELECT * FROM api_tokens") == []


def test_token_create_refuses_a_duplicate_name(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0
    first = create_token(run)

    result = run("token", "create", "ci", "--reviewer", "Ana")

    assert result.code == 1
    assert "'ci' already exists" in result.err
    assert not any(line.startswith(accounts.TOKEN_PREFIX) for line in result.out.splitlines())
    assert len(rows(cli_env, "SELECT * FROM api_tokens")) == 1
    assert reviewer_for_token(cli_env, first) is not None


def test_token_stops_working_when_its_reviewer_is_disabled(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0
    token = create_token(run)

    assert run("reviewer", "disable", "Ana").code == 0

    assert reviewer_for_token(cli_env, token) is None


def test_token_revoke(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0
    token = create_token(run)
    other = create_token(run, "other")

    result = run("token", "revoke", "ci")

    assert result.code == 0
    assert "ci" in result.out
    assert reviewer_for_token(cli_env, token) is None
    assert reviewer_for_token(cli_env, other) is not None
    assert audit_events(cli_env) == [
        "Reviewer Added",
        "Token Created",
        "Token Created",
        "Token Revoked",
    ]

    again = run("token", "revoke", "ci")

    assert again.code == 1
    assert "already revoked" in again.err
    assert audit_events(cli_env)[-1] == "Token Revoked"
    assert len(audit_events(cli_env)) == 4


def test_token_revoke_unknown(run: RunCli, cli_env: Path) -> None:
    result = run("token", "revoke", "nope")

    assert result.code == 1
    assert "no token named 'nope'" in result.err
    assert audit_events(cli_env) == []


# -- audit verify ----------------------------------------------------------------------------


def test_audit_verify_intact_log(run: RunCli) -> None:
    assert run("init-db").code == 0
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("audit", "verify")

    assert result.code == 0
    # the gate's first row, the admin, Ana
    assert "verified" in result.out and "3 rows" in result.out
    assert result.err == ""


def test_audit_verify_names_a_tampered_row(run: RunCli, cli_env: Path) -> None:
    assert run("init-db").code == 0
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0
    assert run("reviewer", "add", "Bea", "--phone", BEA_PHONE).code == 0
    with closing(sqlite3.connect(cli_env, isolation_level=None)) as conn:
        # the log is append-only by trigger: an attacker with the file drops it first
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET metadata = '{}' WHERE id = 2")
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute(
            "UPDATE audit_log SET metadata = json_set(metadata, '$.name', 'Mallory') WHERE id = 2"
        )

    result = run("audit", "verify")

    assert result.code == 1
    assert "row 2" in result.err
    assert "hash" in result.err
    assert result.out == ""


# -- the parser and the installed script -----------------------------------------------------


def test_version(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])

    assert raised.value.code == 0
    assert capsys.readouterr().out.startswith("approval-bot ")


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["reviewer"], ["token", "create", "ci"], ["serve", "--port", "70000"]],
)
def test_usage_errors(cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    err = usage_error(capsys, *argv)

    assert "usage: approval-bot" in err
    assert not cli_env.exists()


def installed_script() -> Path:
    beside = Path(sys.executable).parent / "approval-bot"
    if beside.exists():
        return beside
    found = shutil.which("approval-bot")
    assert found is not None, "the approval-bot console script is not installed"
    return Path(found)


@pytest.mark.parametrize(
    ("argv", "extra_env", "code", "message"),
    [
        (["reviewer", "add", "Ana", "--phone", "+1415555"], {}, 2, "--phone"),
        (["serve", "--port", "http"], {}, 2, "--port"),
        (["init-db"], {"SEND_POLL_SECONDS": "0"}, 1, "SEND_POLL_SECONDS"),
        (["reviewer", "disable", "Nobody"], {}, 1, "Nobody"),
    ],
)
def test_installed_script_reports_errors_without_traceback(
    tmp_path: Path, argv: list[str], extra_env: dict[str, str], code: int, message: str
) -> None:
    env = {
        **environ_without_settings(),
        "APPROVAL_BOT_DATABASE": str(tmp_path / "db.sqlite3"),
        **extra_env,
    }

    done = subprocess.run(
        [str(installed_script()), *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == code
    assert message in done.stderr
    assert "approval-bot" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            "newer schema",
            "the database is at schema version 9999, newer than the "
            f"{load_migrations()[-1].version} this approval-bot knows",
        ),
        ("not sqlite", "file is not a database"),
    ],
)
def test_serve_on_a_database_it_cannot_use_is_one_sentence(
    tmp_path: Path, spoil: str, message: str
) -> None:
    db_path = tmp_path / "db.sqlite3"
    if spoil == "newer schema":  # migrated by a newer approval-bot
        asyncio.run(migrated(db_path))
        with closing(sqlite3.connect(db_path)) as conn, conn:
            conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'later')")
    else:
        db_path.write_text("my notes, not a database\n")
    before = db_path.read_bytes() if spoil == "not sqlite" else audit_events(db_path)
    env = {**environ_without_settings(), "APPROVAL_BOT_DATABASE": str(db_path)}
    with socket.socket() as probe:  # a port free to listen on
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])

    done = subprocess.run(
        [str(installed_script()), "serve", "--port", port],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("approval-bot: error: ")
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1  # no traceback, no startup log
    after = db_path.read_bytes() if spoil == "not sqlite" else audit_events(db_path)
    assert after == before


async def migrated(db_path: Path) -> None:
    async with opened(db_path):
        pass


def test_output_piped_to_a_reader_that_went_away_blames_no_database(tmp_path: Path) -> None:
    # `approval-bot faq list | head -0`: the reader closes the pipe before anything is printed
    env = {**environ_without_settings(), "APPROVAL_BOT_DATABASE": str(tmp_path / "db.sqlite3")}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [str(installed_script()), "faq", "list"],
            env=env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)

    assert done.returncode != 0
    assert done.stderr == ""


def waits_on_a_pipe(pid: int, timeout: float = 30.0) -> None:
    """Until process `pid` sleeps in a read of a pipe (Linux's /proc/PID/wchan says so)."""
    deadline = time.monotonic() + timeout
    while "pipe" not in Path(f"/proc/{pid}/wchan").read_text():
        assert time.monotonic() < deadline, f"process {pid} never waited on its input"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "argv",
    [
        ("directive", "set", "-"),
        ("reviewer", "add", "Ana", "--phone", ANA_PHONE, "--password-stdin"),
        ("template", "set", "help", "-"),
    ],
    ids=["directive", "password", "template"],
)
def test_ctrl_c_while_a_command_waits_on_standard_input_ends_it(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    db_path = tmp_path / "db.sqlite3"
    asyncio.run(migrated(db_path))
    before = audit_events(db_path)
    env = {**environ_without_settings(), "APPROVAL_BOT_DATABASE": str(db_path)}
    command = subprocess.Popen(
        [str(installed_script()), *argv],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,  # kept open: the command waits for its text
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waits_on_a_pipe(command.pid)
        command.send_signal(signal.SIGINT)
        # the shell's code for a command ended by Ctrl-C (SIGINT, 2): 128 + 2
        assert command.wait(timeout=15) == 130
    finally:
        if command.poll() is None:
            command.kill()
        command.communicate()
    assert audit_events(db_path) == before


@pytest.mark.parametrize("argv", [("directive", "set", "-"), ("profile", "set", "-")])
@pytest.mark.parametrize(
    "decoding",
    [{"PYTHONIOENCODING": "utf-8:strict"}, {"LC_ALL": "C", "PYTHONIOENCODING": ""}],
    ids=["utf-8 locale", "C locale"],
)
def test_standard_input_that_is_not_utf8_is_one_sentence_and_writes_nothing(
    tmp_path: Path, argv: tuple[str, ...], decoding: dict[str, str]
) -> None:
    db_path = tmp_path / "db.sqlite3"
    asyncio.run(migrated(db_path))
    before = audit_events(db_path)
    env = {**environ_without_settings(), "APPROVAL_BOT_DATABASE": str(db_path), **decoding}

    done = subprocess.run(
        [str(installed_script()), *argv],
        env=env,
        cwd=tmp_path,
        input=b'{"name": "Caf\xe9"} \xff\xfe',  # Latin-1 bytes, as an old editor saves them
        capture_output=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert (
        done.stderr.decode()
        == "approval-bot: error: cannot read -: standard input is not UTF-8 text\n"
    )
    assert audit_events(db_path) == before


@pytest.mark.both_backends
@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        # a UTF-16 file, as Windows editors save them, is valid UTF-8 full of NULs
        (("directive", "set", "-"), "Be brief.".encode("utf-16-le").decode("utf-8")),
        (("template", "set", "greeting", "-"), "Hi\x00 from {business_name}"),
        (("profile", "set", "-"), '{"name": "Caf\\u0000"}'),
    ],
    ids=["utf-16 directive", "template", "profile json escape"],
)
def test_standard_input_holding_a_nul_is_one_sentence_and_writes_nothing(
    run: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    database_target: str | Path,
    argv: tuple[str, ...],
    stdin: str,
) -> None:
    target = str(database_target)
    monkeypatch.setenv("DATABASE_URL", target if "://" in target else f"sqlite:///{target}")

    async def audit_count() -> int:
        async with opened(database_target) as db:
            (row,) = await db.all(sql("SELECT count(*) AS n FROM audit_log"))
            return int(row["n"])

    before = asyncio.run(audit_count())

    result = run(*argv, stdin=stdin)

    assert result.code == 1
    assert "NUL character" in result.err
    assert "cannot use the database" not in result.err
    assert asyncio.run(audit_count()) == before


def test_the_last_active_admin_cannot_be_disabled(run: RunCli, cli_env: Path) -> None:
    assert run("init-db").code == 0

    result = run("reviewer", "disable", "admin")

    assert result.code == 1
    assert "last active admin" in result.err
    assert [r["active"] for r in rows(cli_env, "SELECT active FROM reviewers")] == [1]


def test_init_db_when_admin_name_is_a_plain_reviewer_says_what_to_do(
    run: RunCli, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("reviewer", "add", "Root", "--phone", ANA_PHONE).code == 0
    monkeypatch.setenv("ADMIN_NAME", "Root")

    result = run("init-db")

    assert result.code == 1
    assert "no active admin" in result.err and "ADMIN_NAME" in result.err
    assert "Traceback" not in result.err


def test_an_unusable_database_path_is_a_message_not_a_traceback(
    run: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(blocker / "db.sqlite3"))

    result = run("reviewer", "list")

    assert result.code == 1
    assert result.err.startswith("approval-bot: error: cannot use the database")
    assert "Traceback" not in result.err


def test_a_postgresql_role_without_rights_is_a_message_without_its_password(
    run: RunCli, monkeypatch: pytest.MonkeyPatch, empty_pg_url: str
) -> None:
    # an operator's DATABASE_URL names a role that may connect but not create the schema
    # (PostgreSQL 15 and later give PUBLIC no CREATE on the public schema)
    role = f"no_rights_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(empty_pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'hunter2-secret'")
    try:
        parts = urlsplit(empty_pg_url)
        netloc = f"{role}:hunter2-secret@{parts.hostname}:{parts.port}"
        monkeypatch.setenv("DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))

        result = run("reviewer", "list")

        assert result.code == 1
        assert result.err.startswith(
            f"approval-bot: error: cannot use the database postgresql://{role}:***@"
        )
        assert "permission denied" in result.err
        assert "hunter2-secret" not in result.err
        assert "Traceback" not in result.err
    finally:
        with psycopg.connect(empty_pg_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_reviewer_quiet_hours_are_set_checked_and_cleared(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("reviewer", "quiet", "Ana", "--hours", "22:00", "07:00", "--zone", "Europe/Paris")
    assert result.code == 0 and "22:00 to 07:00" in result.out
    (ana,) = rows(cli_env, "SELECT quiet_start, quiet_end, time_zone FROM reviewers")
    assert tuple(ana) == ("22:00", "07:00", "Europe/Paris")

    bad = run("reviewer", "quiet", "Ana", "--hours", "22:00", "25:00")
    assert bad.code == 1 and "HH:MM" in bad.err
    assert run("reviewer", "quiet", "Ana", "--hours", "1", "2", "--zone", "Mars/Base").code == 1

    assert run("reviewer", "quiet", "Ana", "--off").code == 0
    (ana,) = rows(cli_env, "SELECT quiet_start, quiet_end FROM reviewers")
    assert tuple(ana) == (None, None)
    assert audit_events(cli_env).count("Reviewer Quiet Hours Set") == 2


def test_reviewer_backup_is_set_and_cleared(run: RunCli, cli_env: Path) -> None:
    assert run("reviewer", "add", "Ana", "--phone", ANA_PHONE).code == 0

    result = run("reviewer", "backup", "ana")
    assert result.code == 0 and "'Ana' is a backup for overdue replies" in result.out
    assert tuple(rows(cli_env, "SELECT backup FROM reviewers")[0]) == (1,)
    assert run("reviewer", "list").out.splitlines()[1].split()[4] == "yes"

    assert run("reviewer", "backup", "Ana", "--off").code == 0
    assert tuple(rows(cli_env, "SELECT backup FROM reviewers")[0]) == (0,)
    missing = run("reviewer", "backup", "Nobody")
    assert missing.code == 1 and "Nobody" in missing.err
    assert audit_events(cli_env).count("Reviewer Backup On") == 1


WEBHOOK_URL = "https://93.184.216.34/hooks"  # a public address: no DNS needed
SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")  # 32 bytes in base64
URL = WEBHOOK_URL


def test_cli_add_list_rotate_disable(run, cli_env):
    added = run("webhook", "add", URL, "--events", "draft.decided,message.sent")
    assert added.code == 0, added.err
    first = SECRET.search(added.out)
    assert first is not None
    assert "added webhook 1" in added.out
    listed = run("webhook", "list")
    assert "1  active  " + URL in listed.out and "draft.decided, message.sent" in listed.out
    assert first[0] not in listed.out  # the secret is shown once
    rotated = run("webhook", "rotate-secret", "1")
    second = SECRET.search(rotated.out)
    assert rotated.code == 0 and second is not None and second[0] != first[0]
    (row,) = rows(cli_env, "SELECT secret, active FROM webhook_subscriptions")
    assert row["secret"] == second[0]
    assert run("webhook", "disable", "1").code == 0
    assert "1  disabled" in run("webhook", "list").out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("webhook", "add", "ftp://example.com/", "--events", "*"), "http:// or https://"),
        (("webhook", "add", URL, "--events", "draft.maybe"), "unknown event type draft.maybe"),
        (("webhook", "disable", "7"), "no webhook subscription 7"),
        (("webhook", "rotate-secret", "7"), "no webhook subscription 7"),
    ],
)
def test_cli_refusals_change_nothing(run, cli_env, argv, message):
    done = run(*argv)
    assert done.code == 1 and message in done.err and "Traceback" not in done.err
    assert rows(cli_env, "SELECT * FROM webhook_subscriptions") == []


# -- directives and FAQ ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # README: "a directive is at most 4,000 characters, an answer 1,600"
        (("directive", "set", "d" * 4001), "a directive is at most 4000 characters, not 4001"),
        (
            ("directive", "set", "--thread", "+14155550100", "d" * 4001),
            "a directive is at most 4000 characters",
        ),
        (
            ("faq", "add", "--keywords", "hours", "a" * 1601),
            "an FAQ answer is at most 1600 characters, not 1601",
        ),
    ],
)
def test_guidance_longer_than_the_web_and_api_take_is_refused(
    run: RunCli, cli_env: Path, argv: tuple[str, ...], message: str
) -> None:
    assert run("directive", "set", "Be brief.").code == 0
    before = audit_events(cli_env)

    done = run(*argv)

    assert done.code == 1
    assert done.err.startswith(f"approval-bot: error: {message}")
    assert "Traceback" not in done.err
    assert audit_events(cli_env) == before
    assert run("directive", "show").out == "Be brief.\n"
    assert rows(cli_env, "SELECT * FROM faq_entries") == []


def test_guidance_at_the_limits_is_taken(run: RunCli, cli_env: Path) -> None:
    assert run("directive", "set", "d" * 4000).code == 0
    assert run("faq", "add", "--keywords", "hours", "a" * 1600).code == 0
    assert run("directive", "show").out == "d" * 4000 + "\n"
    (entry,) = rows(cli_env, "SELECT answer FROM faq_entries")
    assert entry["answer"] == "a" * 1600
