"""GET /stats through Starlette: signed-in only, and the numbers of a seeded database."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.store import opened
from tests.stats_seed import Seeded, seed
from tests.webclient import Web


def seeded(db_path: Path) -> Seeded:
    async def run() -> Seeded:
        async with opened(db_path) as db:
            return await seed(db)

    return anyio.run(run)


@pytest.fixture
def web_on_seed(make_settings, db_path):
    when = seeded(db_path)
    with TestClient(create_app(make_settings()), base_url="http://127.0.0.1:8000") as client:
        web = Web(client)
        web.sign_in("Ana")
        yield web, when


def rows_of(html: str, section: str) -> list[list[str]]:
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", part, re.S)
        if "<td>" in row
    ]


def test_stats_need_a_signed_in_reviewer(web):
    response = web.client.get("/stats", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/stats"


def test_the_numbers_of_a_seeded_database(web_on_seed):
    web, when = web_on_seed
    page = web.client.get("/stats")
    assert page.status_code == 200
    html = page.text

    assert rows_of(html, "per-reviewer") == [
        ["Ana", "2", "5.5 min", "9.6 min"],  # 60 s and 600 s
        ["Bo", "2", "4 min", "5.8 min"],  # 120 s and 360 s: p95 348 s
    ]
    assert rows_of(html, "time-to-decision") == [
        [when.day_one.date().isoformat(), "3", "2 min", "9.2 min"],  # 60, 120, 600 s
        [when.day_two.date().isoformat(), "1", "6 min", "6 min"],
    ]
    assert re.search(r'<span class="big">50%</span> approved \(2\)', html)
    assert re.search(r'<span class="big">25%</span> edited and approved \(1\)', html)
    assert re.search(r'<span class="big">25%</span> rejected \(1\)', html)
    assert re.search(r'id="decided">4<', html)
    assert re.search(r'id="pending-now">1<', html)
    assert "Highest: 3." in html  # three drafts waited at once on day one
    assert re.search(r'id="edit-count">1<.*id="edit-median">1<', html, re.S)  # "5" became "6"
    assert "21211: 1" in html  # the failed send's bar
    assert "<script>" not in html and "Content-Security-Policy" in page.headers
    assert re.search(r'<a href="/stats" aria-current="page">Stats</a>', html)


def test_a_shorter_window_leaves_older_days_out(web_on_seed):
    web, when = web_on_seed
    html = web.client.get("/stats?days=1").text
    assert rows_of(html, "per-reviewer") == []
    assert "No decisions in this period." in html
    assert re.search(r'id="pending-now">1<', html)


# "%C2%B2" is "²", which str.isdigit takes for a digit; int() refuses over 4,300 digits
@pytest.mark.parametrize("days", ["0", "91", "seven", "-1", "1.5", "%C2%B2", "9" * 5000])
def test_a_bad_period_is_a_clear_400(web, days):
    web.reviewer("Ana")
    web.sign_in("Ana")
    response = web.client.get(f"/stats?days={days}", headers={"accept": "text/html"})
    assert response.status_code == 400
    assert "days must be a whole number from 1 to 90" in response.text
