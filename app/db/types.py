"""Column types that keep money exact on every database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

_CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """NUMERIC(16,2) on PostgreSQL; integer fen on SQLite.

    SQLite has no exact decimal type (NUMERIC affinity becomes REAL), so there the value is
    stored as a 64-bit count of fen, which keeps ``SUM()`` in SQL exact too.
    """

    impl = Numeric(16, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(16, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return int(Decimal(value).quantize(_CENT).scaleb(2))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2)
        return Decimal(value).quantize(_CENT)


class Ratio(TypeDecorator[Decimal]):
    """NUMERIC(8,6) on PostgreSQL; the exact decimal text on SQLite (no REAL rounding)."""

    impl = Numeric(8, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(20))
        return dialect.type_descriptor(Numeric(8, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).normalize()


class Quantity(TypeDecorator[Decimal]):
    """A signed quantity with at most 4 decimals (the national platform's ``16,4``; a refund line's
    is negative): NUMERIC(16,4) on PostgreSQL, the exact decimal text on SQLite (no REAL rounding)."""

    impl = Numeric(16, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(16, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return f"{value:f}" if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """TIMESTAMPTZ on PostgreSQL; on SQLite (which keeps no zone) values come back as UTC-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value if value is None or dialect.name != "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)
