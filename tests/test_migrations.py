"""The migrations build exactly the schema the table models describe, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import app.db.batch_tables
import app.db.receivable_tables
import app.db.tables
import app.db.visit_tables  # noqa: F401
from app.db.migrate import downgrade, upgrade


def diff(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        changes: list[object] = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    return changes


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert diff(db_url) == []


def test_downgrade_to_base_and_up_again(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    downgrade(url, "base")
    upgrade(url)
    assert diff(url) == []
