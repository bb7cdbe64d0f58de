"""Where a service's field errors are in the HTTP request.

A service locates a field error in what it was given (:class:`app.errors.FieldError`): a field of
the document (``("code",)``, ``("items", 0, "amount")``), or an argument by name
(``("scheme_code",)``, ``("effective_from",)``, ``("cursor",)``).  Only the route knows which part
of the request each came from: a body's errors go under ``body`` (:func:`app.errors.errors_under`),
a query's under ``query``, and where one call takes several parts, :func:`errors_in` maps each
name to its part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from app.errors import Loc, ValidationFailed


def in_request(parts: Mapping[str, Loc], rest: Loc = ("body",)) -> Callable[[Loc], Loc]:
    """A location in the request: an error at a name of ``parts`` is at that part's location (the
    name replaced by it: ``{"scheme_code": ("path", "scheme_code")}``, ``{"csv": ("body",)}``);
    any other is under ``rest``."""

    def where(loc: Loc) -> Loc:
        head = loc[0] if loc else None
        if isinstance(head, str) and head in parts:
            return (*parts[head], *loc[1:])
        return (*rest, *loc)

    return where


@contextmanager
def errors_in(parts: Mapping[str, Loc], rest: Loc = ("body",)) -> Iterator[None]:
    """Field errors raised inside the block placed in the request by :func:`in_request`."""
    try:
        yield
    except ValidationFailed as exc:
        raise exc.relocated(in_request(parts, rest)) from exc
