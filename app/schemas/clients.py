"""Clients and audit records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from app.db import tables as db
from app.principal import Role
from app.schemas.common import Code, In, Name, Out


class ClientCreate(In):
    name: Name
    role: Role
    hospital_code: Code | None = Field(None, description="Required for the hospital role, else absent.")
    scheme_code: Code | None = Field(None, description="Required for the scheme_office role, else absent.")

    @model_validator(mode="after")
    def _binding(self) -> ClientCreate:
        if self.role == "hospital" and (self.hospital_code is None or self.scheme_code is not None):
            raise ValueError("a hospital client needs a hospital_code and no scheme_code")
        if self.role == "scheme_office" and (self.scheme_code is None or self.hospital_code is not None):
            raise ValueError("a scheme_office client needs a scheme_code and no hospital_code")
        if self.role == "admin" and (self.scheme_code is not None or self.hospital_code is not None):
            raise ValueError("an admin client is bound to no hospital or scheme")
        return self


class ClientPublic(Out):
    client_id: str
    name: str
    role: Role
    hospital_code: str | None
    scheme_code: str | None
    created_at: datetime
    revoked_at: datetime | None


class ClientCreated(ClientPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


class AuditRecordPublic(Out):
    id: int
    at: datetime
    request_id: str | None
    client_id: str | None
    role: str | None
    operation: str
    method: str
    path: str
    object_id: str | None
    status_code: int
    outcome: str


class AuditPage(Out):
    items: list[AuditRecordPublic]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page; null at the end.")


def client_public(row: db.Client) -> dict[str, Any]:
    return {
        "client_id": row.id,
        "name": row.name,
        "role": row.role,
        "hospital_code": row.hospital_code,
        "scheme_code": row.scheme_code,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def client_created_public(row: db.Client, token: str) -> dict[str, Any]:
    """The body of a :class:`ClientCreated`: the client and its token, shown this once."""
    return {**client_public(row), "token": token}


def audit_record_public(r: db.AuditRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at.isoformat(),
        "request_id": r.request_id,
        "client_id": r.client_id,
        "role": r.role,
        "operation": r.operation,
        "method": r.method,
        "path": r.path,
        "object_id": r.object_id,
        "status_code": r.status_code,
        "outcome": r.outcome,
    }
