"""Accounts at the desk over HTTP: a person changes their password (their other sessions end);
an administrator lists the people, unlocks an account, ends someone's sessions, disables and
enables an account.  Every account action is refused to a clerk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col

from app.db import tables as db
from app.db.tx import read_session
from app.settings import get_settings
from tests.desk.helpers import ADMIN_PERSON, CLERK, PASSWORD, UEBMI_CLERK, csrf_of, hidden_fields, seed, sign_in
from tests.support.api import ADMIN

NEW_PASSWORD = "a much better passphrase"


@pytest.fixture
def desk(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SETTLE_SIGNIN_MAX_FAILURES", "3")
    monkeypatch.setenv("SETTLE_SIGNIN_DELAY_MS", "10")
    get_settings.cache_clear()
    from app.main import app

    def client() -> TestClient:
        return TestClient(app, base_url="http://testserver")

    with client() as first:
        seed(first, full=True)
        yield first, client


def account(username: str) -> db.AppUser:
    with read_session() as s:
        return s.scalars(select(db.AppUser).where(col(db.AppUser.username) == username)).one()


def open_sessions(username: str) -> int:
    with read_session() as s:
        user = s.scalars(select(db.AppUser).where(col(db.AppUser.username) == username)).one()
        rows = s.scalars(
            select(db.UserSession).where(col(db.UserSession.user_id) == user.id, col(db.UserSession.ended_at).is_(None))
        ).all()
        return len(rows)


def test_a_person_changes_their_password(desk) -> None:
    first, client = desk
    with client() as elsewhere:
        assert sign_in(elsewhere, CLERK).status_code == 303  # another computer
        assert sign_in(first, CLERK).status_code == 303
        page = first.get("/desk/account")
        assert page.status_code == 200 and CLERK in page.text
        form = hidden_fields(page.text, "password-form")
        # The wrong current password, new ones that differ: nothing changes.
        bad = {**form, "current_password": "wrong", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        r = first.post("/desk/account/password", data=bad)
        assert r.status_code == 422 and "这不是您的当前密码" in r.text and 'href="#current_password"' in r.text
        differ = {**form, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": "x"}
        assert "两次输入的新密码不一致" in first.post("/desk/account/password", data=differ).text
        short = {**form, "current_password": PASSWORD, "new_password": "short", "new_password_again": "short"}
        r = first.post("/desk/account/password", data=short)
        assert r.status_code == 422 and "12 至 200 个字符" in r.text
        assert open_sessions(CLERK) == 2
        good = {**form, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        r = first.post("/desk/account/password", data=good, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/desk/account?done=password"
        # This session stays; the other computer's ended.
        assert first.get("/desk/", follow_redirects=False).status_code == 200
        assert elsewhere.get("/desk/", follow_redirects=False).status_code == 303
        assert open_sessions(CLERK) == 1
    with client() as later:
        assert sign_in(later, CLERK).status_code == 401
        assert sign_in(later, CLERK, NEW_PASSWORD).status_code == 303
    audit = first.get("/v1/audit", params={"operation": "deskChangePassword"}, headers=ADMIN).json()["items"]
    assert [(a["status_code"], a["object_id"]) for a in audit if a["outcome"] == "ok"] == [(303, f"user:{CLERK}")]


def test_an_administrator_manages_the_peoples_accounts(desk) -> None:
    first, client = desk
    # The UEBMI clerk locks their account with wrong passwords; the NRCMS clerk is signed in.
    with client() as guesser:
        for _ in range(3):
            sign_in(guesser, UEBMI_CLERK, "not the password")
        assert sign_in(guesser, UEBMI_CLERK).status_code == 423
    with client() as clerk:
        assert sign_in(clerk, CLERK).status_code == 303
        assert sign_in(first, ADMIN_PERSON).status_code == 303
        page = first.get("/desk/people")
        assert page.status_code == 200
        assert 'action="/desk/people/uebmi-clerk/unlock"' in page.text
        assert 'action="/desk/people/nrcms-clerk/end-sessions"' in page.text
        assert f'action="/desk/people/{ADMIN_PERSON}/disable"' not in page.text  # not one's own
        csrf = csrf_of(page.text)

        r = first.post(f"/desk/people/{UEBMI_CLERK}/unlock", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert account(UEBMI_CLERK).locked_until is None
        with client() as unlocked:
            assert sign_in(unlocked, UEBMI_CLERK).status_code == 303

        r = first.post(f"/desk/people/{CLERK}/end-sessions", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert clerk.get("/desk/", follow_redirects=False).status_code == 303  # signed out
        assert open_sessions(CLERK) == 0

        assert sign_in(clerk, CLERK).status_code == 303
        r = first.post(f"/desk/people/{CLERK}/disable", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and account(CLERK).disabled_at is not None
        assert clerk.get("/desk/", follow_redirects=False).status_code == 303
        assert sign_in(clerk, CLERK).status_code == 401
        assert "已停用" in first.get("/desk/people").text
        r = first.post(f"/desk/people/{CLERK}/enable", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and account(CLERK).disabled_at is None
        assert sign_in(clerk, CLERK).status_code == 303

        # Not one's own account, nor someone who does not exist.
        r = first.post(f"/desk/people/{ADMIN_PERSON}/disable", data={"csrf_token": csrf})
        assert r.status_code == 409 and "管理员不能停用自己的账号" in r.text
        assert first.post("/desk/people/nobody-here/unlock", data={"csrf_token": csrf}).status_code == 404
    audit = first.get("/v1/audit", params={"client_id": f"user:{ADMIN_PERSON}", "limit": 200}, headers=ADMIN).json()
    done = {(a["operation"], a["object_id"]) for a in audit["items"] if a["status_code"] == 303}
    assert {("deskUnlockUser", f"user:{UEBMI_CLERK}"), ("deskDisableUser", f"user:{CLERK}")} <= done
    assert {("deskEndSessions", f"user:{CLERK}"), ("deskEnableUser", f"user:{CLERK}")} <= done


def test_every_account_action_is_refused_to_a_clerk(desk) -> None:
    first, _client = desk
    sign_in(first, CLERK)
    csrf = csrf_of(first.get("/desk/").text)
    assert first.get("/desk/people").status_code == 403
    for action in ("unlock", "end-sessions", "disable", "enable"):
        r = first.post(f"/desk/people/{UEBMI_CLERK}/{action}", data={"csrf_token": csrf})
        assert r.status_code == 403, action
    assert first.get("/desk/account").status_code == 200  # their own account is theirs
    assert account(UEBMI_CLERK).disabled_at is None
