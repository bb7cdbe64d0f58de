"""Request body size limit (``SETTLE_MAX_BODY_BYTES``, default 8 MiB): 413 above it.

Checked on ``Content-Length`` up front and, for chunked bodies, while the body streams in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import domain_problem
from app.errors import DomainError, PayloadTooLarge

#: How an interface answers a refusal (the REST API: an RFC 9457 problem).
Answer = Callable[[DomainError, str | None], Response]


class BodyLimit:
    """``answers``: by path prefix, the interfaces that answer their refusals in another shape
    (``/fhir/R4/``: an OperationOutcome); every other path gets the problem document."""

    def __init__(self, app: ASGIApp, max_bytes: int, answers: Mapping[str, Answer] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.answers = dict(answers or {})

    def _answer(self, path: str) -> Answer:
        return next((a for prefix, a in self.answers.items() if path.startswith(prefix)), domain_problem)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"the request body exceeds the limit of {self.max_bytes} bytes")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > self.max_bytes:
                    path = scope.get("path", "")
                    await self._answer(path)(too_large, path)(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # A DomainError: the app's handler turns it into the 413 problem.
                    raise too_large
            return message

        await self.app(scope, limited_receive, send)
