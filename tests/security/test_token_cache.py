"""The worker's token cache (``SETTLE_TOKEN_CACHE_SECONDS``, ``app.services.clients.TOKENS``):
a token checked a moment ago costs no lookup; a revocation through this worker is refused at
once; one made elsewhere (another worker) within the cache's seconds; the cache stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from app.db.session import get_engine
from app.main import app
from app.principal import Principal
from app.services import clients
from app.services.clients import TOKENS, TokenCache, hash_token
from app.settings import get_settings
from tests.support.api import ADMIN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(TOKENS, "clock", fake)
    TOKENS.clear()
    return fake


@pytest.fixture
def client(db_url: str, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def lookups(client: TestClient) -> Iterator[list[str]]:
    """The token lookups the app sends to the database (statements on the client table by hash)."""
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if "token_hash" in sql and "revoked_at IS NULL" in sql:
            seen.append(sql)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", statement)
    yield seen
    event.remove(engine, "before_cursor_execute", statement)


def new_client(client: TestClient) -> tuple[str, dict[str, str]]:
    r = client.post("/v1/clients", json={"name": "cached", "role": "admin"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["client_id"], {"Authorization": f"Bearer {r.json()['token']}"}


def revoke_elsewhere(db_url: str, client_id: str) -> None:
    """What another worker's revocation leaves: the row revoked in the database, this worker not told."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE client SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"), {"id": client_id})
    engine.dispose()


def test_a_token_checked_a_moment_ago_is_not_looked_up_again(
    client: TestClient, lookups: list[str], clock: FakeClock
) -> None:
    _id, auth = new_client(client)
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert len(lookups) == 1
    clock.now += get_settings().token_cache_seconds - 0.01
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert len(lookups) == 1
    clock.now += 0.02  # past the cache's seconds: looked up again, then cached again
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert len(lookups) == 2


def test_a_revocation_through_this_worker_is_refused_at_once(client: TestClient, lookups: list[str]) -> None:
    client_id, auth = new_client(client)
    _other_id, other = new_client(client)
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    assert client.get("/v1/hospitals", headers=other).status_code == 200
    assert len(TOKENS) == 2
    assert client.delete(f"/v1/clients/{client_id}", headers=ADMIN).status_code == 200
    refused = client.get("/v1/hospitals", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token is unknown or was revoked"
    # Every cached token was forgotten: the other client's is looked up again, and still works.
    assert client.get("/v1/hospitals", headers=other).status_code == 200
    assert len(lookups) == 4


def test_another_workers_revocation_is_refused_within_the_cache_seconds(
    client: TestClient, db_url: str, clock: FakeClock
) -> None:
    client_id, auth = new_client(client)
    assert client.get("/v1/hospitals", headers=auth).status_code == 200
    revoke_elsewhere(db_url, client_id)
    assert client.get("/v1/hospitals", headers=auth).status_code == 200  # still cached here
    clock.now += get_settings().token_cache_seconds
    assert client.get("/v1/hospitals", headers=auth).status_code == 401


def test_zero_seconds_looks_every_token_up(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, db_url: str, lookups: list[str]
) -> None:
    with monkeypatch.context() as m:
        m.setenv("SETTLE_TOKEN_CACHE_SECONDS", "0")
        get_settings.cache_clear()
        client_id, auth = new_client(client)
        for _ in range(3):
            assert client.get("/v1/hospitals", headers=auth).status_code == 200
        assert len(lookups) == 3 and len(TOKENS) == 0
        revoke_elsewhere(db_url, client_id)
        assert client.get("/v1/hospitals", headers=auth).status_code == 401
    get_settings.cache_clear()


def test_unknown_tokens_are_not_cached(client: TestClient, lookups: list[str]) -> None:
    unknown = {"Authorization": f"Bearer {clients.new_token()}"}
    for _ in range(3):
        assert client.get("/v1/hospitals", headers=unknown).status_code == 401
    assert len(lookups) == 3 and len(TOKENS) == 0


PRINCIPAL = Principal(client_id="c", role="hospital", hospital_code="H1")


def test_the_cache_is_bounded_least_recently_used_out(clock: FakeClock) -> None:
    cache = TokenCache(size=3, clock=clock)
    for key in ("a", "b", "c"):
        cache.put(key, PRINCIPAL, generation=cache.generation)
    assert cache.get("a") == PRINCIPAL  # "b" is now the least recently used
    cache.put("d", PRINCIPAL, generation=cache.generation)
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(k) for k in ("a", "c", "d")] == [PRINCIPAL] * 3


def test_a_lookup_begun_before_a_revocation_cannot_store_what_it_read(clock: FakeClock) -> None:
    """The lookup reads the generation, then the row (still active: the revocation is not
    committed yet); the revocation clears the cache; the lookup's result is not kept."""
    token_hash = hash_token(clients.new_token())
    generation = TOKENS.generation
    TOKENS.clear()  # what clients.revoke does (at its flush and after its commit)
    TOKENS.put(token_hash, PRINCIPAL, generation=generation)
    assert TOKENS.get(token_hash) is None
    TOKENS.put(token_hash, PRINCIPAL, generation=TOKENS.generation)
    assert TOKENS.get(token_hash) == PRINCIPAL
    clock.now += get_settings().token_cache_seconds
    assert TOKENS.get(token_hash) is None and len(TOKENS) == 0
