"""Shared by the desk's tests: the people, the sample bill, and reading a page's amounts."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx

from tests.api.test_v3_examples import load_v3_over_http
from tests.support.api import ADMIN, bill_1, load_examples_over_http
from tests.support.paths import REPO

PASSWORD = "correct horse battery"
CLERK = "nrcms-clerk"
UEBMI_CLERK = "uebmi-clerk"
HOSPITAL_CLERK = "hospital-clerk"
OTHER_CLERK = "other-clerk"
SI_CLERK = "si-clerk"
MA_CLERK = "ma-clerk"
ADMIN_PERSON = "desk-admin"
NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
SI, MA = "SI-511623", "MA-511623"
#: A scheme the sample patient is not a member of.
OTHER = "NRCMS-510000"
PEOPLE: dict[str, dict[str, Any]] = {
    CLERK: {"name": "李明", "role": "scheme_office", "scheme_code": NRCMS},
    UEBMI_CLERK: {"name": "Chen Jing", "role": "scheme_office", "scheme_code": UEBMI},
    HOSPITAL_CLERK: {"name": "Zhao Hong", "role": "hospital", "hospital_code": "H511623001"},
    OTHER_CLERK: {"name": "Sun Li", "role": "scheme_office", "scheme_code": OTHER},
    SI_CLERK: {"name": "Zhou Ping", "role": "scheme_office", "scheme_code": SI},
    MA_CLERK: {"name": "Wu Fang", "role": "scheme_office", "scheme_code": MA},
    ADMIN_PERSON: {"name": "Qian Yu", "role": "admin"},
}


#: The people of v1's sample (the others need v2's schemes).
V1_PEOPLE = (CLERK, UEBMI_CLERK, HOSPITAL_CLERK, OTHER_CLERK)


def seed(client: httpx.Client, *, full: bool = False) -> dict[str, Any]:
    """The shared examples, bill 1 (submitted by the admin) and the people.  ``full``: v2's and
    v3's examples over v1's, and every person of ``PEOPLE`` (else v1's and ``V1_PEOPLE``)."""
    if full:
        load_v3_over_http(cast(Any, client))
    else:
        load_examples_over_http(cast(Any, client))
    other = {
        "name": "Another county's cooperative scheme",
        "kind": "nrcms",
        "pooling_region": "510000",
        "coordination": "repeat_capped",
    }
    assert client.put(f"/v1/schemes/{OTHER}", json=other, headers=ADMIN).status_code == 201
    r = client.post("/v1/bills", json=bill_1(), headers=ADMIN)
    assert r.status_code == 201, r.text
    bill: dict[str, Any] = r.json()
    for username in PEOPLE if full else V1_PEOPLE:
        body = {"username": username, "password": PASSWORD, **PEOPLE[username]}
        r = client.post("/v1/users", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
    return bill


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m is not None, html[:2000]
    return m.group(1)


def parse_amount(text: str) -> Decimal:
    """An amount as the page shows it (``11,700.00``), back to a Decimal."""
    return Decimal(text.strip().replace(",", ""))


ARTIFACTS = Path(os.environ.get("SETTLE_TEST_ARTIFACTS", REPO / ".artifacts")) / "desk"


class Site:
    """A real server (uvicorn, one worker) on a free loopback port, seeded over HTTP."""

    def __init__(self, backend: str, db_url: str, server: Any, bill: dict[str, Any]) -> None:
        self.backend = backend
        self.db_url = db_url
        self.server = server
        self.bill = bill
        self.base = server.base_url
        self.shots = ARTIFACTS / backend
        self.shots.mkdir(parents=True, exist_ok=True)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=ADMIN, timeout=30.0)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the desk's form (a TestClient keeps the cookie)."""
    page = client.get("/desk/sign-in")
    return client.post(
        "/desk/sign-in",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/desk/"},
        follow_redirects=False,
    )


def hidden_fields(html: str, form_id: str) -> dict[str, str]:
    """The fields of one form of a page (its inputs' names and values, unescaped)."""
    import html as html_lib

    start = html.index(f'id="{form_id}"')
    end = html.index("</form>", start)
    fields = re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', html[start:end])
    return {name: html_lib.unescape(value) for name, value in fields}
