"""Per process: which schemes' reference rows (the policy and catalog versions) were last found
all used, by database and scheme code.

A hint only, written by every read of the references (:func:`app.ledger.references.read_references`)
and read by the claim's mark-ahead (:mod:`app.ledger.mark_ahead`), which has nothing to do (and
costs no statement) for a scheme found used.  A version published since is found unused by the
settlement's own read, which locks it there as before and resets the hint.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import URL

_found_used: dict[tuple[URL, str], bool] = {}


def found(url: URL, scheme_code: str, *, used: bool) -> None:
    _found_used[(url, scheme_code)] = used


def known_used(url: URL, scheme_codes: Iterable[str]) -> bool:
    """Whether this process last found the reference rows of all these schemes used."""
    return all(_found_used.get((url, code), False) for code in scheme_codes)


def forget() -> None:
    """As a fresh process: nothing known used (a test of the mark-ahead)."""
    _found_used.clear()
