"""A signed-in browser stand-in for the web tests: a TestClient, the app's database, CSRF."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.testclient import TestClient

from approval_bot.store import Store
from approval_bot.store.sql import sql

from .builders import make_reviewer

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
T = TypeVar("T")


class Web:
    """Drives the app like a browser would; `call` runs a builder on the app's own loop."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def db(self) -> Store:
        db: Store = self.client.app_state["db"]
        return db

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return await fn(*args, **kwargs)

        portal = self.client.portal
        assert portal is not None, "use the client inside its `with` block"
        result: T = portal.call(run)
        return result

    def rows(self, text: str, *params: Any, **named: Any) -> list[Any]:
        """Rows of a query with `:name` parameters (either backend); `?` ones: SQLite only."""
        if params:
            return self.call(self.db.fetchall, text, params)
        return self.call(self.db.all, sql(text), **named)

    def csrf(self, path: str = "/login") -> str:
        page = self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        token = self.csrf("/login")
        response = self.client.post(
            "/login",
            data={"csrf_token": token, "name": name, "password": password},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text

    def reviewer(self, name: str = "Ana", **kwargs: Any) -> Any:
        return self.call(make_reviewer, self.db, name, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """POST a form with this session's CSRF token, as the page's form would."""
        token = self.csrf("/")
        return self.client.post(
            path,
            data={"csrf_token": token, **(data or {})},
            headers={"accept": "text/html"},
            follow_redirects=False,
            **kwargs,
        )
