"""The test databases' helpers: empty every table, point the app at a database."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, inspect, text

from app.db.session import reset_engine
from app.settings import get_settings

#: The admin token of the test runs (``tests/conftest.py`` sets it before the app is imported).
ADMIN_TOKEN = os.environ.setdefault("SETTLE_ADMIN_TOKEN", "test-admin-token")

TABLES_IN_DELETE_ORDER = (
    "user_session",
    "app_user",
    "audit_record",
    "client",
    "idempotency_record",
    "external_payment",
    "reversal",
    "settlement",
    "year_total",
    "bill",
    "member",
    "policy",
    "catalog_entry",
    "catalog_version",
    "scheme",
)


def _extra_tables(url: str) -> list[str]:
    """Tables added by later migrations, emptied too (everything but alembic_version)."""
    engine = create_engine(url)
    names = [n for n in inspect(engine).get_table_names() if n != "alembic_version" and n not in TABLES_IN_DELETE_ORDER]
    engine.dispose()
    return names


def truncate(url: str) -> None:
    engine = create_engine(url)
    tables = [*_extra_tables(url), *TABLES_IN_DELETE_ORDER]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
    engine.dispose()


def use_database(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
