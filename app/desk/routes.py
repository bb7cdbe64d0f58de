"""The desk's pages (``/desk``), assembled: each module below holds one job's routes, and
``install`` mounts them with the static files, ``/favicon.ico`` and the desk's error pages
(:mod:`app.desk.errors`).

Each route reads or writes through the service layer, in the same transactions and with the same
scope rules as the API; a person's principal is set on the request, so the audit trail
(``app.api.observe``) records every desk request under them.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.desk import accounts, batch, bill_pages, errors, i18n, receivable_pages, reports, search, settle_pages, signin
from app.desk.web import HERE, PATH, SignInRequired, lang_of, redirect, safe_next


async def _use_lang(request: Request) -> None:
    """The clerk's language for everything this request says (set in the request's own task,
    so the handler and the threads it starts inherit it)."""
    i18n.set_lang(lang_of(request))


#: The service's icon, at the address every browser asks for it; a day in the browser's cache.
ICON_HEADERS = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(prefix=PATH, include_in_schema=False, dependencies=[Depends(_use_lang)])
# In this order (a request goes to the first route that matches it).
router.include_router(signin.router)
router.include_router(search.router)
router.include_router(bill_pages.router)
router.include_router(settle_pages.router)
router.include_router(reports.router)
router.include_router(receivable_pages.router)
router.include_router(batch.router)
router.include_router(accounts.router)


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

    errors.install(app)  # first: it wraps the API's handlers, not the desk's own
    app.add_exception_handler(SignInRequired, on_sign_in_required)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(HERE / "static" / "favicon.ico", media_type="image/x-icon", headers=ICON_HEADERS)
