"""Administration: clients and the audit trail (admin only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from app.api import queries
from app.api.audited import audited_write
from app.api.auth import allow
from app.api.links import example, link, sample, with_links
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session
from app.errors import errors_under
from app.principal import Principal
from app.schemas.clients import (
    AuditPage,
    ClientCreate,
    ClientCreated,
    ClientPublic,
    audit_record_public,
    client_created_public,
    client_public,
)
from app.schemas.common import NO_NUL
from app.schemas.hospitals import page_public
from app.schemas.users import UserCreate, UserPublic, user_public
from app.services import audit, clients, users
from app.services.idempotency import Reply

router = APIRouter(prefix="/v1", tags=["administration"])
Admin = Annotated[Principal, Depends(allow())]


@router.post(
    "/clients",
    operation_id="createClient",
    summary="Create a client; its token is shown once",
    status_code=201,
    response_model=ClientCreated,
    responses={
        201: with_links(
            {"description": "Created; the token is shown this once"},
            {
                "RevokeClient": link("revokeClient", "Revoke it.", client_id="$response.body#/client_id"),
                "QueryAudit": link("queryAudit", "What it did.", client_id="$response.body#/client_id"),
            },
        ),
        **problem_responses(400, 401, 403, 413, 422, 503),
    },
)
def create_client(
    request: Request,
    body: Annotated[
        ClientCreate,
        Body(
            openapi_examples=example(
                "The scheme office of the sample's first scheme",
                {
                    "name": "Linshui NRCMS office",
                    "role": "scheme_office",
                    "scheme_code": sample("schemes.json")[0]["code"],
                },
            )
        ),
    ],
    principal: Admin,
) -> JSON:
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "create_client",
            lambda w: clients.create(w.session, body=body),
            lambda new: Reply(201, client_created_public(new.row, new.token)),
        )


@router.get(
    "/clients",
    operation_id="listClients",
    summary="List clients (without tokens)",
    response_model=list[ClientPublic],
    responses=problem_responses(401, 403),
)
def list_clients(principal: Admin) -> JSON:
    with read_session() as s:
        return reply(200, [client_public(r) for r in clients.list_all(s)])


@router.delete(
    "/clients/{client_id}",
    operation_id="revokeClient",
    summary="Revoke a client: its token stops working at once",
    response_model=ClientPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
)
def revoke_client(
    request: Request, client_id: Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)], principal: Admin
) -> JSON:
    return audited_write(
        request,
        principal,
        "revoke_client",
        lambda w: clients.revoke(w.session, client_id=client_id),
        lambda row: Reply(200, client_public(row)),
    )


@router.post(
    "/users",
    operation_id="createUser",
    summary="Create a person who signs in to the desk (/desk), with a role like a client's",
    status_code=201,
    response_model=UserPublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
)
def create_user(request: Request, body: UserCreate, principal: Admin) -> JSON:
    """The password (at least 12 characters) is stored only as an argon2id hash.  A person acts
    with the same scope as a client of the same role; the audit trail names them
    `user:<username>`."""
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "create_user",
            lambda w: users.create(w.session, body=body),
            lambda row: Reply(201, user_public(row)),
        )


@router.get(
    "/audit",
    operation_id="queryAudit",
    summary="Audit records, newest first, with filters",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 422),
)
def query_audit(
    principal: Admin,
    client_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    operation: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    object_id: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    outcome: Literal["ok", "refused", "error"] | None = None,
    since: Annotated[queries.Instant | None, Query(description="At or after (RFC 3339, or a date).")] = None,
    until: Annotated[queries.Instant | None, Query(description="Before (RFC 3339, or a date).")] = None,
    # Record ids are INTEGER on PostgreSQL: a larger cursor failed there with a 500.
    cursor: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
) -> JSON:
    with read_session() as s:
        page = audit.query(
            s,
            client_id=client_id,
            operation=operation,
            object_id=object_id,
            outcome=outcome,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
        return reply(200, page_public(page.rows, page.next_cursor, audit_record_public))
