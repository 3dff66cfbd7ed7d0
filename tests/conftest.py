"""Settings per run; a fresh database per module on SQLite or PostgreSQL; no mocks of our code.

Set LADDNAT_TEST_DATABASE_URL=postgresql+asyncpg://... to run everything on PostgreSQL.
Under pytest-xdist every worker has its own databases, and a module runs on one worker
(``--dist loadfile``), so module-scoped fixtures stay per module.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.bus import InProcessBus, RecordingSubscriber
from app.core.database import create_engine, create_sessionmaker
from app.core.security import configure_password_hashing
from app.core.settings import DatabaseSettings, OcppSettings, Settings
from app.core.tasks import stop_the_rest
from ocpp_bridge.server import Bridge, create_bridge
from tests.support import LOW_HASH_COST_ENV, PG_ENV, DatabaseFactory

pytest_plugins = ["tests.hang_dump"]

TEST_SECRET = "test-secret-key-0123456789abcdef-xyz"
# Read like `laddnat` reads its own, so the low costs are checked like any setting.
TEST_AUTH = Settings.from_env({"LADDNAT_SECRET_KEY": TEST_SECRET, **LOW_HASH_COST_ENV}).auth

# The slow groups, deselected by `make test-fast` (-m "not (browser or subprocess or bench)"):
# `subprocess` and `bench` are set by the modules themselves (pytestmark), `browser` here.
# Tests that drive Chromium through Playwright: they need Debian's Chromium
# (tests/e2e/checkout/conftest.py; not "browser", a Stripe.js stand-in has that name too).
CHROMIUM_FIXTURE = "chromium_path"
SLOW_FIRST = ("bench", "subprocess", "browser")  # the order the slow groups are handed out in


def pytest_configure(config: pytest.Config) -> None:
    # Every password this process hashes, and every `laddnat` child it starts (they inherit
    # the environment), at the lowest argon2 cost: what the tests check does not depend on it.
    os.environ.update(LOW_HASH_COST_ENV)
    configure_password_hashing(TEST_AUTH)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow groups, then put the modules most likely to take longest first (the
    slow groups, then the modules with most tests): xdist hands out whole modules in this
    order (``--no-loadscope-reorder``), so no long module starts last and runs alone."""
    for item in items:
        if CHROMIUM_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    tests_in: Counter[Path] = Counter(item.path for item in items)
    slow_groups: dict[Path, int] = {}
    for item in items:
        group = next((rank for rank, name in enumerate(SLOW_FIRST) if item.get_closest_marker(name)), len(SLOW_FIRST))
        slow_groups[item.path] = min(group, slow_groups.get(item.path, group))
    first_seen = {path: index for index, path in reversed(list(enumerate(item.path for item in items)))}
    items.sort(key=lambda item: (slow_groups[item.path], -tests_in[item.path], first_seen[item.path]))


@pytest.fixture(scope="module", autouse=True)
async def no_task_left() -> AsyncIterator[None]:
    """After the module's other fixtures: stop whatever task they left in the module's event
    loop, as ``laddnat`` does on its way out (``then_stop_the_rest``). pytest-asyncio cancels
    leftovers only once and waits without end, and a SQLite connection closed by a cancel
    (aiosqlite 0.22) needs a second one: that hung a worker until pytest-timeout killed it."""
    yield
    await stop_the_rest()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ... under pytest-xdist
    factory = DatabaseFactory(os.environ.get(PG_ENV) or None, tmp_path_factory.mktemp("db"), worker)
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
        auth=TEST_AUTH,
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
