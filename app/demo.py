"""The demo network `laddnat run` seeds on first start: one operator, two sites, three chargers.

The passwords here are for a local demo only and are printed on start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.service import ChargerService, LocationService
from app.core.bus import Bus
from app.drivers.models import IdToken
from app.drivers.service import UserService
from app.operators.models import Operator
from app.tariffs.pricing import TariffBand, TariffTerms
from app.tariffs.service import TariffService


@dataclass(frozen=True)
class DemoCharger:
    identity: str
    password: str
    version: str
    evses: int
    max_kw: float
    power_type: str
    standard: str
    site: int


DEMO_OPERATOR_NAME = "Laddnät Demo AB"
DEMO_OPERATOR_EMAIL = "operator@laddnat.test"
DEMO_OPERATOR_PASSWORD = "demo-operator-pw"
DEMO_DRIVER_EMAIL = "driver@laddnat.test"
DEMO_DRIVER_PASSWORD = "demo-driver-pw"
DEMO_ID_TAGS = ("DEMO-TAG-0001", "DEMO-TAG-0002", "DEMO-TAG-0003")
DEMO_SITES = (
    ("Stockholm Centralstation P-hus", "Vasagatan 1", "111 20", "Stockholm", 59.3303, 18.0586),
    ("Göteborg Lindholmen", "Lindholmspiren 3", "417 56", "Göteborg", 57.7072, 11.9386),
)
DEMO_CHARGERS = (
    DemoCharger("DEMO-CP-001", "demo-cp-001-password", "1.6", 2, 22.0, "AC_3_PHASE", "IEC_62196_T2", 0),
    DemoCharger("DEMO-CP-002", "demo-cp-002-password", "1.6", 2, 22.0, "AC_3_PHASE", "IEC_62196_T2", 0),
    DemoCharger("DEMO-CP-003", "demo-cp-003-password", "2.0.1", 1, 150.0, "DC", "IEC_62196_T2_COMBO", 1),
)


# 3.49 SEK/kWh (2.49 at night), 0.10 SEK/min while charging, idle 1 SEK/min after 30 min,
# incl. 25 % VAT, 250 SEK held on the card.
DEMO_TARIFF = TariffTerms(
    name="Laddnät Demo",
    currency="SEK",
    price_per_kwh_minor=349,
    price_per_minute_minor=10,
    idle_fee_per_minute_minor=100,
    idle_grace_minutes=30,
    vat_rate_bp=2500,
    max_price_minor=25_000,
    hold_amount_minor=25_000,
    time_zone="Europe/Stockholm",
    bands=(TariffBand(start="22:00", end="06:00", price_per_kwh_minor=249),),
)


async def seed_demo(maker: async_sessionmaker[AsyncSession], bus: Bus) -> bool:
    """Create the demo network unless it exists. Returns True when it seeded."""
    async with maker() as db:
        if await db.scalar(select(Operator.id).where(Operator.name == DEMO_OPERATOR_NAME)):
            return False
        operator = Operator(name=DEMO_OPERATOR_NAME, country_code="SE", party_id="LAD")
        db.add(operator)
        await db.commit()
        locations = []
        for name, address, postal, city, lat, lon in DEMO_SITES:
            locations.append(
                await LocationService(db).create(
                    name=name,
                    address=address,
                    postal_code=postal,
                    city=city,
                    country="SWE",
                    latitude=lat,
                    longitude=lon,
                    operator_id=operator.id,
                )
            )
        users = UserService(db)
        await users.create_user(DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, "admin", operator_id=operator.id)
        driver = await users.create_user(DEMO_DRIVER_EMAIL, DEMO_DRIVER_PASSWORD, "driver")
        for tag in DEMO_ID_TAGS:
            db.add(IdToken(token=tag, type="ISO14443", status="Accepted", user_id=driver.id, label="Demo card"))
        await db.commit()
        # One tariff for the whole demo operator: what the checkout page shows and the hold.
        tariffs = TariffService(db, bus)
        tariff = await tariffs.create(DEMO_TARIFF, operator_id=operator.id)
        await tariffs.assign("operator", operator.id, tariff.id)
        chargers = ChargerService(db, bus)
        for c in DEMO_CHARGERS:
            await chargers.register(
                c.identity,
                c.password,
                location_id=locations[c.site].id,
                evse_count=c.evses,
                max_kw=c.max_kw,
                power_type=c.power_type,
                standard=c.standard,
            )
    return True
