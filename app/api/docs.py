"""``/docs`` and ``/redoc`` without a CDN: the assets come from ``fastapi-offline``'s package.

ReDoc's standalone bundle still shows a "powered by" logo fetched from the vendor's CDN; on a
private network that is a failed request (and a leak of the visit).  The bundle is therefore
served from here with that one image URL replaced by an empty inline image (whose error handler
then hides it).  ``tests/desk/test_browser.py`` checks that neither page requests anything from
outside the service.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from starlette.responses import HTMLResponse, Response

ASSETS = Path(fastapi_offline.__file__).parent / "static"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_JS = "/static-offline-docs-patched/redoc.standalone.js"


@cache
def _redoc_js() -> bytes:
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"data:,")


def install(app: FastAPI) -> None:
    """Call on an app made with ``FastAPIOffline(redoc_url=None)``."""

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=app.title + " - ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url="/static-offline-docs/favicon.png",
            with_google_fonts=False,
        )

    @app.get(REDOC_JS, include_in_schema=False)
    def redoc_js() -> Response:
        return Response(_redoc_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
