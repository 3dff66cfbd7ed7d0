"""The demo network `laddnat run` seeds on first start: two operator companies (tenants), so
each one's admin sees that the other's network is not there, and a platform admin.

Laddnät Demo AB (SE*LAD): two sites, three chargers. Norrsken Laddning (SE*NRK): one site,
two chargers, its own tariff and admin.

The passwords here are for a local demo only and are printed on start-up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint
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
DEMO_PLATFORM_EMAIL = "platform@laddnat.test"
DEMO_PLATFORM_PASSWORD = "demo-platform-pw"
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

# The second tenant: only its own admin sees these.
NORRSKEN_NAME = "Norrsken Laddning AB"
NORRSKEN_EMAIL = "admin@norrsken.test"
NORRSKEN_PASSWORD = "demo-norrsken-pw"
NORRSKEN_SITE = ("Kiruna Norrsken Laddpark", "Hjalmar Lundbohmsvägen 20", "981 31", "Kiruna", 67.8557, 20.2253)
NORRSKEN_CHARGERS = (
    DemoCharger("NRK-CP-001", "nrk-cp-001-password", "1.6", 2, 22.0, "AC_3_PHASE", "IEC_62196_T2", 0),
    DemoCharger("NRK-CP-002", "nrk-cp-002-password", "2.0.1", 1, 50.0, "DC", "IEC_62196_T2_COMBO", 0),
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
# 4.25 SEK/kWh, incl. 25 % VAT, 300 SEK held.
NORRSKEN_TARIFF = TariffTerms(
    name="Norrsken Standard",
    currency="SEK",
    price_per_kwh_minor=425,
    vat_rate_bp=2500,
    max_price_minor=30_000,
    hold_amount_minor=30_000,
    time_zone="Europe/Stockholm",
)


async def seed_demo(maker: async_sessionmaker[AsyncSession], bus: Bus) -> bool:
    """Create the demo network unless it exists. Returns True when it seeded."""
    async with maker() as db:
        if await db.scalar(select(Operator.id).where(Operator.name == DEMO_OPERATOR_NAME)):
            return False
        # The seller's details make its receipts valid simplified VAT invoices (docs/payments.md).
        operator = Operator(
            name=DEMO_OPERATOR_NAME,
            country_code="SE",
            party_id="LAD",
            legal_name="Laddnät Demo AB",
            street_address="Storgatan 1",
            postal_code="111 22",
            city="Stockholm",
            country="SE",
            vat_number="SE556677889901",
            org_number="556677-8899",
            contact_email="kvitto@laddnat.test",
        )
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
        await users.create_user(DEMO_PLATFORM_EMAIL, DEMO_PLATFORM_PASSWORD, "platform_admin")
        await _seed_chargers(db, bus, operator, DEMO_TARIFF, DEMO_CHARGERS, [loc.id for loc in locations])

        norrsken = Operator(
            name=NORRSKEN_NAME,
            country_code="SE",
            party_id="NRK",
            legal_name="Norrsken Laddning AB",
            street_address="Storgatan 40",
            postal_code="903 26",
            city="Umeå",
            country="SE",
            vat_number="SE559988776601",
            org_number="559988-7766",
            contact_email="kvitto@norrsken.test",
        )
        db.add(norrsken)
        await db.commit()
        name, address, postal, city, lat, lon = NORRSKEN_SITE
        site = await LocationService(db).create(
            name=name,
            address=address,
            postal_code=postal,
            city=city,
            country="SWE",
            latitude=lat,
            longitude=lon,
            operator_id=norrsken.id,
        )
        await users.create_user(NORRSKEN_EMAIL, NORRSKEN_PASSWORD, "admin", operator_id=norrsken.id)
        await _seed_chargers(db, bus, norrsken, NORRSKEN_TARIFF, NORRSKEN_CHARGERS, [site.id])
    return True


async def _seed_chargers(
    db: AsyncSession,
    bus: Bus,
    operator: Operator,
    terms: TariffTerms,
    chargers: tuple[DemoCharger, ...],
    sites: list[uuid.UUID],
) -> None:
    """The company's tariff (for all its chargers: what the checkout page shows and the
    hold) and its chargers, owned by it."""
    tariffs = TariffService(db, bus)
    tariff = await tariffs.create(terms, operator_id=operator.id)
    await tariffs.assign("operator", operator.id, tariff.id)
    service = ChargerService(db, bus)
    for c in chargers:
        cp = await service.register(
            c.identity,
            c.password,
            location_id=sites[c.site],
            evse_count=c.evses,
            max_kw=c.max_kw,
            power_type=c.power_type,
            standard=c.standard,
        )
        await db.execute(update(ChargePoint).where(ChargePoint.id == cp.id).values(operator_id=operator.id))
        await db.commit()
