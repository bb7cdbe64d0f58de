"""The desk's plumbing: templates, the signed-in person, CSRF, and the security headers.

**Session cookie** ``settle_desk``: HttpOnly, SameSite=Lax, Path=/desk, Secure when
``SETTLE_COOKIE_SECURE`` is set; no Max-Age (it ends with the browser) and the server ends the
session after ``SETTLE_SESSION_IDLE_MINUTES`` without a request.

**CSRF.**  Every form carries ``csrf_token``: the session's synchronizer token once signed in;
before that (the sign-in form) a random token that must equal the ``settle_desk_pre`` cookie
(double submit).  A POST without the right token is refused with 403 before anything is read
or written.  SameSite=Lax is a second line: a cross-site POST does not carry the cookie.

**Headers.**  ``Content-Security-Policy: default-src 'self'`` (nothing from outside the service
can load, no inline script), ``Cache-Control: no-store`` (a bill is not kept by the browser),
``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app import clock
from app.db import tables as db
from app.db.tx import read_session, write_transaction
from app.desk import i18n, labels
from app.engine.money import format_money
from app.principal import Principal
from app.services import users
from app.settings import get_settings

HERE = Path(__file__).parent
SESSION_COOKIE = "settle_desk"
PRE_COOKIE = "settle_desk_pre"
LANG_COOKIE = "settle_lang"
PATH = "/desk"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
env.filters["amount"] = i18n.amount
env.filters["day"] = i18n.day
env.filters["quantity"] = i18n.quantity
env.filters["decimal"] = Decimal
env.filters["minus"] = lambda a, b: format_money(Decimal(a) - Decimal(b))
env.globals["field_label"] = labels.field_label


@dataclass(frozen=True)
class Desk:
    """The signed-in person of a request."""

    user: db.AppUser
    principal: Principal
    csrf_token: str
    token_hash: str


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRefused(Exception):
    pass


@dataclass
class PageError(Exception):
    """A page-level refusal (not found, forbidden) shown as a page with its status."""

    status: int
    message: str
    details: list[str] = field(default_factory=list)


def lang_of(request: Request) -> i18n.Lang:
    value = request.cookies.get(LANG_COOKIE)
    return "en" if value == "en" else i18n.DEFAULT


def safe_next(value: str | None) -> str:
    """Only a path of the desk itself (no open redirect)."""
    if value and value.startswith(PATH + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PATH + "/"


def here(request: Request, back: str | None = None) -> str:
    """Where the language switch returns to: this page when it was reached by a GET; else the
    page the form was posted from (``back``; a POST's own address cannot be opened again)."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return safe_next(back)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    desk: Desk | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page in the clerk's language.  ``context["back"]``: see :func:`here`."""
    lang = lang_of(request)
    i18n.set_lang(lang)
    page = env.get_template(template).render(
        lang=lang,
        html_lang=i18n.HTML_LANG[lang],
        other_lang="en" if lang == "zh_CN" else "zh_CN",
        here=here(request, context.get("back")),
        desk=desk,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
    )


def current_desk(request: Request) -> Desk:
    """The signed-in person (a FastAPI dependency); else a redirect to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(next_path)
    now = clock.now()
    settings = get_settings()
    with read_session() as s:
        active = users.active_session(s, token=token, now=now, idle_minutes=settings.session_idle_minutes)
    if active is None:
        raise SignInRequired(next_path)
    if active.stale:
        write_transaction(
            lambda w: users.touch(w.session, token_hash=active.token_hash, now=now), operation="desk_touch"
        )
    principal = users.principal_of(active.user)
    request.state.principal = principal
    desk = Desk(active.user, principal, active.csrf_token, active.token_hash)
    request.state.desk = desk  # for the error pages, which keep the signed-in header
    return desk


#: A route's signed-in person (pages that need no one signed in do not take it).
Person = Annotated[Desk, Depends(current_desk)]


async def checked_form(request: Request, expected: str | None) -> FormData:
    """The posted form, once its CSRF token matches ``expected`` (else 403, nothing done)."""
    try:
        form = await request.form()
    except ClientDisconnect:
        # The browser dropped the request while posting (a second click on the button): no
        # one will read the answer, and nothing was done.
        raise PageError(400, "the browser closed the request") from None
    sent = form.get("csrf_token")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused()
    return form


def new_pre_token() -> str:
    return secrets.token_urlsafe(32)


def text(form: FormData, name: str, max_length: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""
