"""Settings per run; a fresh database per module on SQLite or PostgreSQL; no mocks of our code.

Set LADDNAT_TEST_DATABASE_URL=postgresql+asyncpg://... to run everything on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.bus import InProcessBus, RecordingSubscriber
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import AuthSettings, DatabaseSettings, OcppSettings, Settings
from ocpp_bridge.server import Bridge, create_bridge
from tests.support import PG_ENV, DatabaseFactory

TEST_SECRET = "test-secret-key-0123456789abcdef-xyz"


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(os.environ.get(PG_ENV) or None, tmp_path_factory.mktemp("db"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="module")
def database_url(databases: DatabaseFactory) -> str:
    """A migrated database of this module's own."""
    return databases.new()


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(
        db=DatabaseSettings(url=database_url),
        # Boot-time configuration is off here: the raw test chargers never answer it.
        ocpp=OcppSettings(port=0, heartbeat_interval_s=60, push_boot_config=False, validate_replies=True),
        auth=AuthSettings(secret_key=TEST_SECRET),
    )


@dataclass
class System:
    """The bridge on a free port over a real database and the in-process bus."""

    settings: Settings
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    bus: InProcessBus
    bridge: Bridge
    events: RecordingSubscriber

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge.port}/ocpp"


@pytest.fixture(scope="module")
async def system(settings: Settings) -> AsyncIterator[System]:
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    events = RecordingSubscriber(bus)
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    yield System(settings, engine, maker, bus, bridge, events)
    await bridge.close()
    await bus.close()
    await engine.dispose()
