"""Accounts at the desk: a person changes their password; an administrator lists the people,
unlocks an account locked by failed sign-ins, ends someone's sessions, disables an account (and
enables it again).

Each change is one write through the write entry point (:func:`app.services.writes.run_write`)
with its audit record in the same transaction, answered by a redirect (303).  The people's pages
are an administrator's: to anyone else they are refused (403).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.api.observe import audit_in_transaction
from app.db import tables as db
from app.db.tx import read_session
from app.desk import forms
from app.desk.i18n import N_, _
from app.desk.labels import ROLES
from app.desk.web import PATH, Desk, PageError, Person, checked_form, redirect, render
from app.errors import DomainError
from app.ledger.work import LedgerWork
from app.services import users
from app.services.idempotency import Reply
from app.services.writes import run_write
from app.settings import get_settings

router = APIRouter(include_in_schema=False)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DONE = {
    "password": N_("Your password is changed; your other sessions are ended."),
    "unlocked": N_("The account is unlocked."),
    "signed-out": N_("Every session of the account is ended."),
    "disabled": N_("The account is disabled and its sessions are ended."),
    "enabled": N_("The account can sign in again."),
}


def _changed(user: db.AppUser) -> Reply:
    return Reply(200, {"user_id": user.id, "username": user.username})


def _write(request: Request, desk: Desk, operation: str, change: Callable[[LedgerWork], db.AppUser]) -> None:
    run_write(
        operation,
        change,
        _changed,
        principal=desk.principal,
        idem=None,
        audit=audit_in_transaction(request, status=303),
    )


def _account_page(
    request: Request, desk: Desk, *, errors: dict[str, str] | None = None, status: int = 200
) -> HTMLResponse:
    done = request.query_params.get("done", "")
    return render(
        request,
        "account.html",
        {"roles": ROLES, "errors": errors or {}, "notice": _(DONE[done]) if done in DONE else None},
        status=status,
        desk=desk,
    )


@router.get("/account", response_class=HTMLResponse, operation_id="deskAccount")
def account(request: Request, desk: Person) -> Response:
    return _account_page(request, desk)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _verify(user_id: str, password: str) -> bool:
    with read_session() as s:
        return users.verify_password(s, user_id=user_id, password=password)


@router.post("/account/password", response_class=HTMLResponse, operation_id="deskChangePassword")
async def change_password(request: Request, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    current, new, again = (_text(form.get(k)) for k in ("current_password", "new_password", "new_password_again"))
    errors: dict[str, str] = {}
    if new != again:
        errors["new_password_again"] = _("The two new passwords differ.")
    right = await run_in_threadpool(_verify, desk.user.id, current)
    if not right:
        # As slow as a failed sign-in: the form is no faster way to guess.
        await asyncio.sleep(get_settings().signin_delay_ms / 1000)
        errors["current_password"] = _("This is not your current password.")
    if errors:
        return _account_page(request, desk, errors=errors, status=422)
    now = clock.now()
    request.state.audit_object_id = f"user:{desk.user.username}"

    def change(work: LedgerWork) -> db.AppUser:
        return users.change_password(
            work.session, user_id=desk.user.id, new_password=new, keep_session=desk.token_hash, now=now
        )

    try:
        await run_in_threadpool(_write, request, desk, "change_password", change)
    except DomainError as exc:
        refusal = forms.translate(exc)
        fields = {"new_password": " ".join(refusal.details + list(refusal.fields.values())) or refusal.title}
        return _account_page(request, desk, errors=fields, status=exc.status)
    return redirect(f"{PATH}/account?done=password")


def _admin(desk: Desk) -> None:
    if desk.principal.role != "admin":
        raise PageError(403, _("The people's accounts are an administrator's."))


@router.get("/people", response_class=HTMLResponse, operation_id="deskPeople")
def people(request: Request, desk: Person) -> Response:
    _admin(desk)
    now = clock.now()
    with read_session() as s:
        listed = users.people(s, now=now, idle_minutes=get_settings().session_idle_minutes)
    done = request.query_params.get("done", "")
    who = request.query_params.get("who", "")[:64]
    return render(
        request,
        "people.html",
        {
            "people": listed,
            "now": now,
            "roles": ROLES,
            "notice": _(DONE[done]) if done in DONE else None,
            "who": who if USERNAME.fullmatch(who) else "",
        },
        desk=desk,
    )


def _action(segment: str, operation: str, done: str, change: Callable[[LedgerWork, str, Desk], db.AppUser]) -> None:
    """``POST /desk/people/{username}/<segment>``: one change of an account, by an administrator."""
    name = segment.replace("-", "_")

    async def act(request: Request, username: str, desk: Person) -> Response:
        await checked_form(request, desk.csrf_token)
        _admin(desk)
        if USERNAME.fullmatch(username) is None:
            raise PageError(404, _("There is no such person."))
        request.state.audit_object_id = f"user:{username}"
        try:
            await run_in_threadpool(_write, request, desk, name, lambda work: change(work, username, desk))
        except DomainError as exc:
            refusal = forms.translate(exc)
            raise PageError(exc.status, refusal.title, refusal.details) from exc
        return redirect(f"{PATH}/people?done={done}&who={username}#person-{username}")

    act.__name__ = name
    router.add_api_route(
        f"/people/{{username}}/{segment}", act, methods=["POST"], operation_id=operation, response_class=HTMLResponse
    )


_action("unlock", "deskUnlockUser", "unlocked", lambda w, u, d: users.unlock(w.session, username=u))
_action(
    "end-sessions",
    "deskEndSessions",
    "signed-out",
    lambda w, u, d: users.end_sessions(w.session, username=u, now=clock.now()),
)
_action(
    "disable",
    "deskDisableUser",
    "disabled",
    lambda w, u, d: users.disable(w.session, username=u, now=clock.now(), by=d.principal.client_id),
)
_action("enable", "deskEnableUser", "enabled", lambda w, u, d: users.enable(w.session, username=u))
