"""``Idempotency-Key``: the first successful response is kept per client and key.

The record is written in the same transaction as the settlement it answers, after the bill's
lock is held, so a concurrent request with the same key either waits for that lock and then
replays the stored response, or (for a different bill) collides on the record's primary key,
is retried by :mod:`app.ledger.tx`, and then replays or is refused as a mismatch.  A crash
before the commit leaves neither the settlement nor the record.  Refusals are not stored: a
refused request changed nothing, so repeating it is evaluated afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db.tables import IdempotencyRecord
from app.errors import IdempotencyMismatch
from app.principal import Principal

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class IdemRequest:
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = orjson.dumps({"m": method, "p": path, "b": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def lookup(session: Session, principal: Principal, idem: IdemRequest | None) -> Reply | None:
    if idem is None:
        return None
    record = session.get(IdempotencyRecord, (principal.client_id, idem.key))
    if record is None:
        return None
    if record.request_hash != idem.request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was already used with a different request; use a new key for a new request"
        )
    return Reply(record.status_code, orjson.loads(record.response_body))


def store(session: Session, principal: Principal, idem: IdemRequest | None, reply: Reply) -> None:
    if idem is None:
        return
    session.execute(
        insert(IdempotencyRecord).values(
            client_id=principal.client_id,
            key=idem.key,
            request_hash=idem.request_hash,
            status_code=reply.status,
            response_body=orjson.dumps(reply.body).decode(),
            created_at=datetime.now(UTC),
        )
    )
