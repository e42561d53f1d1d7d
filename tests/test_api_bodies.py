"""Every JSON endpoint answers a body its parser refuses with a 400 and changes nothing."""

from __future__ import annotations

import pytest

from approval_bot.web import api as api_module
from tests.test_api import THREAD, pending, refused, state, token_for

pytestmark = pytest.mark.both_backends

BODY_OPERATIONS = [op for op in api_module.OPERATIONS if op.body is not None]
DEPTH = 30_000

REFUSED_BODIES = {
    "nested arrays": b"[" * DEPTH + b"]" * DEPTH,
    "nested objects, unclosed": b'{"a":' * (DEPTH // 3),
    "a 5000-digit number": b'{"notes": ' + b"7" * 5000 + b"}",
}


def test_every_endpoint_that_takes_a_body_is_covered():
    methods = {(op.method, op.path) for op in BODY_OPERATIONS}
    assert ("PUT", "/api/v1/directives") in methods
    assert ("PUT", "/api/v1/sending") in methods
    assert ("PATCH", "/api/v1/threads/{thread_id}/facts") in methods
    # issue 14: PUT /templates/{key} and POST /threads/{thread_id}/template
    assert {
        ("PUT", "/api/v1/templates/{key}"),
        ("POST", "/api/v1/threads/{thread_id}/template"),
    } <= (methods)
    assert ("PUT", "/api/v1/profile") in methods  # issue 16
    assert ("POST", "/api/v1/webhooks") in methods  # issue 17
    # issue 13 adds dismiss {"reason"?}, the gate PUT /sending
    assert ("POST", "/api/v1/drafts/{draft_id}/claim") in methods  # issue 15: {"take_over"?}
    assert len(methods) == 15


@pytest.mark.parametrize("content", REFUSED_BODIES.values(), ids=REFUSED_BODIES.keys())
@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=[op.path for op in BODY_OPERATIONS])
def test_a_body_the_parser_refuses_is_a_400_that_changes_nothing(web, op, content):
    web.reviewer("Boss", role="admin")
    token = token_for(web, "Boss")
    _, draft = pending(web)
    path = (
        op.path.replace("{draft_id}", draft)
        .replace("{thread_id}", THREAD)
        .replace("{key}", "greeting")
    )
    before = state(web)

    response = web.client.request(
        op.method,
        path,
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    error = refused(response, 400)
    assert "JSON" in error["message"]
    assert state(web) == before
