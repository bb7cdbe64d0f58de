"""``/metrics`` exposes the named series after a settlement."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from app.db.tx import write_transaction
from app.db.unit_of_work import UnitOfWork
from app.settings import get_settings
from tests.support.api import ADMIN, bill_1


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_after_a_settlement(loaded: TestClient) -> None:
    before = samples(loaded)
    bill_id = loaded.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
    for scheme in ("NRCMS-511623", "UEBMI-321100"):
        assert (
            loaded.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": scheme}, headers=ADMIN).status_code
            == 201
        )
    assert (
        loaded.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": "UEBMI-321100"}, headers=ADMIN).status_code
        == 409
    )
    after = samples(loaded)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("settle_settlements_total", scheme="UEBMI-321100", outcome="settled") == 1
    assert delta("settle_settlements_total", scheme="UEBMI-321100", outcome="conflict") == 1
    assert delta("settle_fund_paid_yuan_total", scheme="NRCMS-511623") == 4815.0
    assert delta("settle_fund_paid_yuan_total", scheme="UEBMI-321100") == 6885.0
    assert delta("settle_coordination_reduction_yuan_total", scheme="UEBMI-321100") == 639.0
    route = "/v1/bills/{bill_id}/settlements"
    assert delta("settle_http_request_duration_seconds_count", route=route, method="POST", status="201") == 2
    assert delta("settle_http_request_duration_seconds_count", route=route, method="POST", status="409") == 1
    assert delta("settle_db_transaction_seconds_count", operation="settle") >= 2
    # The pool's gauges hold values: its configured size, and every connection was given back.
    settings = get_settings()
    sqlite = settings.database_url.startswith("sqlite")
    size = 1 if sqlite else settings.db_pool_size + settings.db_max_overflow
    assert after[("settle_db_pool_size", frozenset())] == size
    assert delta("settle_db_pool_connections_in_use") == 0


def test_a_retried_transaction_is_counted(loaded: TestClient) -> None:
    """A write transaction run again after a lock conflict adds one to its operation and reason."""
    key = ("settle_db_retries_total", frozenset({("operation", "metrics-test"), ("reason", "database_is_locked")}))
    before = samples(loaded).get(key, 0.0)
    attempts: list[int] = []

    def busy_once(work: UnitOfWork) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("UPDATE bill", None, sqlite3.OperationalError("database is locked"))
        return len(attempts)

    assert write_transaction(busy_once, operation="metrics-test") == 2
    assert samples(loaded)[key] - before == 1


def test_fastapis_native_opentelemetry_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off (SETTLE_OPENTELEMETRY unset): FastAPI does not ask OpenTelemetry for its providers on
    every request (app.main); on, FastAPI's defaults apply."""
    from app.main import create_app

    try:
        monkeypatch.delenv("SETTLE_OPENTELEMETRY", raising=False)
        get_settings.cache_clear()
        off = create_app()
        assert not off._native_telemetry.enabled()
        assert (off._telemetry["tracing"], off._telemetry["metrics"], off._telemetry["logs"]) == (False, False, False)
        monkeypatch.setenv("SETTLE_OPENTELEMETRY", "true")
        get_settings.cache_clear()
        on = create_app()
        assert (on._telemetry["tracing"], on._telemetry["metrics"], on._telemetry["logs"]) == (True, True, True)
    finally:
        monkeypatch.delenv("SETTLE_OPENTELEMETRY", raising=False)
        get_settings.cache_clear()
