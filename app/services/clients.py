"""API clients: creation (token shown once, stored as a hash), listing, revocation, lookup."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.errors import FieldError, NotFound, ValidationFailed
from app.principal import Principal, Role
from app.schemas.clients import ClientCreate

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
    return row


_CLIENT = db.core_table(db.Client)
_BY_TOKEN = select(_CLIENT.c.id, _CLIENT.c.role, _CLIENT.c.hospital_code, _CLIENT.c.scheme_code).where(
    _CLIENT.c.token_hash == bindparam("token_hash"), _CLIENT.c.revoked_at.is_(None)
)


def principal_for_token(conn: Connection, token: str) -> Principal | None:
    """The principal of an active client's token, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(_BY_TOKEN, {"token_hash": hash_token(token)}).one_or_none()
    if row is None:
        return None
    client_id, role, hospital_code, scheme_code = row
    return Principal(client_id=client_id, role=cast(Role, role), hospital_code=hospital_code, scheme_code=scheme_code)
