"""Helpers for HTTP tests: an authenticated client and the sample data loaded over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.shared import examples_dir

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def sample_hospitals() -> list[dict[str, Any]]:
    """The designated-hospital registry of the shared examples (bill 1's hospital is in it)."""
    data: list[dict[str, Any]] = json.loads((examples_dir() / "v2" / "hospitals.json").read_text())
    return data


def register_hospitals(client: Any, hospitals: list[dict[str, Any]], headers: dict[str, str] = ADMIN) -> None:
    """Put hospitals into the registry (``client``: a TestClient or an httpx client)."""
    for h in hospitals:
        r = client.put(f"/v1/hospitals/{h['code']}", json=h, headers=headers)
        assert r.status_code in (200, 201), r.text


def load_examples_over_http(client: TestClient, headers: dict[str, str] = ADMIN) -> None:
    """Put the shared example hospitals, schemes, catalogs, policies and members through the API."""
    folder = examples_dir()
    register_hospitals(client, sample_hospitals(), headers)
    for scheme in json.loads((folder / "schemes.json").read_text()):
        r = client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=headers)
        assert r.status_code == 201, r.text
    for code, catalog in json.loads((folder / "catalogs.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=headers)
        assert r.status_code == 201, r.text
    for code, policy in json.loads((folder / "policies.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=headers)
        assert r.status_code == 201, r.text
    for code, members in json.loads((folder / "members.json").read_text()).items():
        for m in members:
            r = client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=headers)
            assert r.status_code == 201, r.text


def bill_1() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir() / "bill-1.json").read_text())
    return data


def expected_bill_1() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir() / "expected-bill-1.json").read_text())
    return data


# --- v2 (shared/examples/v2, layered over the v1 files) ---------------------------------------


def v2_dir() -> Path:
    return examples_dir() / "v2"


def expected_v2() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((v2_dir() / "expected-v2.json").read_text())
    return data


def v2_bill(name: str, *, fill_hospital: bool = False) -> dict[str, Any]:
    """A v2 bill as shared (bill 4 names its hospital by code only: the registry decides the rest).
    ``fill_hospital``: with the hospital's name, level and region from ``v2/hospitals.json``, as the
    engine needs it (the service takes them from its registry)."""
    bill: dict[str, Any] = json.loads((v2_dir() / name).read_text())
    if fill_hospital:
        registered = next(h for h in sample_hospitals() if h["code"] == bill["hospital"]["code"])
        for key in ("name", "level", "region"):
            bill["hospital"].setdefault(key, registered[key])
    return bill


def load_v2_over_http(client: TestClient, headers: dict[str, str] = ADMIN) -> None:
    """The v1 sample, then v2's files over it: an entry with the same key replaces the earlier."""
    load_examples_over_http(client, headers)
    folder = v2_dir()
    for scheme in json.loads((folder / "schemes.json").read_text()):
        r = client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, catalog in json.loads((folder / "catalogs.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, policy in json.loads((folder / "policies.json").read_text()).items():
        r = client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=headers)
        assert r.status_code in (200, 201), r.text
    for code, members in json.loads((folder / "members.json").read_text()).items():
        for m in members:
            r = client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=headers)
            assert r.status_code in (200, 201), r.text
