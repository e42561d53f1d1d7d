"""A refused form re-renders the page it came from, with the message beside its form.

When a POST from a page's form is refused (400, 409, 413, 422), the page named by the
form's `next` field (or the Referer, on this site) is rendered again in the same request,
with `FormError` in the scope: templates call `refused(action)` inside each form to show
the message there and `kept(action, name, default)` to give back what the reviewer typed.
The answer keeps the refusal's status code. Any page whose forms use the two helpers fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

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
    # the page has no such form any more (the card was decided elsewhere): say it on top
    on_top: bool = False


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
    # the action as the form wrote it (a thread's number is %2B…), compared decoded
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    error = FormError(unquote(raw), message, status_code, values)
    response = await _render(request, path, query, error)
    if response is not None and f'action="{raw}"'.encode() not in response.body:
        response = await _render(request, path, query, replace(error, on_top=True))
    if response is not None:
        response.status_code = status_code
    return response


async def _render(request: Request, path: str, query: str, error: FormError) -> Response | None:
    scope = {
        **request.scope,
        "method": "GET",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        SCOPE_KEY: error,
    }
    for route in request.app.router.routes:
        if not isinstance(route, Route):
            continue
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope.update(child)
            response: Response = await route.endpoint(Request(scope, request.receive))
            return response if response.status_code == 200 else None
    return None


def _scope_error(context: Context) -> FormError | None:
    request = context.get("request")
    error = request.scope.get(SCOPE_KEY) if request is not None else None
    return error if isinstance(error, FormError) else None


def _error(context: Context, action: str) -> FormError | None:
    error = _scope_error(context)
    if error is None or error.on_top or error.action != unquote(action):
        return None
    return error


@pass_context
def refused_on_top(context: Context) -> Markup:
    """The refusal's message above the page, when its form is no longer on it."""
    error = _scope_error(context)
    if error is None or not error.on_top:
        return Markup("")
    return Markup('<p class="flash error field-error" role="alert">{}</p>').format(
        escape(error.message)
    )


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
    env.globals["refused_on_top"] = refused_on_top
