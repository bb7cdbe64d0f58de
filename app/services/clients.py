"""API clients: creation (token shown once, stored as a hash), listing, revocation, lookup.

A token's principal is looked up in the database once, then kept in this worker process's
:data:`TOKENS` cache for ``SETTLE_TOKEN_CACHE_SECONDS`` (1 s by default; 0 turns the cache off),
so a request whose token was checked a moment ago costs no round trip.  How strong revocation
stays:

- a revocation made by *this* worker process empties its cache at once (when it is written, and
  again once it is committed, so that a lookup that read the row before the commit cannot put
  it back): the next request with the token is refused;
- another worker process refuses it at the latest ``SETTLE_TOKEN_CACHE_SECONDS`` later, when its
  entry expires (the revocation is in the database, which the next lookup reads).  Telling the
  other workers at once (PostgreSQL ``LISTEN``/``NOTIFY``) would take a listening connection
  and thread per worker, reconnection, and the same expiry anyway while that connection is
  down (and SQLite has no such thing): not worth it against a one-second bound.

Clients are only created and revoked (no role, scope or token ever changes), so a revocation is
the only change a cached principal can miss.  Only active clients' principals are cached (an
unknown or revoked token is looked up every time, as before: a guesser cannot fill the cache), keyed by
the token's SHA-256 (never the token), at most :data:`TOKEN_CACHE_SIZE` of them, least recently
used first out.  A principal holds no personal data (client id, role, hospital or scheme code).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, bindparam, event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.errors import FieldError, NotFound, ValidationFailed
from app.principal import Principal, Role
from app.schemas.clients import ClientCreate
from app.settings import get_settings

TOKEN_PREFIX = "stl_"  # noqa: S105 (a prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class NewClient:
    """A created client and its token, which is shown this once (only its hash is stored)."""

    row: db.Client
    token: str


def create(session: Session, *, body: ClientCreate) -> NewClient:
    """Field errors are located in the client given (``("scheme_code",)``)."""
    if body.scheme_code is not None and session.get(db.Scheme, body.scheme_code) is None:
        raise ValidationFailed([FieldError(("scheme_code",), f"there is no scheme {body.scheme_code!r}")])
    if body.hospital_code is not None and session.get(db.Hospital, body.hospital_code) is None:
        raise ValidationFailed(
            [
                FieldError(
                    ("hospital_code",),
                    f"hospital {body.hospital_code!r} is not in the designated-hospital registry; register it first",
                )
            ]
        )
    token = new_token()
    row = db.Client(
        id=str(uuid.uuid4()),
        name=body.name,
        role=body.role,
        hospital_code=body.hospital_code,
        scheme_code=body.scheme_code,
        token_hash=hash_token(token),
        created_at=clock.now(),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return NewClient(row, token)


def list_all(session: Session) -> list[db.Client]:
    return list(session.scalars(select(db.Client).order_by(col(db.Client.created_at))))


def revoke(session: Session, *, client_id: str) -> db.Client:
    row = session.scalars(select(db.Client).where(col(db.Client.id) == client_id).with_for_update()).one_or_none()
    if row is None:
        raise NotFound("there is no such client")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
    # This worker forgets every token at once (also one another worker revoked before), and
    # again once committed: a lookup that read the row still active before the commit must not
    # leave it cached.
    TOKENS.clear()
    event.listen(session, "after_commit", _clear_tokens_after_commit, once=True)
    return row


def _clear_tokens_after_commit(_session: Session) -> None:
    TOKENS.clear()


_CLIENT = db.core_table(db.Client)
_BY_TOKEN = select(_CLIENT.c.id, _CLIENT.c.role, _CLIENT.c.hospital_code, _CLIENT.c.scheme_code).where(
    _CLIENT.c.token_hash == bindparam("token_hash"), _CLIENT.c.revoked_at.is_(None)
)


#: Most principals a worker process keeps (about 200 bytes each).
TOKEN_CACHE_SIZE = 1024


class TokenCache:
    """Token hash -> principal of an active client, each for ``SETTLE_TOKEN_CACHE_SECONDS`` from
    its lookup, at most ``size`` (least recently used out).  Thread-safe: hits are read on the
    event loop, lookups fill it from the thread pool.  ``clock`` is monotonic seconds.

    :meth:`clear` also moves the generation on: a lookup that began before it (``generation``
    read before the query) cannot store what it read (:meth:`put` drops it)."""

    def __init__(self, *, size: int = TOKEN_CACHE_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[token_hash]
                return None
            self._entries.move_to_end(token_hash)
            return entry[1]

    def put(self, token_hash: str, principal: Principal, *, generation: int) -> None:
        seconds = get_settings().token_cache_seconds
        if seconds <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._entries[token_hash] = (self.clock() + seconds, principal)
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


#: This worker process's cache (see the module).
TOKENS = TokenCache()


def cached_principal(token: str) -> Principal | None:
    """The principal of a token found in :data:`TOKENS` (no I/O), or None: look it up."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return TOKENS.get(hash_token(token))


def principal_for_token(conn: Connection, token: str) -> Principal | None:
    """The principal of an active client's token, or None (unknown or revoked).  Looked up in the
    database; an active client's is kept in :data:`TOKENS`."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_hash = hash_token(token)
    generation = TOKENS.generation
    row = conn.execute(_BY_TOKEN, {"token_hash": token_hash}).one_or_none()
    if row is None:
        return None
    client_id, role, hospital_code, scheme_code = row
    principal = Principal(
        client_id=client_id, role=cast(Role, role), hospital_code=hospital_code, scheme_code=scheme_code
    )
    TOKENS.put(token_hash, principal, generation=generation)
    return principal
