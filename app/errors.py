"""Domain errors.

Every refusal the service can give is one of these classes.  Each carries its RFC 9457
problem ``type`` suffix, a human title and the HTTP status; ``app.api.problems`` turns
them into ``application/problem+json`` responses in one place.  Nothing here imports
FastAPI, so the pure engine can raise them too.

Messages never contain a raw resident ID number (use ``app.privacy.mask_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_BASE = "https://settle.example/problems/"

#: Where a field error is: a path of keys and list indexes, as in FastAPI.
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One failed check: where (``loc``) and what (``msg``).

    A layer locates an error relative to what it was given (a bill's errors from the bill:
    ``("items", 0, "amount")``; a settlement's from its request: ``("scheme_code",)``), and
    whoever knows the enclosing request prefixes it (:meth:`ValidationFailed.under`): a claim puts
    its bill's errors under ``("bill",)``, the API every body's under ``("body",)``.
    """

    loc: Loc
    msg: str

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg}


class DomainError(Exception):
    """Base of every expected refusal."""

    problem: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400
    #: Seconds for the ``Retry-After`` header (503s), or None.
    retry_after: ClassVar[int | None] = None

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)


class ValidationFailed(DomainError):
    problem = "validation"
    title = "The request is not valid"
    status = 422

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        errors = tuple(errors)
        #: The detail as given, or None when it lists the errors (and follows them when relocated).
        self.given_detail = detail
        if detail is None:
            detail = "; ".join(f"{'.'.join(str(p) for p in e.loc)}: {e.msg}" for e in errors[:5])
            if len(errors) > 5:
                detail += f"; and {len(errors) - 5} more"
        super().__init__(detail, errors=errors)

    def relocated(self, where: Callable[[Loc], Loc]) -> ValidationFailed:
        """The same refusal with each error's location mapped by ``where``."""
        return ValidationFailed([FieldError(where(e.loc), e.msg) for e in self.errors], self.given_detail)

    def under(self, *prefix: str | int) -> ValidationFailed:
        """The same refusal with every location under ``prefix`` (the enclosing request's field)."""
        return self.relocated(lambda loc: (*prefix, *loc))


@contextmanager
def errors_under(*prefix: str | int) -> Iterator[None]:
    """Field errors raised inside the block are located under ``prefix`` (see :class:`FieldError`)."""
    try:
        yield
    except ValidationFailed as exc:
        raise exc.under(*prefix) from exc


class NotEnrolled(DomainError):
    problem = "not-enrolled"
    title = "The patient is not enrolled in this scheme"
    status = 422


class NoPolicy(DomainError):
    problem = "no-policy"
    title = "The scheme has no policy for this year"
    status = 422


class NotCovered(DomainError):
    problem = "not-covered"
    title = "The scheme's policy does not cover this care setting"
    status = 422


class NoCatalog(DomainError):
    problem = "no-catalog"
    title = "No catalog version of the scheme is in effect on a service date"
    status = 422


class BasicNotSettled(DomainError):
    """A tier needs an active settlement of its basic scheme, paid by the fund (v2.3)."""

    problem = "basic-not-settled"
    title = "The basic scheme this tier supplements has not settled the bill"
    status = 422


class WorkInjuryRefused(DomainError):
    """Medical insurance does not pay for a determined work injury (v2.4)."""

    problem = "work-injury"
    title = "The bill treats a work injury, which this scheme does not pay"
    status = 422


class NotWorkInjury(DomainError):
    """An injury scheme settles only bills of a determined work injury (v2.4)."""

    problem = "not-work-injury"
    title = "The bill does not treat a determined work injury"
    status = 422


class Conflict(DomainError):
    problem = "conflict"
    title = "The request conflicts with the current state"
    status = 409


class InProgress(Conflict):
    """A request with the same idempotency key is still being processed."""

    title = "A request with this Idempotency-Key is in progress"


class IdempotencyMismatch(DomainError):
    problem = "idempotency-mismatch"
    title = "The Idempotency-Key was used with a different request"
    status = 422


class NotFound(DomainError):
    problem = "not-found"
    title = "Not found"
    status = 404


class Unauthorized(DomainError):
    problem = "unauthorized"
    title = "Authentication required"
    status = 401


class Forbidden(DomainError):
    problem = "forbidden"
    title = "This role may not call this operation"
    status = 403


class PayloadTooLarge(DomainError):
    problem = "payload-too-large"
    title = "The request body is too large"
    status = 413


class MalformedRequest(DomainError):
    problem = "malformed"
    title = "The request body is not valid JSON"
    status = 400


class Busy(DomainError):
    """The database stayed contended past the retry bound; safe to retry later."""

    problem = "busy"
    title = "The service is busy; retry the request"
    status = 503
    retry_after = 1


class Unavailable(DomainError):
    """The database is unreachable (down, restarting, connection lost); nothing was written."""

    problem = "unavailable"
    title = "The database is unavailable; retry the request"
    status = 503
    retry_after = 2

    def __init__(self, log_fields: dict[str, Any], detail: str) -> None:
        super().__init__(detail)
        #: What the one log line of this failure says (event, operation, reason, phase, error).
        self.log_fields = log_fields


class OutcomeUnknown(Unavailable):
    """The connection was lost while the transaction was committing: it may or may not have
    been committed.  Resending with the same Idempotency-Key replays the outcome if it was,
    and carries the request out once if it was not."""

    title = "The database connection was lost while committing; resend with the same Idempotency-Key"


class UnknownHospital(DomainError):
    problem = "unknown-hospital"
    title = "The hospital is not in the designated-hospital registry"
    status = 422


class NotDesignated(DomainError):
    problem = "not-designated"
    title = "The hospital was not designated on the admission date"
    status = 422


class UnknownRoute(DomainError):
    """No route of the national platform's interface for a visit's insuring region and insurance
    type (``nhsa.md``, "Routes")."""

    problem = "unknown-route"
    title = "No route says which schemes settle this insuring region and insurance type"
    status = 422
