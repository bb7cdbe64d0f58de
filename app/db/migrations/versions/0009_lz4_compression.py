"""PostgreSQL: a claim's large JSON columns compressed with lz4 instead of pglz

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:40:00

A claim writes three values past PostgreSQL's 2 kB compression threshold: the bill's ``items``,
each settlement's ``detail`` and the stored answer of its ``Idempotency-Key``
(``idempotency_record.response_body``), together about 30 kB of JSON for a 40-line bill.  pglz, the
default, compressed them at a cost of about a third of the database's CPU for the claim; lz4 does
it in about a third of pglz's time, a little smaller (``docs/decisions/0013-lz4-toast-compression.md``).

Only the compression of values written from now on changes: nothing is rewritten, each value
stays readable whichever method wrote it, and the previous release reads and writes the table as
before.  A server built without lz4 keeps pglz (the migration says so and goes on).  SQLite has
no such setting: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) of the values a claim writes past the compression threshold.
COMPRESSED = (("bill", "items"), ("settlement", "detail"), ("idempotency_record", "response_body"))


def _set(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    statements = " ".join(f"ALTER TABLE {t} ALTER COLUMN {c} SET COMPRESSION {method};" for t, c in COMPRESSED)
    op.execute(
        f"DO $$ BEGIN {statements} "
        "EXCEPTION WHEN feature_not_supported THEN "
        f"RAISE NOTICE 'compression method {method} not built into this server: pglz kept'; END $$"
    )


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("default")
