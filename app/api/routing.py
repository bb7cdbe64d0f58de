"""The API's routes: request bodies parsed with orjson.

FastAPI parses a JSON body with the standard library's ``json.loads`` (``Request.json``); orjson
parses a claim's 40-line bill several times faster (2 % of a claim's CPU, bench/RESULTS.md).  Where
the two differ the standard library reads the body: what orjson refuses (``NaN``, ``Infinity``) and
a body with 19 digits in a row somewhere (orjson reads an integer beyond 64 bits as a float, the
standard library exactly).  So every body is read exactly as before, and malformed JSON is refused
exactly as before (FastAPI's ``json_invalid``, a 400 ``malformed`` problem: :mod:`app.api.problems`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

#: 19 digits: the shortest integer literal that may not fit in 64 bits.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json(body: bytes) -> Any:
    """``json.loads(body)``, the same value or the same ``JSONDecodeError``, mostly by orjson."""
    if _LONG_DIGITS.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # NaN or Infinity, or not JSON: the standard library says which
    return json.loads(body)


class JSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """An ``APIRoute`` whose handler reads the body as :class:`JSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive, request._send))

        return route_handler
