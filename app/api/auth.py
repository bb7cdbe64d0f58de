"""Authentication and the role/scope rules of ``api.md``.

``Authorization: Bearer <token>``.  ``SETTLE_ADMIN_TOKEN`` is an admin.  No token, or an
unknown one, is 401.  Any other token is looked up among the registered clients
(:func:`app.services.clients.principal_for_token`).  Which role may call which operation is
declared per route with :func:`allow`; what a role may see is decided by the ``scope`` helpers
(404 outside it).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db.tx import one_statement_connection
from app.errors import Forbidden, Unauthorized
from app.principal import ADMIN, Principal, Role
from app.services.clients import principal_for_token
from app.settings import get_settings

bearer = HTTPBearer(auto_error=False, description="A client token, or SETTLE_ADMIN_TOKEN")


def authenticate(token: str) -> Principal | None:
    admin = get_settings().admin_token
    if (
        admin is not None
        and admin.get_secret_value()
        and hmac.compare_digest(token.encode(), admin.get_secret_value().encode())
    ):
        return ADMIN
    # Looked up on every request (a revoked token is refused at once), in one round trip.
    with one_statement_connection() as conn:
        return principal_for_token(conn, token)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send a bearer token: Authorization: Bearer <token>")
    principal = authenticate(credentials.credentials)
    if principal is None:
        raise Unauthorized("the token is unknown or was revoked")
    request.state.principal = principal
    return principal


def allow(*roles: Role) -> Callable[..., Principal]:
    """A dependency: the caller must hold one of ``roles`` (admin always may)."""
    allowed = {"admin", *roles}

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"the {principal.role} role may not call this operation")
        return principal

    dependency.allowed_roles = frozenset(allowed)  # type: ignore[attr-defined]
    return dependency
