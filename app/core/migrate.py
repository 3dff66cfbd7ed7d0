"""Apply Alembic migrations from code (no alembic.ini: the URL comes from Settings)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.settings import DatabaseSettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(db: DatabaseSettings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade_sync(db: DatabaseSettings, revision: str = "head") -> None:
    """Run from a thread or a non-async context (env.py starts its own loop)."""
    command.upgrade(alembic_config(db), revision)


async def upgrade(db: DatabaseSettings, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade_sync, db, revision)


async def pending(engine: AsyncEngine, db: DatabaseSettings) -> bool:
    """True when the database is behind the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    return current != head
