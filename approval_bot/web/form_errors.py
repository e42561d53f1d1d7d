"""A refused form re-renders the page it came from, with the message beside its form.

When a POST from a page's form is refused (400, 409, 413, 422), the page named by the
form's `next` field (or the Referer, on this site) is rendered again in the same request,
with `FormError` in the scope: templates call `refused(action)` inside each form to show
the message there and `kept(action, name, default)` to give back what the reviewer typed.
The answer keeps the refusal's status code. Any page whose forms use the two helpers fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from . import auth

FORM_STATUSES = frozenset({400, 409, 413, 422})
SCOPE_KEY = "approval_bot.form_error"


@dataclass(frozen=True)
class FormError:
    """The form that was refused (its action path), why, and what was typed into it."""

    action: str
    message: str
    status_code: int
    values: dict[str, str] = field(default_factory=dict)


def _back_to(request: Request, form: Any) -> str | None:
    target = form.get("next") if form is not None else None
    if isinstance(target, str) and target:
        return auth.safe_next(target, "") or None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return None
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    return auth.safe_next(path, "") or None


async def rerender(request: Request, status_code: int, message: str) -> Response | None:
    """The page the refused form came from, rendered again with the message; None if unknown."""
    if request.method != "POST" or status_code not in FORM_STATUSES or not auth.wants_html(request):
        return None
    form = getattr(request, "_form", None)  # parsed by the CSRF check; never parsed again here
    target = _back_to(request, form)
    if target is None:
        return None
    path, _, query = target.partition("?")
    values = {k: v for k, v in (form or {}).items() if isinstance(v, str) and k != auth.CSRF_FIELD}
    scope = {
        **request.scope,
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        SCOPE_KEY: FormError(request.url.path, message, status_code, values),
    }
    for route in request.app.router.routes:
        if not isinstance(route, Route):
            continue
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope.update(child)
            response: Response = await route.endpoint(Request(scope, request.receive))
            if response.status_code != 200:
                return None
            response.status_code = status_code
            return response
    return None


def _error(context: Context, action: str) -> FormError | None:
    request = context.get("request")
    error = request.scope.get(SCOPE_KEY) if request is not None else None
    return error if isinstance(error, FormError) and error.action == action else None


@pass_context
def refused(context: Context, action: str) -> Markup:
    """The refusal's message, when the form posting to `action` was the one refused."""
    error = _error(context, action)
    if error is None:
        return Markup("")
    return Markup('<p class="field-error" role="alert">{}</p>').format(escape(error.message))


@pass_context
def kept(context: Context, action: str, name: str, default: object = "") -> str:
    """What the reviewer typed into `name` of the refused form, else `default`."""
    error = _error(context, action)
    if error is not None and name in error.values:
        return error.values[name]
    return "" if default is None else str(default)


@pass_context
def open_if_refused(context: Context, action: str) -> Markup:
    """` open` for a <details> holding the refused form, so its message is seen."""
    return Markup(" open") if _error(context, action) is not None else Markup("")


def install(env: Any) -> None:
    env.globals["refused"] = refused
    env.globals["kept"] = kept
    env.globals["open_if_refused"] = open_if_refused
