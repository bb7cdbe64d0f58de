"""A serving worker's heap (app.heap): frozen, and its youngest generation collected less often,
while the application serves; as Python left them once it stops."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from app.heap import YOUNG_THRESHOLD, long_lived_heap


def test_the_heap_is_frozen_while_serving_and_thawed_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    built = {"a": [1]}  # a container the collector tracks, made before the freeze

    def collectable() -> bool:
        return any(o is built for o in gc.get_objects())

    assert collectable()
    with long_lived_heap():
        assert gc.get_freeze_count() > 0
        assert not collectable()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    assert collectable()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_the_application_serves_with_its_heap_frozen(db_url: str) -> None:
    from app.main import app

    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0
