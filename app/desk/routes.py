"""The desk's pages (``/desk``), assembled: each module below holds one job's routes, and
``install`` mounts them with the static files and the desk's error pages.

Each route reads or writes through the service layer, in the same transactions and with the same
scope rules as the API; a person's principal is set on the request, so the audit trail
(``app.api.observe``) records every desk request under them.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from app.desk import bill_pages, i18n, reports, search, settle_pages, signin
from app.desk.i18n import N_, _
from app.desk.web import (
    HERE,
    PATH,
    CsrfRefused,
    PageError,
    SignInRequired,
    lang_of,
    redirect,
    render,
    safe_next,
)


async def _use_lang(request: Request) -> None:
    """The clerk's language for everything this request says (set in the request's own task,
    so the handler and the threads it starts inherit it)."""
    i18n.set_lang(lang_of(request))


router = APIRouter(prefix=PATH, include_in_schema=False, dependencies=[Depends(_use_lang)])
# In this order (a request goes to the first route that matches it).
router.include_router(signin.router)
router.include_router(search.router)
router.include_router(bill_pages.router)
router.include_router(settle_pages.router)
router.include_router(reports.router)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(PATH + "/static", StaticFiles(directory=HERE / "static"), name="desk-static")

    @app.get(PATH, include_in_schema=False)
    def desk_root() -> Response:
        return redirect(PATH + "/")

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        from urllib.parse import quote

        return redirect(f"{PATH}/sign-in?next={quote(safe_next(exc.next_path), safe='/')}")

    async def on_csrf(request: Request, exc: Exception) -> Response:
        await _use_lang(request)
        return render(
            request,
            "error.html",
            {
                "title": _("This form cannot be accepted"),
                "message": _(
                    "The form was not sent from this desk, or it has expired. Nothing was done; open the page again."
                ),
                "details": [],
            },
            status=403,
        )

    async def on_page_error(request: Request, exc: Exception) -> Response:
        await _use_lang(request)
        assert isinstance(exc, PageError)
        titles = {404: N_("Not found"), 403: N_("Not allowed"), 409: N_("Not possible now")}
        return render(
            request,
            "error.html",
            {"title": _(titles.get(exc.status, N_("Refused"))), "message": exc.message, "details": exc.details},
            status=exc.status,
        )

    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CsrfRefused, on_csrf)
    app.add_exception_handler(PageError, on_page_error)
