"""A NUL character (%00) in a page's or the API's address: the same answer on both backends.

No text the bot stores holds a NUL, and PostgreSQL's text columns refuse one as a query
parameter too, so a path or query with %00 that reached a query was a 500 on PostgreSQL and
a 404 or 200 on SQLite. Now a path naming something is 404 (nothing has such a name) and a
query parameter is 400, before any query runs, on both backends.
"""

from __future__ import annotations

import pytest

from tests.test_api import Api, pending, state, token_for

pytestmark = pytest.mark.both_backends


@pytest.fixture
def signed_in(web):
    web.reviewer("Ana", phone="+14155550111")
    web.sign_in("Ana")
    return web


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/threads/%2B14155550100%00", 404),
        ("/fragments/cards/a%00b", 404),
        ("/audit?thread=%2B1415%00", 400),
        ("/queue/updates?ids=a%00b", 400),
    ],
)
def test_a_page_address_with_a_nul_is_refused_not_a_server_error(signed_in, path, status):
    pending(signed_in)
    response = signed_in.client.get(path, headers={"accept": "text/html"})
    assert response.status_code == status
    assert "NUL character" in response.text


def test_an_action_on_a_thread_named_with_a_nul_is_404_and_changes_nothing(signed_in):
    pending(signed_in)
    before = state(signed_in)
    response = signed_in.post("/threads/%2B14155550100%00/pause", {"reason": "checking"})
    assert response.status_code == 404
    assert state(signed_in) == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/messages/a%00b", 404),
        ("/threads/%2B14155550100%00/messages", 404),
        ("/drafts?thread_id=%2B1415%00", 400),
    ],
)
def test_an_api_address_with_a_nul_is_refused_with_the_error_shape(web, path, status):
    web.reviewer("Ana", phone="+14155550111")
    api = Api(web, token_for(web, "Ana"))
    pending(web)
    response = web.client.get(f"/api/v1{path}", headers=api.headers())
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert "NUL character" in error["message"]


def test_an_api_decision_on_a_draft_named_with_a_nul_is_404_and_changes_nothing(web):
    web.reviewer("Ana", phone="+14155550111")
    api = Api(web, token_for(web, "Ana"))
    _, draft_id = pending(web)
    before = state(web)
    response = api.post(f"/drafts/{draft_id}%00/approve")
    assert response.status_code == 404
    assert state(web) == before
