"""/api/v1/openapi.json: a valid OpenAPI 3 document that matches the routes, and a schemathesis
run against the app that finds no server error and no answer contradicting the document."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from approval_bot import accounts, directives
from approval_bot.app import create_app
from approval_bot.models import Role
from approval_bot.store import opened, sql
from approval_bot.web.api import PREFIX

from .builders import make_draft, make_inbound, make_reviewer

# the API's operations, counted by hand from the README's API table (14 before issue 12;
# issue 12: the facts PATCH, opt-out, not-opt-out; issue 14: GET /templates,
# PUT /templates/{key}, POST /threads/{thread_id}/template; issue 13: GET /threads,
# GET /threads/{id}/messages, takeover, release, close, dismiss; the sending gate: GET and
# PUT /sending; issue 16: GET and PUT /profile; issue 17: GET /webhooks, POST /webhooks,
# DELETE /webhooks/{webhook_id}; issue 15: POST /drafts/{draft_id}/claim and /release)
OPERATIONS = 35

MAX_EXAMPLES = 12  # per operation: enough to reach each refusal, small enough for a shared CI box


def test_the_description_is_valid_openapi_and_matches_the_routes(make_settings):
    app = create_app(make_settings())
    with TestClient(app) as client:
        document = client.get(f"{PREFIX}/openapi.json").json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document

    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith(PREFIX)
        and route.path != f"{PREFIX}/openapi.json"
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert described == served
    assert len(served) == OPERATIONS


def test_every_operation_documents_its_errors_with_the_error_shape(make_settings):
    with TestClient(create_app(make_settings())) as client:
        document = client.get(f"{PREFIX}/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "401"} <= set(responses), (method, path)
            assert len({"200", "201"} & set(responses)) == 1, (method, path)
            for status, response in responses.items():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                if status not in ("200", "201"):
                    assert ref == "#/components/schemas/Error"
            # a PUT creates what its path names (a template): nothing there to be missing
            if "{" in path and method != "put":
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= set(responses), (method, path)
    error = document["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(error["required"])


THREADS = ("+14155550100", "+14155550101", "whatsapp:+14155550102")


async def _seed(database: Path | str) -> tuple[str, list[str]]:
    """Three threads with pending drafts, an FAQ entry, and an admin's token."""
    async with opened(database) as db:
        await make_reviewer(db, "Ana", role=Role.ADMIN)
        messages = []
        for thread in THREADS:
            inbound = await make_inbound(db, thread)
            messages += [inbound, await make_draft(db, inbound)]
        await directives.add_faq(db, ("hours",), "9 to 5", None)
        return await accounts.create_token(db, "fuzz", "Ana"), messages


@pytest.mark.slow
@pytest.mark.both_backends
# The app runs on its own thread meanwhile, and psycopg_pool draws each new connection's
# expiry jitter from the process-wide `random`; Hypothesis sees that state move while it
# draws a case and warns as if the strategy had used it.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
    make_settings, database_target
):
    token, messages = asyncio.run(_seed(database_target))
    # half the cases name a seeded message or thread, so actions reach the review module
    known = {
        "draft_id": messages,
        "message_id": messages,
        "thread_id": list(THREADS),
        "key": ["help", "greeting", "holding"],
        "webhook_id": ["1", "2"],
    }
    app = create_app(make_settings())
    schema = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    headers = {"Authorization": f"Bearer {token}"}
    tested = []
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(), pick=st.integers(0, len(messages) * 2 - 1))
            def run(case: Any, pick: int) -> None:
                for name in case.path_parameters or {}:
                    if pick < len(messages):
                        choices = known[name]
                        case.path_parameters[name] = choices[pick % len(choices)]
                case.call_and_validate(headers=headers, checks=checks)

            run()
            tested.append(operation.label)
    finally:
        asgi.shutdown_lifespans()
    assert len(tested) == OPERATIONS
    events = asyncio.run(_events_by_the_token(database_target))
    # the fuzz reached the review actions on seeded drafts and threads, not only 404s
    assert {"Approved", "Thread Paused"} & events, events


async def _events_by_the_token(database: Path | str) -> set[str]:
    async with opened(database) as db:
        rows = await db.all(sql("SELECT DISTINCT event FROM audit_log WHERE actor_id = 1"))
    return {row["event"] for row in rows}
