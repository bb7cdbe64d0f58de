"""The desk's error pages: under ``/desk`` every refusal and failure is a page in the clerk's
language (never the API's JSON problem), with the signed-in header (menu, sign-out) when someone
is signed in: an unknown address (404), an address that takes a posted form opened directly
(405), a malformed query (422), a refusal of the service, a failure.  Elsewhere the API's own
handlers answer, unchanged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.desk import forms, i18n
from app.desk.i18n import N_, _
from app.desk.web import PATH, CsrfRefused, Desk, PageError, current_desk, lang_of, render
from app.errors import DomainError

log = logging.getLogger("app.desk")
Handler = Callable[[Request, Exception], Awaitable[Response]]

TITLES = {
    400: N_("Not accepted"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not a page to open"),
    409: N_("Not possible now"),
    422: N_("Not accepted"),
    500: N_("Something went wrong"),
    503: N_("The service is busy"),
}
MESSAGES = {
    404: N_("There is no such page on the desk."),
    405: N_("This address takes a form sent from a page of the desk; it cannot be opened by itself."),
    422: N_("The address holds a value the desk does not accept."),
    500: N_("The desk could not finish this request; nothing was written. Try again, or tell the administrator."),
    503: N_("The database cannot be reached just now; nothing was written. Try again in a moment."),
}


def on_desk(request: Request) -> bool:
    path = request.url.path
    return path == PATH or path.startswith(PATH + "/")


async def person(request: Request) -> Desk | None:
    """The signed-in person, for the header; None when no one is (or it cannot be told)."""
    known = getattr(request.state, "desk", None)
    if isinstance(known, Desk):
        return known
    try:
        return await run_in_threadpool(current_desk, request)
    except Exception:  # an error page never fails for want of its header
        return None


async def page(
    request: Request,
    status: int,
    message: str,
    details: list[str] | None = None,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    i18n.set_lang(lang_of(request))
    desk = await person(request)
    context: dict[str, Any] = {
        "title": title or _(TITLES.get(status, N_("Refused"))),
        "message": message,
        "details": details or [],
    }
    return render(request, "error.html", context, status=status, desk=desk, headers=headers)


def install(app: FastAPI) -> None:
    """Desk pages for the desk's paths; the API's handlers (installed before) for the rest."""
    api: dict[Any, Handler] = dict(app.exception_handlers)

    def desk_or_api(kind: type[Exception], on_desk_page: Handler) -> None:
        fallback = api.get(kind)

        async def handle(request: Request, exc: Exception) -> Response:
            if on_desk(request) or fallback is None:
                return await on_desk_page(request, exc)
            return await fallback(request, exc)

        app.add_exception_handler(kind, handle)

    async def on_page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return await page(request, exc.status, exc.message, exc.details)

    async def on_csrf(request: Request, exc: Exception) -> Response:
        i18n.set_lang(lang_of(request))
        return await page(
            request,
            403,
            _("The form was not sent from this desk, or it has expired. Nothing was done; open the page again."),
            title=_("This form cannot be accepted"),
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        i18n.set_lang(lang_of(request))
        headers = None
        if exc.status_code == 405:
            allowed = await api[StarletteHTTPException](request, exc)
            headers = {"Allow": allowed.headers.get("Allow", "")}
        message = _(MESSAGES.get(exc.status_code, N_("The request was refused.")))
        return await page(request, exc.status_code, message, headers=headers)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        i18n.set_lang(lang_of(request))
        return await page(request, 422, _(MESSAGES[422]))

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        i18n.set_lang(lang_of(request))
        refusal = forms.translate(exc)
        retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return await page(request, exc.status, refusal.title, refusal.details, headers=retry)

    def failure(kind: Any) -> Handler:
        async def on_failure(request: Request, exc: Exception) -> Response:
            # The API's handler logs the failure as for any request, and decides its status.
            answered = await api[kind](request, exc)
            i18n.set_lang(lang_of(request))
            status = answered.status_code
            return await page(request, status, _(MESSAGES.get(status, MESSAGES[500])))

        return on_failure

    app.add_exception_handler(PageError, on_page_error)
    app.add_exception_handler(CsrfRefused, on_csrf)
    desk_or_api(StarletteHTTPException, on_http)
    desk_or_api(RequestValidationError, on_invalid)
    desk_or_api(DomainError, on_domain)
    # The rest (database errors, anything unexpected): the API's handler logs it and decides
    # the status; the desk shows a page of it.
    for kind in api:
        if kind not in (StarletteHTTPException, RequestValidationError, DomainError):
            desk_or_api(kind, failure(kind))
