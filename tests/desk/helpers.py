"""Shared by the desk's tests: the people, the sample bill, and reading a page's amounts."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx

from tests.support.api import ADMIN, bill_1, load_examples_over_http
from tests.support.paths import REPO

PASSWORD = "correct horse battery"
CLERK = "nrcms-clerk"
UEBMI_CLERK = "uebmi-clerk"
HOSPITAL_CLERK = "hospital-clerk"
OTHER_CLERK = "other-clerk"
NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
#: A scheme the sample patient is not a member of.
OTHER = "NRCMS-510000"
PEOPLE: dict[str, dict[str, Any]] = {
    CLERK: {"name": "李明", "role": "scheme_office", "scheme_code": NRCMS},
    UEBMI_CLERK: {"name": "Chen Jing", "role": "scheme_office", "scheme_code": UEBMI},
    HOSPITAL_CLERK: {"name": "Zhao Hong", "role": "hospital", "hospital_code": "H511623001"},
    OTHER_CLERK: {"name": "Sun Li", "role": "scheme_office", "scheme_code": OTHER},
}


def seed(client: httpx.Client) -> dict[str, Any]:
    """The shared examples, bill 1 (submitted by the admin) and the three people."""
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
    for username, person in PEOPLE.items():
        r = client.post("/v1/users", json={"username": username, "password": PASSWORD, **person}, headers=ADMIN)
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
