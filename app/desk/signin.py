"""Signing in and out of the desk, and choosing its language.

Sign-in is a double-submit form (the ``settle_desk_pre`` cookie); each consecutive failure is
answered later and enough of them lock the account for a while (``SETTLE_SIGNIN_*``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.db.tx import read_session, write_transaction
from app.desk import i18n
from app.desk.i18n import _
from app.desk.web import (
    LANG_COOKIE,
    PATH,
    PRE_COOKIE,
    SESSION_COOKIE,
    Person,
    checked_form,
    new_pre_token,
    redirect,
    render,
    safe_next,
    set_cookie,
    text,
)
from app.services import users
from app.settings import Settings, get_settings

router = APIRouter(include_in_schema=False)


def record_sign_in(username: str, password: str, now: datetime, settings: Settings) -> users.SignIn:
    """Check the password, then record the attempt: a session on success, else one more failure
    (which may lock the account)."""
    with read_session() as s:
        user, ok = users.check_password(s, username=username, password=password, now=now)
    return write_transaction(
        lambda w: users.record_sign_in(
            w.session,
            user_id=user.id if user else None,
            password_ok=ok,
            now=now,
            max_failures=settings.signin_max_failures,
            lock_minutes=settings.signin_lock_minutes,
            password=password,
        ),
        operation="sign_in",
    )


def record_sign_out(token_hash: str, now: datetime) -> None:
    """End the session (its cookie is useless from now on)."""
    write_transaction(lambda w: users.sign_out(w.session, token_hash=token_hash, now=now), operation="sign_out")


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    token = new_pre_token()
    response = render(request, "sign_in.html", {"csrf": token, "next": safe_next(next), "username": "", "error": None})
    set_cookie(response, PRE_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-in", response_class=HTMLResponse, operation_id="deskSignIn")
async def sign_in(request: Request) -> Response:
    form = await checked_form(request, request.cookies.get(PRE_COOKIE))
    username = text(form, "username", 64).lower()
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    next_path = safe_next(text(form, "next", 500))
    settings = get_settings()
    now = clock.now()

    result = await run_in_threadpool(record_sign_in, username, password, now, settings)
    if result.user is not None:
        request.state.principal = users.principal_of(result.user)
    if result.outcome == "ok":
        assert result.token is not None
        done = redirect(next_path)
        set_cookie(done, SESSION_COOKIE, result.token)
        done.delete_cookie(PRE_COOKIE, path=PATH)
        return done
    # Slow the next guess: each consecutive failure is answered later.
    await asyncio.sleep(settings.signin_delay_ms * min(result.failures, 10) / 1000)
    if result.outcome == "locked":
        until = result.locked_until.strftime("%Y-%m-%d %H:%M UTC") if result.locked_until else ""
        error = _("Too many failed sign-ins: this account is locked until %(until)s.") % {"until": until}
        status = 423
    else:
        error = _("The username or password is wrong.")
        status = 401
    token = new_pre_token()
    response = render(
        request,
        "sign_in.html",
        {"csrf": token, "next": next_path, "username": username, "error": error, "back": PATH + "/sign-in"},
        status=status,
    )
    set_cookie(response, PRE_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-out", operation_id="deskSignOut")
async def sign_out(request: Request, desk: Person) -> Response:
    await checked_form(request, desk.csrf_token)
    now = clock.now()
    await run_in_threadpool(record_sign_out, desk.token_hash, now)
    response = redirect(PATH + "/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str | None = None) -> Response:
    response = redirect(safe_next(next))
    if lang in i18n.LANGS:
        set_cookie(response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    return response
