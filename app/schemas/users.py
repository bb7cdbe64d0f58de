"""People who sign in to the desk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr, model_validator

from app.db import tables as db
from app.principal import Role
from app.schemas.clients import ClientCreate
from app.schemas.common import Out


class UserCreate(ClientCreate):
    """A person: the role and binding rules are a client's (``ClientCreate``); ``name`` is the
    name shown on the desk and printed on split sheets."""

    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    password: SecretStr = Field(min_length=12, max_length=200, description="At least 12 characters.")

    @model_validator(mode="after")
    def _password_not_username(self) -> UserCreate:
        if self.password.get_secret_value().lower() == self.username:
            raise ValueError("the password must not be the username")
        return self


class UserPublic(Out):
    user_id: str
    username: str
    name: str
    role: Role
    hospital_code: str | None
    scheme_code: str | None
    created_at: datetime


def user_public(row: db.AppUser) -> dict[str, Any]:
    return {
        "user_id": row.id,
        "username": row.username,
        "name": row.display_name,
        "role": row.role,
        "hospital_code": row.hospital_code,
        "scheme_code": row.scheme_code,
        "created_at": row.created_at.isoformat(),
    }
