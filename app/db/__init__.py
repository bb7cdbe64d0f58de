"""Persistence: table models, the money column type, engine/session, Alembic migrations."""
