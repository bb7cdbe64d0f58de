"""``Idempotency-Key``: the first successful response is kept per client, operation and key.

A key belongs to its client and its operation (method and path): the same key on another
bill's settlements, or on a claim, is another key.  Bodies are compared after defaults are
applied (the hash is taken of the validated request model, so a left-out ``dry_run`` is
``false`` and a left-out ``external_payments`` is ``[]``); a body that differs in any field,
``dry_run`` included, is refused (422 ``idempotency-mismatch``).  Only carried-out requests (2xx)
are remembered; a dry run is checked against the key's record (so a dry run reusing the key of a
carried-out request is a mismatch) but never stored: it carried nothing out.

The record is written in the same transaction as the settlement it answers, after the bill's
lock is held, so a concurrent request with the same key either waits for that lock and then
replays the stored response, or (for a different bill) collides on the record's primary key,
is retried by :mod:`app.db.tx`, and then replays or is refused as a mismatch.  A crash
before the commit leaves neither the settlement nor the record.  Refusals are not stored: a
refused request changed nothing, so repeating it is evaluated afresh.

Who does what: a use case (:mod:`app.services.claims`) looks its key up (:func:`lookup`) where
its locks make the answer final, and returns either :class:`Replayed` (the stored answer, opaque
to it) or its domain result (a settlement's record, a claim's bill and settlements).  It never
decides a status or renders a body.  The interface does, with a ``render`` callable (result ->
:class:`Reply`: status and body, from the renderers beside the ``*Public`` models), which the one
write entry point (:func:`app.services.writes.run_write`) hands to :func:`answer` inside the
use case's transaction, so the record (the rendered body and status, exactly as sent) is written
in the transaction of the change it answers, and a replay returns exactly what was stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import bindparam, or_, select

from app import clock
from app.db.direct import execute_one
from app.db.tables import IdempotencyRecord, core_table
from app.db.unit_of_work import UnitOfWork
from app.errors import IdempotencyMismatch
from app.principal import Principal

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class IdemRequest:
    key: str
    request_hash: str
    #: ``"POST /v1/claims"``: method and path.
    operation: str
    #: The stored answer writes its numbers exactly as JSON numbers (the national platform's
    #: interface): a replay keeps each number's literal (``49200.00``) instead of reading it as
    #: a binary float.
    exact_numbers: bool = False
    #: What the key is called where it was sent (a refusal names it).
    named: str = "Idempotency-Key"

    @classmethod
    def of(cls, key: str, method: str, path: str, body: Any) -> IdemRequest:
        return cls(key, request_hash(method, path, body), f"{method} {path}")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as the client gets it (and as a key's record keeps it): status and body."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Replayed:
    """A use case's outcome when its key was already carried out: the stored answer."""

    reply: Reply


Result = TypeVar("Result")


def request_hash(method: str, path: str, body: Any, default: Callable[[Any], Any] | None = None) -> str:
    """The request's fingerprint; ``default`` writes what orjson cannot (see ``orjson.dumps``)."""
    canonical = orjson.dumps({"m": method, "p": path, "b": body}, default=default, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


_RECORD = core_table(IdempotencyRecord)
#: A record written before keys were per operation (operation "") matches any operation.
_LOOKUP = (
    select(_RECORD.c.request_hash, _RECORD.c.status_code, _RECORD.c.response_body)
    .where(
        _RECORD.c.client_id == bindparam("client_id"),
        _RECORD.c.key == bindparam("key"),
        or_(_RECORD.c.operation == bindparam("operation"), _RECORD.c.operation == ""),
    )
    .order_by(_RECORD.c.operation.desc())
    .limit(1)
)


#: The lookup's three columns as scalar subqueries (``idem_request_hash``, ``idem_status_code``,
#: ``idem_response_body``), for the statement a use case reads first anyway (the visit a message
#: locks, the route an admission reads): its parameters then include :func:`lookup_params`, and
#: :func:`replayed_from` reads the answer off its row.
LOOKUP_COLUMNS = tuple(
    _LOOKUP.with_only_columns(column).scalar_subquery().label(f"idem_{column.name}")
    for column in (_RECORD.c.request_hash, _RECORD.c.status_code, _RECORD.c.response_body)
)


def lookup_params(principal: Principal, idem: IdemRequest) -> dict[str, str]:
    return {"client_id": principal.client_id, "key": idem.key, "operation": idem.operation}


def lookup(work: UnitOfWork, principal: Principal, idem: IdemRequest | None) -> Replayed | None:
    """The answer stored for this client, operation and key, or None; a different request under
    the key is refused (422 ``idempotency-mismatch``)."""
    if idem is None:
        return None
    record = execute_one(work.connection, _LOOKUP, lookup_params(principal, idem))
    return None if record is None else _replayed(idem, *record)


def replayed_from(idem: IdemRequest, row: Any) -> Replayed | None:
    """:func:`lookup`'s answer from a row read with :data:`LOOKUP_COLUMNS`; the caller makes sure
    the row's statement saw every record committed before its locks were held."""
    if row.idem_request_hash is None:
        return None
    return _replayed(idem, row.idem_request_hash, row.idem_status_code, row.idem_response_body)


def _replayed(idem: IdemRequest, request_hash: str, status_code: int, response_body: str) -> Replayed:
    if request_hash != idem.request_hash:
        raise IdempotencyMismatch(
            f"this {idem.named} was already used with a different request; use a new key for a new request"
        )
    if idem.exact_numbers:
        return Replayed(Reply(status_code, json.loads(response_body, parse_float=orjson.Fragment)))
    return Replayed(Reply(status_code, orjson.loads(response_body)))


def store(work: UnitOfWork, principal: Principal, idem: IdemRequest | None, reply: Reply) -> None:
    """The answer kept under the key, inserted just before the commit (nothing reads it back)."""
    if idem is None:
        return
    work.defer_insert(
        _RECORD,
        {
            "client_id": principal.client_id,
            "operation": idem.operation,
            "key": idem.key,
            "request_hash": idem.request_hash,
            "status_code": reply.status,
            "response_body": orjson.dumps(reply.body).decode(),
            "created_at": clock.now(),
        },
    )


def answer(
    work: UnitOfWork,
    *,
    principal: Principal,
    idem: IdemRequest | None,
    outcome: Result | Replayed,
    render: Callable[[Result], Reply],
    remember: bool = True,
) -> Reply:
    """The answer to a use case's ``outcome`` in its own transaction: a replay as stored, else
    ``render(outcome)``, stored under the key when ``remember`` (not for a dry run)."""
    if isinstance(outcome, Replayed):
        return outcome.reply
    reply = render(outcome)
    if remember:
        store(work, principal, idem, reply)
    return reply
