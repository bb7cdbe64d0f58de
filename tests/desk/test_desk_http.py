"""The desk over HTTP (no browser): accounts, cookies, CSRF, lockout, scope, the money steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import tables as db
from app.db.tx import read_session
from app.settings import get_settings
from tests.desk.helpers import CLERK, HOSPITAL_CLERK, NRCMS, OTHER_CLERK, PASSWORD, UEBMI_CLERK, csrf_of, seed
from tests.support.api import ADMIN, bill_1


@pytest.fixture
def desk(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    monkeypatch.setenv("SETTLE_SIGNIN_MAX_FAILURES", "3")
    monkeypatch.setenv("SETTLE_SIGNIN_DELAY_MS", "50")
    get_settings.cache_clear()
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        bill = seed(client)
        yield client, bill


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/desk/sign-in")
    return client.post(
        "/desk/sign-in",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/desk/"},
        follow_redirects=False,
    )


def count(table: Any) -> int:
    with read_session() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_a_person_signs_in_with_a_safe_cookie_and_signs_out(desk) -> None:
    client, _bill = desk
    assert client.get("/desk/", follow_redirects=False).headers["location"].startswith("/desk/sign-in")
    r = sign_in(client, CLERK)
    assert r.status_code == 303 and r.headers["location"] == "/desk/"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("settle_desk="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie
    home = client.get("/desk/")
    assert home.status_code == 200 and "李明" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    r = client.post("/desk/sign-out", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/desk/", follow_redirects=False).status_code == 303
    with read_session() as s:
        assert s.scalars(select(db.UserSession)).one().ended_at is not None


def test_the_cookie_is_secure_when_configured(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    from app.main import app

    with TestClient(app, base_url="https://testserver") as client:
        r = sign_in(client, CLERK)
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("settle_desk="))
        assert "Secure" in cookie


def test_an_idle_session_ends(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _bill = desk
    sign_in(client, CLERK)
    assert client.get("/desk/").status_code == 200
    with read_session() as s, s.begin():
        row = s.scalars(select(db.UserSession)).one()
        row.last_seen_at = row.last_seen_at.replace(year=row.last_seen_at.year - 1)
    r = client.get("/desk/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/desk/sign-in")


def test_failed_sign_ins_are_slowed_then_lock_the_account(desk) -> None:
    client, _bill = desk
    started = time.perf_counter()
    first = sign_in(client, CLERK, "wrong password 1")
    second = sign_in(client, CLERK, "wrong password 2")
    assert first.status_code == second.status_code == 401
    assert time.perf_counter() - started >= 0.05 + 0.10  # 50 ms per failure so far
    locked = sign_in(client, CLERK, "wrong password 3")
    assert locked.status_code == 423 and "locked" not in locked.text  # the page speaks Chinese
    assert "账号已锁定" in locked.text
    # Locked: even the right password is refused, and no session is opened.
    assert sign_in(client, CLERK).status_code == 423
    assert count(db.UserSession) == 0
    # An unknown user is told the same as a wrong password.
    assert sign_in(client, "nobody-here", "whatever it is").status_code == 401
    audit = client.get("/v1/audit", params={"operation": "deskSignIn"}, headers=ADMIN).json()["items"]
    assert {a["client_id"] for a in audit} >= {f"user:{CLERK}"}
    assert {a["outcome"] for a in audit} == {"refused"}


def test_forms_without_their_csrf_token_are_refused(desk) -> None:
    client, bill = desk
    # The sign-in form: its token must equal its own cookie (double submit).
    assert client.post("/desk/sign-in", data={"username": CLERK, "password": PASSWORD}).status_code == 403
    forged = {"username": CLERK, "password": PASSWORD, "csrf_token": "forged"}
    assert client.post("/desk/sign-in", data=forged).status_code == 403
    assert count(db.UserSession) == 0
    sign_in(client, CLERK)
    page = client.get("/desk/")
    form = {"rows": "1", "payer_0": "", "voucher_no_0": "", "amount_0": "", "idempotency_key": "k1"}
    for token in ({}, {"csrf_token": "forged"}):
        assert client.post(f"/desk/bills/{bill['bill_id']}/settle", data={**form, **token}).status_code == 403
        assert client.post("/desk/sign-out", data=token).status_code == 403
    assert count(db.Settlement) == count(db.IdempotencyRecord) == 0
    assert client.get("/desk/").status_code == 200  # still signed in
    assert csrf_of(page.text)


def test_another_schemes_clerk_does_not_find_the_bill(desk) -> None:
    client, bill = desk
    sign_in(client, OTHER_CLERK)
    r = client.get("/desk/find", params={"hospital_code": "H511623001", "bill_no": bill["bill_no"]})
    assert r.status_code == 404 and 'id="err-bill_no"' in r.text
    r = client.get(f"/desk/bills/{bill['bill_id']}")
    assert r.status_code == 404 and bill["patient"]["name"] not in r.text
    page = client.get("/desk/")
    r = client.post("/desk/find-patient", data={"csrf_token": csrf_of(page.text), "id_number": "511623199003071234"})
    assert r.status_code == 200 and bill["bill_no"] not in r.text and "511623********1234" in r.text
    # The UEBMI clerk's scheme insures the patient too: it finds the bill, but cannot read
    # NRCMS's settlement, only its line on the split sheet.
    client.cookies.clear()
    sign_in(client, UEBMI_CLERK)
    r = client.get(
        "/desk/find", params={"hospital_code": "H511623001", "bill_no": bill["bill_no"]}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/desk/bills/{bill['bill_id']}"


def test_vouchers_are_checked_next_to_their_fields_and_kept(desk) -> None:
    client, bill = desk
    sign_in(client, CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}")
    form = {
        "csrf_token": csrf_of(page.text),
        "rows": "3",
        "payer_0": "PICC",
        "voucher_no_0": "V 1",
        "amount_0": "12.345",
        "payer_1": "",
        "voucher_no_1": "V2",
        "amount_1": "99999999",
    }
    r = client.post(f"/desk/bills/{bill['bill_id']}/preview", data=form)
    assert r.status_code == 422
    assert 'id="err-voucher_no_0"' in r.text and 'id="err-amount_0"' in r.text and 'id="err-payer_1"' in r.text
    assert 'value="12.345"' in r.text and 'value="V 1"' in r.text
    assert "最多两位小数" in r.text
    # Over the bill's total: the service's refusal, in Chinese, next to the voucher list.
    form = {"csrf_token": form["csrf_token"], "rows": "1", "payer_0": "PICC", "voucher_no_0": "V1", "amount_0": "99999"}
    r = client.post(f"/desk/bills/{bill['bill_id']}/preview", data=form)
    assert r.status_code == 422 and "将超过总额" in r.text and "99,999.00" in r.text


def test_people_are_created_by_an_admin_only(desk) -> None:
    client, _bill = desk
    body = {"username": "x-clerk", "name": "X", "role": "scheme_office", "scheme_code": NRCMS, "password": PASSWORD}
    assert client.post("/v1/users", json=body).status_code == 401
    assert client.post("/v1/users", json=body, headers=ADMIN).status_code == 201
    assert client.post("/v1/users", json=body, headers=ADMIN).status_code == 409
    short = {**body, "username": "y-clerk", "password": "short"}
    assert client.post("/v1/users", json=short, headers=ADMIN).status_code == 422
    with read_session() as s:
        stored = s.scalars(select(db.AppUser).where(db.AppUser.username == "x-clerk")).one()  # type: ignore[arg-type]
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash


def test_hospital_clerk_reconciles_and_cannot_settle(desk) -> None:
    client, bill = desk
    sign_in(client, HOSPITAL_CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}")
    assert page.status_code == 200 and "settle-form" not in page.text
    r = client.post(f"/desk/bills/{bill['bill_id']}/preview", data={"csrf_token": csrf_of(page.text), "rows": "1"})
    assert r.status_code == 403
    assert client.get("/desk/reconciliation").status_code == 200
    assert client.get("/desk/clearing").status_code == 403


def test_a_reversal_posted_under_another_bill_reverses_nothing(desk) -> None:
    client, bill = desk
    other = {**bill_1(), "bill_no": "ZY-OTHER-1"}
    other_id = client.post("/v1/bills", json=other, headers=ADMIN).json()["bill_id"]
    settled = client.post(f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": NRCMS}, headers=ADMIN)
    assert settled.status_code == 201
    sid = settled.json()["settlement_id"]
    sign_in(client, CLERK)
    page = client.get(f"/desk/bills/{other_id}")
    form = {"csrf_token": csrf_of(page.text), "settlement_id": sid, "idempotency_key": "k-other"}
    assert client.post(f"/desk/bills/{other_id}/reverse", data=form).status_code == 404
    assert client.get(f"/v1/settlements/{sid}", headers=ADMIN).json()["status"] == "settled"
    form["idempotency_key"] = "k-this"
    assert client.post(f"/desk/bills/{bill['bill_id']}/reverse", data=form, follow_redirects=False).status_code == 303
    assert client.get(f"/v1/settlements/{sid}", headers=ADMIN).json()["status"] == "reversed"
