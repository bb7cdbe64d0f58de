"""The writes outside the ledger (reference data, hospitals, clients, users) commit with their
audit record, as the ledger's writes do: both or neither."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from tests.support.api import ADMIN, sample_hospitals

SCHEME = {
    "code": "AUDIT-TX-1",
    "name": "A scheme put to check its audit record",
    "kind": "nrcms",
    "pooling_region": "511623",
}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def late(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The audit records written after the response instead of in the write's transaction."""
    import app.api.observe

    written: list[tuple[str, int]] = []
    original = app.api.observe._write_audit

    def write_late(entry: dict[str, Any]) -> None:
        written.append((entry["operation"], entry["status_code"]))
        original(entry)

    monkeypatch.setattr(app.api.observe, "_write_audit", write_late)
    return written


def audit_rows(url: str, operation: str) -> list[tuple[str | None, int, str]]:
    engine = create_engine(url)
    with Session(engine) as s:
        rows = s.scalars(
            select(db.AuditRecord).where(col(db.AuditRecord.operation) == operation).order_by(col(db.AuditRecord.id))
        )
        found = [(r.object_id, r.status_code, r.outcome) for r in rows]
    engine.dispose()
    return found


def scheme_exists(url: str, code: str) -> bool:
    engine = create_engine(url)
    with Session(engine) as s:
        found = s.get(db.Scheme, code) is not None
    engine.dispose()
    return found


@contextmanager
def commit_fails_after(statement: str) -> Iterator[list[str]]:
    """Fail the commit of the next transaction that sends ``statement`` (once); the statements
    of that transaction are collected."""
    from app.db.session import get_engine

    engine = get_engine()
    seen: list[str] = []
    armed: list[Any] = []

    def on_statement(conn: Any, _cur: Any, sql: str, *_args: Any) -> None:
        if not armed and statement in sql:
            armed.append(conn)
        if armed and armed[0] is conn:
            seen.append(" ".join(sql.split()))

    def on_commit(conn: Any) -> None:
        if armed and armed[0] is conn and armed[-1] is not None:
            armed.append(None)
            raise RuntimeError("commit failed (injected)")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def test_a_reference_put_commits_with_its_audit_record(
    client: TestClient, db_url: str, late: list[tuple[str, int]]
) -> None:
    put = client.put(f"/v1/schemes/{SCHEME['code']}", json=SCHEME, headers=ADMIN)
    assert put.status_code == 201, put.text
    assert audit_rows(db_url, "putScheme") == [(SCHEME["code"], 201, "ok")]
    again = client.put(f"/v1/schemes/{SCHEME['code']}", json={**SCHEME, "name": "Renamed"}, headers=ADMIN)
    assert again.status_code == 200
    assert audit_rows(db_url, "putScheme") == [(SCHEME["code"], 201, "ok"), (SCHEME["code"], 200, "ok")]
    # Neither record was written after its response.
    assert late == []


def test_a_failed_commit_leaves_neither_the_put_nor_its_audit_record(
    client: TestClient, db_url: str, late: list[tuple[str, int]]
) -> None:
    with commit_fails_after("INSERT INTO scheme") as seen:
        put = client.put(f"/v1/schemes/{SCHEME['code']}", json=SCHEME, headers=ADMIN)
    assert put.status_code == 500
    # The record was sent in the write's transaction, before the commit that failed ...
    assert any(s.startswith("INSERT INTO audit_record") for s in seen), seen
    assert any(s.startswith("INSERT INTO scheme") for s in seen), seen
    # ... so neither the scheme nor a record of its success is kept; the failure is recorded
    # after the response, as every failed request's is.
    assert not scheme_exists(db_url, SCHEME["code"])
    assert audit_rows(db_url, "putScheme") == [(SCHEME["code"], 500, "error")]
    assert late == [("putScheme", 500)]


def test_a_refused_put_is_audited_after_its_response(
    client: TestClient, db_url: str, late: list[tuple[str, int]]
) -> None:
    refused = client.put("/v1/schemes/OTHER-CODE", json=SCHEME, headers=ADMIN)
    assert refused.status_code == 422
    assert audit_rows(db_url, "putScheme") == [("OTHER-CODE", 422, "refused")]
    assert late == [("putScheme", 422)]


def test_the_administrators_writes_commit_with_their_audit_records(
    client: TestClient, db_url: str, late: list[tuple[str, int]]
) -> None:
    hospital = sample_hospitals()[0]
    assert client.put(f"/v1/hospitals/{hospital['code']}", json=hospital, headers=ADMIN).status_code == 201
    created = client.post("/v1/clients", json={"name": "x", "role": "admin"}, headers=ADMIN)
    assert created.status_code == 201
    client_id = created.json()["client_id"]
    assert client.delete(f"/v1/clients/{client_id}", headers=ADMIN).status_code == 200
    user = client.post(
        "/v1/users",
        json={"name": "Audited", "username": "audited", "password": "a long enough password", "role": "admin"},
        headers=ADMIN,
    )
    assert user.status_code == 201, user.text
    # A hospital's record names no object (its code is no key the audit trail files by).
    assert audit_rows(db_url, "putHospital") == [(None, 201, "ok")]
    assert audit_rows(db_url, "createClient") == [(client_id, 201, "ok")]
    assert audit_rows(db_url, "revokeClient") == [(client_id, 200, "ok")]
    assert audit_rows(db_url, "createUser") == [(user.json()["user_id"], 201, "ok")]
    assert late == []
