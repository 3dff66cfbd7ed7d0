"""A full stack for the checkout: bridge, API server, localstripe behind the browser-ready
Stripe proxy, the fake Adyen, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Page
from sqlalchemy import select

from app.chargers.models import Connector, Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import AdyenSettings, HttpSettings, PaymentSettings, Settings, StripeSettings
from app.main import create_app
from app.operators.models import Operator
from app.runner import _EmbeddedServer
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from devtools.fakes.adyen.server import AdyenFake
from devtools.fakes.stripe.browser import BrowserStripeProxy, running_browser_proxy
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import Bridge, create_bridge
from payments.models import Payment
from tests.e2e.chromium import browser, chromium_path  # noqa: F401 (fixtures)
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_settings  # noqa: F401 (fixtures)
from tests.e2e.payments.conftest import (
    STRIPE_PUBLISHABLE_KEY,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    localstripe_url,  # noqa: F401 (fixture)
)
from tests.e2e.test_restart import free_port

# 3.00 SEK/kWh + 0.10 SEK/min + 5 SEK per session, idle 1 SEK/min after 30 min, incl. 25 % VAT; 300 SEK held.
TERMS = TariffTerms(
    id=None,
    name="Standard",
    currency="SEK",
    price_per_kwh_minor=300,
    price_per_minute_minor=10,
    session_fee_minor=500,
    idle_fee_per_minute_minor=100,
    idle_grace_minutes=30,
    vat_rate_bp=2500,
    min_price_minor=None,
    max_price_minor=None,
    hold_amount_minor=30_000,
    time_zone="Europe/Stockholm",
    bands=(),
)


@dataclass
class Site:
    identity: str
    evse_pk: uuid.UUID
    evse_id: str  # eMI3


@dataclass
class Stack:
    settings: Settings
    maker: Any
    bus: InProcessBus
    bridge: Bridge
    port: int
    proxy: BrowserStripeProxy

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def site(self, party: str = "CHK", *, terms: TariffTerms = TERMS) -> Site:
        identity = f"CHK-{uuid.uuid4().hex[:8]}"
        async with self.maker() as db:
            operator = await db.scalar(select(Operator).where(Operator.party_id == party))
            if operator is None:
                operator = Operator(name=f"Laddnät {party}", country_code="SE", party_id=party)
                db.add(operator)
                await db.flush()
            location = Location(
                operator_id=operator.id,
                name="Hamngatan garage",
                address="Hamngatan 1",
                city="Stockholm",
                time_zone="Europe/Stockholm",
            )
            db.add(location)
            await db.commit()
            cp = await ChargerService(db, self.bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
            evse = await db.scalar(select(Evse).where(Evse.charge_point_id == cp.id))
            assert evse is not None
            tariffs = TariffService(db, self.bus)
            tariff = await tariffs.create(terms, operator_id=operator.id)
            await tariffs.assign("location", location.id, tariff.id)
            return Site(identity, evse.id, evse.evse_id)

    async def charger(self, site: Site, *, power_kw: float = 11.0) -> SimulatedCharger:
        sim = SimulatedCharger(
            SimConfig(
                url=f"ws://127.0.0.1:{self.bridge.port}/ocpp",
                identity=site.identity,
                password=PASSWORD,
                version="1.6",
                power_kw=power_kw,
                auto_heartbeat=False,
            )
        )
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        # Status reports are written in small batches: wait until the page would see it.
        async with asyncio.timeout(10):
            while True:
                async with self.maker() as db:
                    status = await db.scalar(select(Connector.status).where(Connector.evse_pk == site.evse_pk))
                if status == "Available":
                    return sim
                await asyncio.sleep(0.05)

    async def payment_of(self, site: Site) -> Payment | None:
        async with self.maker() as db:
            return await db.scalar(select(Payment).where(Payment.evse_id == site.evse_pk))


@pytest.fixture(scope="module")
def browser_stripe_proxy(localstripe_url: str) -> Iterator[BrowserStripeProxy]:  # noqa: F811
    with running_browser_proxy(localstripe_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def stack(
    settings: Settings,
    browser_stripe_proxy: BrowserStripeProxy,
    adyen_settings: AdyenSettings,  # noqa: F811
    adyen_fake: AdyenFake,  # noqa: F811
) -> AsyncIterator[Stack]:
    port = free_port()
    stripe = StripeSettings(
        secret_key=STRIPE_SECRET_KEY,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        publishable_key=STRIPE_PUBLISHABLE_KEY,
        api_base=browser_stripe_proxy.url,
        js_url=f"{browser_stripe_proxy.url}/js.stripe.com/v3/",
    )
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=10.0),
        payments=PaymentSettings(
            stripe=stripe,
            adyen=adyen_settings,
            default_provider="stripe",
            provider_by_operator={"SE*ADY": "adyen"},
            sweep_interval_s=1.0,
        ),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    app = create_app(settings, engine=engine, bus=bus)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    browser_stripe_proxy.register_webhook(f"http://127.0.0.1:{port}/webhooks/stripe", STRIPE_WEBHOOK_SECRET)
    adyen_fake.webhook_url = f"http://127.0.0.1:{port}/webhooks/adyen"
    yield Stack(settings, maker, bus, bridge, port, browser_stripe_proxy)
    server.should_exit = True
    await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


@contextlib.asynccontextmanager
async def screenshot_on_failure(page: Page, name: str) -> AsyncIterator[None]:
    """On any failure inside, save a full-page screenshot to a temp dir and print its path."""
    try:
        yield
    except BaseException:
        path = Path(tempfile.mkdtemp(prefix="laddnat-checkout-")) / f"{name}.png"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(path), full_page=True)
            print(f"\nscreenshot of the failing page: {path}  ({page.url})")
        raise
