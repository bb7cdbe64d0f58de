from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from app.main import app

    with TestClient(app) as c:
        yield c
