"""The benchmarks: seed.py writes what the app writes; scale.py --quick reports every figure."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import postgres_url

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "scripts" / "bench"
CLI = str(Path(sys.executable).parent / "approval-bot")


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )


@pytest.mark.slow
def test_seeded_database_passes_audit_verify_and_looks_like_history(tmp_path: Path) -> None:
    database = tmp_path / "seeded.sqlite3"
    done = run_script(str(BENCH / "seed.py"), "--messages", "3000", "--out", str(database))
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "APPROVAL_BOT_DATABASE": str(database)}
    verify = subprocess.run([CLI, "audit", "verify"], env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with closing(sqlite3.connect(database)) as conn:
        (messages,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        (audit_rows,) = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        oldest, newest = conn.execute(
            "SELECT min(timestamp), max(timestamp) FROM messages"
        ).fetchone()
        (drafts_without_code,) = conn.execute(
            """SELECT count(*) FROM messages WHERE type = 'DRAFT'
               AND id NOT IN (SELECT message_id FROM draft_codes)"""
        ).fetchone()
        (sent_without_approval,) = conn.execute(
            """SELECT count(*) FROM messages WHERE type = 'DRAFT' AND status = 'SENT'
               AND id NOT IN (SELECT draft_id FROM approvals)"""
        ).fetchone()
        (threads,) = conn.execute("SELECT count(*) FROM conversations").fetchone()
        (uncontrolled,) = conn.execute(
            "SELECT count(*) FROM conversations WHERE thread_id NOT IN"
            " (SELECT thread_id FROM thread_controls)"
        ).fetchone()
        (ids,) = conn.execute(
            "SELECT count(*) FROM messages WHERE id GLOB '????????-????-4???-????-????????????'"
        ).fetchone()
        (pending,) = conn.execute(
            "SELECT count(*) FROM messages"
            " WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
        ).fetchone()
        (notified,) = conn.execute("SELECT count(*) FROM notifications").fetchone()
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    # issue 10: ~2.6 audit rows per message, 90 days of history, a code for every draft
    assert 2900 <= messages <= 3100
    assert 2.4 <= audit_rows / messages <= 2.8
    span = datetime.fromisoformat(newest) - datetime.fromisoformat(oldest)
    assert timedelta(days=88) <= span <= timedelta(days=90)
    assert datetime.fromisoformat(newest) <= datetime.now(UTC)
    assert drafts_without_code == 0
    assert sent_without_approval == 0
    assert threads > 100 and uncontrolled == 0
    assert ids == messages  # uuid4 ids, as workflow.create_message makes them
    assert pending > 0 and notified > 0
    assert journal == "wal"


def test_seed_refuses_an_existing_file(tmp_path: Path) -> None:
    database = tmp_path / "there.sqlite3"
    database.write_bytes(b"")
    done = run_script(str(BENCH / "seed.py"), "--messages", "10", "--out", str(database))
    assert done.returncode != 0
    assert "exists" in done.stderr
    assert database.read_bytes() == b""


@pytest.mark.slow
def test_quick_scale_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = run_script(
        str(BENCH / "scale.py"), "--quick", "--json", str(out),
        "--workdir", str(tmp_path), "--cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    assert list(document["sizes"]) == ["fresh", "2k"]
    for name, size in document["sizes"].items():
        ingest = size["ingest"]
        assert ingest["webhooks_per_s"] > 0 and ingest["errors"] == 0, name
        for figure in ("p50_ms", "p99_ms", "first_10pct_per_s", "last_10pct_per_s"):
            assert ingest[figure] is not None, (name, figure)
        assert ingest["stored"] > 0
        assert size["baseline"]["per_s"] > 0 and size["baseline"]["errors"] == 0
        assert size["drafted"]["drafted"] == size["drafted"]["texts"] == ingest["stored"]
        assert size["drafted"]["over_baseline"] is not None
        ready = size["draft_ready"]
        assert ready["accepted_2xx"] == ready["texts"] and ready["unfinished"] == 0
        assert all(ready["ready_ms"][p] is not None for p in ("p50", "p95", "p99"))
        for phase in ("approve_idle", "approve_loaded"):
            assert size[phase]["unsent"] == 0 and size[phase]["p95"] is not None, (name, phase)
        assert size["stats_90d_ms"]["p95"] is not None
        assert size["rss_max_mb"] > 0
        for walk in ("audit_first_start", "audit_after_restart"):
            assert size[walk]["verified_s"] is not None, (name, walk)
    assert document["ratios"]["ingest_over_first_size"]["fresh"] == 1.0
    assert document["ratios"]["ingest_over_first_size"]["2k"] > 0
    assert document["ratios"]["drafted_over_bare"]["2k"] is not None
    # the markdown tables come from the same document
    assert "| 2k |" in done.stdout and "drafted ÷ bare" in done.stdout


@pytest.mark.slow
def test_quick_backends_run_counts_no_duplicate_and_no_loss(tmp_path: Path) -> None:
    """SQLite, PostgreSQL with one instance and with two, at the smoke sizes: every figure
    reported, no text stored twice or lost, no reply sent twice or lost."""
    done = run_script(
        str(BENCH / "scale.py"), "--quick", "--backends-only", "--sizes", "fresh",
        "--json", str(tmp_path / "out.json"), "--workdir", str(tmp_path),
        "--cache", str(tmp_path / "cache"), "--postgres", postgres_url(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["sizes"] == {}
    assert list(document["backends"]) == ["fresh"]
    found = document["backends"]["fresh"]
    assert list(found["modes"]) == ["sqlite", "postgres_1", "postgres_2"]
    for name, mode in found["modes"].items():
        ingest, send = mode["ingest"], mode["send"]
        assert ingest["stored"] == ingest["texts"] == 60, name
        assert (ingest["duplicates"], ingest["lost"], ingest["errors"]) == (0, 0, 0), name
        assert ingest["per_s"] > 0, name
        assert send["sent"] == send["approved"] == 20, name
        assert (send["duplicates"], send["lost"]) == (0, 0), name
        assert send["per_s"] > 0, name
    # with two instances a tenth of the webhooks reach both
    assert found["modes"]["postgres_2"]["ingest"]["posted"] == 66
    assert found["modes"]["postgres_2"]["instances"] == 2
    assert all(value is not None for value in found["ratios"].values()), found["ratios"]
    assert "| postgres_2 |" in done.stdout and "send_postgres_2_over_postgres_1" in done.stdout


@pytest.mark.slow
def test_events_bench_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    done = run_script(
        str(BENCH / "events.py"), "--texts", "60", "--customers", "12", "--settle", "120",
        "--rounds", "1", "--json", str(out), "--workdir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    (round_,) = document["rounds"]
    for run in ("without_subscription", "with_subscription"):
        ingest = round_[run]["ingest"]
        # wrk posts each text (and at the tail may repeat one, a duplicate the app drops)
        assert ingest["texts"] == ingest["stored"] == 60 and ingest["requests"] >= 60
        assert ingest["errors"] == 0 and ingest["per_s"] > 0
    delivery = round_["with_subscription"]["delivery"]
    # a message.received per text and a conversation.started per customer, drafts besides
    assert delivery["by_type"]["message.received"] == 60
    assert delivery["by_type"]["conversation.started"] == 12
    assert delivery["events"] > 60 + 12
    assert delivery["delivered"] == delivery["events"] and delivery["lost"] == 0
    assert delivery["texts_without_message_received"] == 0 and delivery["out_of_order"] == 0
    assert delivery["bad_signatures"] == 0 and delivery["duplicates"] >= 0
    assert delivery["commit_to_delivered_ms"]["p95"] is not None
    assert delivery["delivered_per_s"] > 0 and document["ingest_cost_pct"] is not None


def test_sla_bench_smoke_run_takes_each_step_once(tmp_path: Path) -> None:
    out = tmp_path / "sla.json"
    done = run_script(
        str(BENCH / "sla.py"), "--drafts", "120", "--json", str(out), "--workdir", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    # ages spread evenly over 60 minutes, policy 10/30/45: as of a minute ago, the clocks
    # older than 11, 31 and 46 minutes were due (98, 58 and 28 of 120)
    assert document["catch_up"]["steps"] == {
        "reminded": 98,
        "escalated": 58,
        "holding_sent": 28,
        "holding_unavailable": 0,
    }
    # a minute later: the clocks that crossed 10, 30 and 45 minutes in it
    assert document["steady"]["steps"] == {
        "reminded": 2,
        "escalated": 2,
        "holding_sent": 2,
        "holding_unavailable": 0,
    }
    assert document["again"]["texts_queued"] == 0
    # 3 reviewers told of each draft are reminded; the one admin gets each escalation
    assert document["reviewer_texts"] == 100 * 3 + 60
    assert document["holding_replies"] == 30


def test_per_text_bench_smoke_run_reports_every_step(tmp_path: Path) -> None:
    out = tmp_path / "per_text.json"
    done = run_script(
        str(BENCH / "per_text.py"), "--calls", "20", "--wrk-seconds", "2", "--json", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    steps = document["cpu_ms_per_call"]
    assert set(steps) == {"signature_check", "understanding", "reviewer_notice"}
    assert all(ms > 0 for ms in steps.values())
    # every notice reached the fake Twilio through the real client
    assert document["notices_accepted"] == 20
    assert document["bare_per_s"] > 0
    # a quarter of the bare rate on every core: cores ÷ (0.25 × bare) seconds a text
    expected = 1000 * document["cores"] / (0.25 * document["bare_per_s"])
    assert document["budget_ms_per_text"] == pytest.approx(expected, abs=0.001)
