"""The operator console's stack: the API and the bridge on free ports, SQLite, the in-process
bus, a seeded world of two tenants, a clock the tests move by hand, and Debian's Chromium
driven by Playwright (one browser per module; a fresh context per test).

The world: tenant "Norrsken" (party NRS) with a user of each role, two locations with
coordinates and a charger at each; tenant "Other" (party OTH) with its own admin, location
and charger (it must never show up in Norrsken's console); and a driver account.

Helpers: ``sign_in(page, role)``, ``assert_accessible(page)`` (axe-core in the page, any
WCAG 2.1 A/AA violation fails) and ``screenshot(page, name)`` (docs/console/<name>.png, only
with LADDNAT_CONSOLE_SCREENSHOTS=1: ``make screenshots``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import ConsoleSettings, HttpSettings, Settings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.models import Operator
from app.runner import _EmbeddedServer
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import Bridge, create_bridge
from tests.e2e.chromium import browser, chromium_path  # noqa: F401 (fixtures)
from tests.e2e.ocpp_helpers import PASSWORD as CHARGER_PASSWORD
from tests.e2e.test_restart import free_port

EXPECT_TIMEOUT_MS = 15_000
SCREENSHOTS = os.environ.get("LADDNAT_CONSOLE_SCREENSHOTS") == "1"
SCREENSHOT_DIR = Path(__file__).resolve().parents[3] / "docs" / "console"
AXE = Path(__file__).parent / "axe" / "axe.min.js"
PASSWORD = "console-password-01"
ROLES = ("admin", "operations", "finance", "read_only")
DRIVER_EMAIL = "driver@console.example"
OTHER_ADMIN = "admin@other.example"


def email_of(role: str) -> str:
    return f"{role.replace('_', '-')}@norrsken.example"


@dataclass
class Clock:
    """Real time until a test moves it on (``advance``); ``reset`` goes back to real time."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta()


@dataclass
class Charger:
    identity: str
    location: str
    evse_pk: uuid.UUID


@dataclass
class World:
    tenant_id: uuid.UUID
    tenant_name: str
    other_tenant_id: uuid.UUID
    chargers: list[Charger]  # Norrsken's
    other_charger: Charger


@dataclass
class Stack:
    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    bus: InProcessBus
    bridge: Bridge
    port: int
    clock: Clock
    world: World

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def charger(self, charger: Charger) -> SimulatedCharger:
        """A simulated 1.6 charger for ``charger``, booted and Available (in the database)."""
        sim = SimulatedCharger(
            SimConfig(
                url=f"ws://127.0.0.1:{self.bridge.port}/ocpp",
                identity=charger.identity,
                password=CHARGER_PASSWORD,
                version="1.6",
                auto_heartbeat=False,
            )
        )
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        async with asyncio.timeout(10):
            while True:
                async with self.maker() as db:
                    status = await db.scalar(select(Connector.status).where(Connector.evse_pk == charger.evse_pk))
                if status == "Available":
                    return sim
                await asyncio.sleep(0.05)


async def _seed(maker: async_sessionmaker[AsyncSession], bus: InProcessBus) -> World:
    async with maker() as db:
        norrsken = Operator(name="Norrsken Laddning", country_code="SE", party_id="NRS")
        other = Operator(name="Other Charging", country_code="SE", party_id="OTH")
        db.add_all([norrsken, other])
        await db.flush()
        places = [
            Location(
                operator_id=norrsken.id,
                name="Hamngatan garage",
                address="Hamngatan 1",
                city="Stockholm",
                latitude=59.3326,
                longitude=18.0649,
            ),
            Location(
                operator_id=norrsken.id,
                name="Kungsportsavenyn",
                address="Avenyn 10",
                city="Göteborg",
                latitude=57.6995,
                longitude=11.9750,
            ),
            Location(
                operator_id=other.id,
                name="Other depot",
                address="Elsewhere 2",
                city="Malmö",
                latitude=55.6050,
                longitude=13.0038,
            ),
        ]
        db.add_all(places)
        await db.commit()
        users = UserService(db)
        for role in ROLES:
            await users.create_user(email_of(role), PASSWORD, role, operator_id=norrsken.id)
        await users.create_user(OTHER_ADMIN, PASSWORD, "admin", operator_id=other.id)
        await users.create_user(DRIVER_EMAIL, PASSWORD, "driver")
        chargers: list[Charger] = []
        for n, place in enumerate(places):
            identity = f"{'NRS' if place.operator_id == norrsken.id else 'OTH'}-{n + 1:03d}-{uuid.uuid4().hex[:4]}"
            cp = await ChargerService(db, bus).register(identity, CHARGER_PASSWORD, location_id=place.id, evse_count=1)
            cp_row = await db.get(ChargePoint, cp.id)
            assert cp_row is not None
            cp_row.vendor, cp_row.model = "Zaptec", f"Pro {n + 1}"
            await db.commit()
            evse = await db.scalar(select(Evse).where(Evse.charge_point_id == cp.id))
            assert evse is not None
            chargers.append(Charger(identity, place.name, evse.id))
        return World(norrsken.id, norrsken.name, other.id, chargers[:2], chargers[2])


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        # No tile server in the tests: the map is the plain coordinate plot.
        console=ConsoleSettings(tile_url=""),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    world = await _seed(maker, bus)
    app = create_app(settings, engine=engine, bus=bus)
    clock = Clock()
    app.state.clock = clock
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield Stack(settings, maker, bus, bridge, port, clock, world)
    server.should_exit = True
    await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """A loaded CI machine (two cores, several test workers) can take longer than
    Playwright's 5 s for a page to answer: what the assertions wait for does happen, later.
    (``expect``'s options are global: set for these tests only.)"""
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
async def context(browser: Browser, stack: Stack) -> AsyncIterator[BrowserContext]:  # noqa: F811
    """A fresh browser profile (no cookies) per test, English unless the test says otherwise."""
    stack.clock.reset()
    ctx = await browser.new_context(base_url=stack.base_url, locale="en-GB", viewport={"width": 1280, "height": 900})
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def sign_in(page: Page, role: str, *, email: str | None = None, password: str = PASSWORD) -> None:
    """Sign in through the form as the Norrsken user with ``role`` and land on the overview."""
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(email or email_of(role))
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console")


async def assert_accessible(page: Page) -> None:
    """axe-core in the page: any WCAG 2.1 A or AA violation fails, listed with its nodes."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated by the DevTools protocol, which the page's CSP (script-src 'self') allows;
        # a <script> tag would not be, and the CSP is what the tests should see.
        await page.evaluate(f"() => {{ {AXE.read_text()}\n; window.axe = axe; }}")
    result: dict[str, Any] = await page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    violations = [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]
    ]
    assert not violations, f"{page.url}: {json.dumps(violations, indent=1)}"


async def screenshot(page: Page, name: str, *, phone: bool = False) -> None:
    """docs/console/<name>.png, only when LADDNAT_CONSOLE_SCREENSHOTS=1 (``make screenshots``);
    ``phone``: at a phone's width (390 px), then back to the desktop size."""
    if not SCREENSHOTS:
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    desktop = page.viewport_size
    if phone:
        await page.set_viewport_size({"width": 390, "height": 844})
    try:
        await page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True, animations="disabled")
    finally:
        if phone and desktop is not None:
            await page.set_viewport_size(desktop)
