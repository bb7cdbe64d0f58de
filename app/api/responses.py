"""Fast JSON responses (orjson), built from plain dicts."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> JSON:
    return JSON(body, status_code=status, headers=headers)
