"""The application's statements while a block runs, one list per transaction: what the tests of
a path's cost count (the same ``before_cursor_execute`` events the bench's probe counts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def transactions() -> Iterator[list[list[str]]]:
    """The app's statements while in the block, one list per transaction (autocommit ones alone)."""
    from app.db.session import get_engine

    engine = get_engine()
    seen: list[list[str]] = []
    current: list[str] | None = None

    def on_begin(_conn: Any) -> None:
        nonlocal current
        current = []
        seen.append(current)

    def on_statement(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if current is None:  # an autocommit statement: a transaction of its own
            seen.append([" ".join(statement.split())])
        else:
            current.append(" ".join(statement.split()))

    def on_end(_conn: Any) -> None:
        nonlocal current
        current = None

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_end)
        event.remove(engine, "rollback", on_end)
