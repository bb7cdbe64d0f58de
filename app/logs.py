"""Structured logs: JSON, one line per request, with the request id; ID numbers masked."""

from __future__ import annotations

import logging
import sys
from typing import Any

from asgi_correlation_id import correlation_id
from pythonjsonlogger.json import JsonFormatter

from app.privacy import mask_ids_in
from app.settings import Settings


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines in which any 18-character resident ID is masked, wherever it appears."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_ids_in(super().format(record))


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the X-Request-ID of the request being served, or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = correlation_id.get() or "-"
        return True


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_ids_in(super().format(record))


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_json:
        handler.setFormatter(
            MaskingJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_settle", False):
            root.removeHandler(old)
    handler._settle = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    return handler
