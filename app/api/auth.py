"""Authentication and the role/scope rules of ``api.md``.

``Authorization: Bearer <token>``.  ``SETTLE_ADMIN_TOKEN`` is an admin.  No token, or an
unknown one, is 401.  Any other token is looked up among the registered clients
(:func:`app.services.clients.principal_for_token`), or found in this worker's cache of recent
lookups (``SETTLE_TOKEN_CACHE_SECONDS``; a revocation through this worker empties it at once, see
:mod:`app.services.clients`).  Which role may call which operation is declared per route with
:func:`allow`; what a role may see is decided by the ``scope`` helpers (404 outside it).

The dependencies are ``async``: a cached token and the role check cost no hop to the thread
pool; only a lookup in the database runs there.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.db.tx import one_statement_connection
from app.errors import Forbidden, Unauthorized
from app.principal import ADMIN, Principal, Role
from app.services.clients import TOKENS, cached_principal, principal_for_token
from app.settings import get_settings

bearer = HTTPBearer(auto_error=False, description="A client token, or SETTLE_ADMIN_TOKEN")


def _admin(token: str) -> Principal | None:
    admin = get_settings().admin_token
    if (
        admin is not None
        and admin.get_secret_value()
        and hmac.compare_digest(token.encode(), admin.get_secret_value().encode())
    ):
        return ADMIN
    return None


def _look_up(token: str) -> Principal | None:
    """One round trip on a connection of its own (in the thread pool)."""
    with one_statement_connection() as conn:
        return principal_for_token(conn, token)


async def authenticate(token: str) -> Principal | None:
    principal = _admin(token) or cached_principal(token)
    if principal is not None:
        return principal
    return await run_in_threadpool(_look_up, token)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send a bearer token: Authorization: Bearer <token>")
    principal = await authenticate(credentials.credentials)
    if principal is None:
        raise Unauthorized("the token is unknown or was revoked")
    request.state.principal = principal
    return principal


def forget_tokens() -> None:
    """Empty this worker's token cache (a new application: nothing it looked up carries over)."""
    TOKENS.clear()


def _allowed(principal: Principal, allowed: frozenset[str]) -> Principal:
    if principal.role not in allowed:
        raise Forbidden(f"the {principal.role} role may not call this operation")
    return principal


def allow(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the caller must hold one of ``roles`` (admin always may)."""
    allowed = frozenset({"admin", *roles})

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return _allowed(principal, allowed)

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


#: What an endpoint that authenticates by :func:`authorized` declares in the OpenAPI document
#: (``openapi_extra``): the bearer token, as a route with :func:`allow` gets it from FastAPI.
BEARER_SECURITY: dict[str, Any] = {"security": [{bearer.scheme_name: []}]}


async def authorized(request: Request, *roles: Role) -> Principal:
    """:func:`allow`'s check called by the endpoint itself, not through FastAPI's dependencies,
    for the national platform's interface: a visit is four requests where a claim is one, and
    resolving the dependencies (:func:`allow`, :func:`current_principal`, ``bearer``) costs each
    request about a tenth of a millisecond in the event loop.  Its route declares
    :data:`BEARER_SECURITY`."""
    principal = await current_principal(request, await bearer(request))
    return _allowed(principal, frozenset({"admin", *roles}))
