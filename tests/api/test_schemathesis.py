"""Schemathesis over every operation of the app, as the admin, on SQLite with the sample loaded.

Checks: no server error, and every response conforms to the documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.main import app
from tests.api_helpers import ADMIN, bill_1, load_examples_over_http

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def sample_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tests.conftest import truncate, use_database

    truncate(sqlite_url)
    use_database(sqlite_url, monkeypatch)
    with TestClient(app) as client:
        load_examples_over_http(client)
        assert client.post("/v1/bills", json=bill_1(), headers=ADMIN).status_code == 201
    yield


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case, sample_db: None) -> None:
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error, response_schema_conformance])
