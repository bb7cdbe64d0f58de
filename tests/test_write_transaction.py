"""``app.db.tx.write_transaction`` begins as each database needs: on SQLite a write takes the
database's write lock at its ``BEGIN`` (``IMMEDIATE``: a writer never finds, halfway through, that
another took the lock after its reads), while a read transaction does not; on PostgreSQL a plain
``BEGIN``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from app.db.session import get_engine
from app.db.tx import read_session, write_transaction
from app.db.unit_of_work import UnitOfWork


def test_a_write_begins_with_the_write_lock_on_sqlite_and_a_read_does_not(db_url: str) -> None:
    engine = get_engine()
    begun: list[str] = []

    def on_statement(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        assert write_transaction(lambda w: w.connection.execute(text("SELECT 1")).scalar(), operation="t") == 1
        writes = list(begun)
        begun.clear()
        with read_session() as session:
            assert session.execute(text("SELECT 2")).scalar() == 2
        reads = list(begun)
        begun.clear()
        write_transaction(lambda w: w.connection.execute(text("SELECT 3")), operation="t")
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    if engine.dialect.name == "sqlite":
        assert writes == ["BEGIN IMMEDIATE"]
        assert reads == ["BEGIN DEFERRED"]  # the write's option stayed with its connection
        assert begun == ["BEGIN IMMEDIATE"]
    else:
        assert writes == reads == begun == []  # psycopg begins by itself, not as a statement


def test_the_unit_of_work_gets_the_transactions_connection(db_url: str) -> None:
    seen: list[UnitOfWork] = []
    write_transaction(seen.append, operation="t")
    assert seen and seen[0].connection.closed
