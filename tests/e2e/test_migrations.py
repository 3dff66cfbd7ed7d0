"""The migrations build exactly the schema the models describe (on this run's database)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from app.core.database import Base, create_engine
from app.core.settings import DatabaseSettings

import app.models  # noqa: F401  isort: skip


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == [], "the models changed without a migration: write one with alembic revision --autogenerate"
