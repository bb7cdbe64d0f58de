"""The one clock: every time the service records (created, updated, reversed, revoked, audited)
is read here, timezone-aware in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
