"""CDRs: made once when a roaming session's transaction ends, pushed to the partner's CDRs
receiver, served to the partner by the CDRs module.

A CDR is a bill: made once and never changed. Ending twice, a replayed StopTransaction or
a lost event found by the sweep make no second one (the row is claimed by its empty
``cdr_id``). A correction would be a credit CDR (2.2.1 "Credit CDRs"): not built.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.core.bus import Bus, Event
from app.core.database import claim, utcnow
from app.core.workers import PollingWorker
from app.operators.models import Operator
from app.roaming.cdrs.mapping import LOCATION_FIELDS, CdrParty, build_cdr
from app.roaming.client import endpoint_url
from app.roaming.envelope import Page
from app.roaming.models import OcpiPartner, OcpiSession
from app.roaming.push import enqueue
from app.sessions.costs import terms_of, usage_of
from app.sessions.events import TransactionEnded
from app.sessions.models import Transaction
from app.tariffs.models import Tariff
from app.tariffs.pricing import price

log = logging.getLogger("laddnat.roaming")

# CDR ids are derived from the session's: the same session always names the same CDR.
CDR_NAMESPACE = uuid.UUID("5b0f4f64-6b0e-4c52-9d0e-0c0d1c2d0c0d")
SWEEP_BATCH = 100
CDR_TOKEN_FIELDS = ("country_code", "party_id", "uid", "type", "contract_id")
# 2.2.1 ConnectorType and PowerType (mod_locations).
CONNECTOR_TYPES = frozenset(
    """
    CHADEMO CHAOJI DOMESTIC_A DOMESTIC_B DOMESTIC_C DOMESTIC_D DOMESTIC_E DOMESTIC_F DOMESTIC_G DOMESTIC_H
    DOMESTIC_I DOMESTIC_J DOMESTIC_K DOMESTIC_L DOMESTIC_M DOMESTIC_N DOMESTIC_O GBT_AC GBT_DC
    IEC_60309_2_single_16 IEC_60309_2_three_16 IEC_60309_2_three_32 IEC_60309_2_three_64 IEC_62196_T1
    IEC_62196_T1_COMBO IEC_62196_T2 IEC_62196_T2_COMBO IEC_62196_T3A IEC_62196_T3C NEMA_5_20 NEMA_6_30
    NEMA_6_50 NEMA_10_30 NEMA_10_50 NEMA_14_30 NEMA_14_50 PANTOGRAPH_BOTTOM_UP PANTOGRAPH_TOP_DOWN TESLA_R TESLA_S
    """.split()
)
POWER_TYPES = frozenset({"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"})


def cdr_id_of(session_id: uuid.UUID) -> str:
    return str(uuid.uuid5(CDR_NAMESPACE, str(session_id)))


def _coordinate(value: float | None) -> str:
    # GeoLocation: -?[0-9]{1,3}\.[0-9]{5,7}
    return f"{value or 0.0:.6f}"


def cdr_location(
    location: Location | None, charge_point: ChargePoint, evse: Evse | None, connector: Connector | None, number: int
) -> dict[str, Any]:
    """The CdrLocation: the same ids as the Locations module (location and EVSE by our ids,
    the EVSE ID, the connector by its number)."""
    power_type = connector.power_type if connector is not None else "AC_3_PHASE"
    if power_type not in POWER_TYPES:
        power_type = "AC_3_PHASE"
    standard = connector.standard if connector is not None else ""
    if standard not in CONNECTOR_TYPES:
        # A standard OCPI has no name for: the usual one of its power type (a CDR must name one).
        standard = "IEC_62196_T2_COMBO" if power_type == "DC" else "IEC_62196_T2"
    place: dict[str, Any] = {
        "id": str(location.id) if location is not None else str(charge_point.id),
        "name": (location.name if location is not None else charge_point.identity)[:255],
        "address": location.address if location is not None and location.address else "-",
        "city": location.city if location is not None and location.city else "-",
    }
    if location is not None and location.postal_code:
        place["postal_code"] = location.postal_code
    place["country"] = location.country if location is not None else "SWE"
    place["coordinates"] = {
        "latitude": _coordinate(location.latitude if location is not None else None),
        "longitude": _coordinate(location.longitude if location is not None else None),
    }
    for name, length in LOCATION_FIELDS.items():
        if isinstance(place.get(name), str):
            place[name] = place[name][:length]
    place |= {
        "evse_uid": str(evse.id) if evse is not None else "#NA",
        "evse_id": evse.evse_id if evse is not None else "#NA",
        "connector_id": str(number),
        "connector_standard": standard,
        # Our DC chargers have their cable attached; AC ones a socket.
        "connector_format": "CABLE" if power_type == "DC" else "SOCKET",
        "connector_power_type": power_type,
    }
    return place


class CdrIssuer(PollingWorker):
    """Makes the CDR of every ended roaming session: on TransactionEnded at once, and in a
    sweep for a session whose event this process never saw."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_issued: Callable[[], None] | None = None,
        interval_s: float = 30.0,
    ) -> None:
        super().__init__("ocpi-cdr-issuer", interval_s=interval_s, log=log)
        self.maker = maker
        self.bus = bus
        self.clock = clock
        # Wakes the push worker: the partner gets the CDR now, not at its next pass.
        self.on_issued = on_issued

    def subscribe(self) -> None:
        self.bus.subscribe(TransactionEnded.subject, self._on_ended, group="roaming-cdrs")

    async def _on_ended(self, event: Event) -> None:
        assert isinstance(event, TransactionEnded)
        await self.issue(event.transaction_id)

    async def pass_once(self) -> None:
        await self.sweep()

    async def sweep(self) -> int:
        """CDRs of ended roaming sessions that have none yet; how many were made."""
        async with self.maker() as db:
            ids = list(
                await db.scalars(
                    select(OcpiSession.transaction_id)
                    .join(Transaction, Transaction.id == OcpiSession.transaction_id)
                    .where(OcpiSession.cdr_id.is_(None), Transaction.status == "completed")
                    .limit(SWEEP_BATCH)
                )
            )
        made = 0
        for tx_id in ids:
            if tx_id is not None and await self.issue(tx_id) is not None:
                made += 1
        return made

    async def issue(self, transaction_id: uuid.UUID) -> dict[str, Any] | None:
        """Make, keep and push the CDR of the roaming session of ``transaction_id``, if it
        is one and has ended and has none yet; the CDR made, else None."""
        async with self.maker() as db:
            session = await db.scalar(select(OcpiSession).where(OcpiSession.transaction_id == transaction_id))
            if session is None or session.cdr_id is not None:
                return None
            tx = await db.get(Transaction, transaction_id)
            partner = await db.get(OcpiPartner, session.partner_id)
            operator = await db.get(Operator, session.operator_id)
            if tx is None or tx.status != "completed" or tx.stopped_at is None or partner is None or operator is None:
                return None
            now = self.clock()
            cdr, total_minor = await self._build(db, session, tx, operator, now)
            claimed = await claim(
                db,
                update(OcpiSession)
                .where(OcpiSession.id == session.id, OcpiSession.cdr_id.is_(None))
                .values(
                    cdr_id=cdr["id"],
                    cdr=cdr,
                    cdr_total_minor=total_minor,
                    currency=cdr["currency"],
                    cdr_last_updated=now,
                ),
            )
            if not claimed:
                await db.rollback()
                return None
            url = endpoint_url(partner.endpoints, "cdrs", "RECEIVER")
            if url is not None and partner.state == "registered":
                await enqueue(
                    db, partner, module="cdrs", method="POST", url=url, body=cdr, object_key=f"cdr:{cdr['id']}", now=now
                )
            await db.commit()
        log.info("CDR %s made for roaming session %s", cdr["id"], session.id)
        if self.on_issued is not None:
            self.on_issued()
        return cdr

    async def _build(
        self, db: AsyncSession, session: OcpiSession, tx: Transaction, operator: Operator, now: datetime
    ) -> tuple[dict[str, Any], int]:
        """The CDR and its total (our price, minor units incl. VAT)."""
        charge_point = await db.get(ChargePoint, tx.charge_point_id)
        assert charge_point is not None
        location = await db.get(Location, charge_point.location_id) if charge_point.location_id else None
        evse = await db.scalar(
            select(Evse).where(Evse.charge_point_id == charge_point.id, Evse.evse_number == tx.evse_number)
        )
        connector = (
            await db.scalar(
                select(Connector).where(Connector.evse_pk == evse.id, Connector.connector_number == tx.connector_number)
            )
            if evse is not None
            else None
        )
        terms = terms_of(tx)
        usage = await usage_of(db, tx)
        priced = price(terms, usage) if terms is not None else None
        tariff_id = str(terms.id) if terms is not None and terms.id is not None else None
        if terms is not None and tariff_id is None:
            tariff_id = f"SESSION-{tx.number}"  # a snapshot of no stored tariff
        tariff_updated = tx.started_at
        if terms is not None and terms.id is not None:
            stored = await db.get(Tariff, terms.id)
            # The tariff as it was at the start: its own time if it has not changed since.
            if stored is not None and stored.version == terms.version and stored.updated_at <= tx.started_at:
                tariff_updated = stored.updated_at
        party = CdrParty(
            country_code=operator.country_code,
            party_id=operator.party_id,
            cdr_id=cdr_id_of(session.id),
            session_id=str(session.id),
            # A CdrToken has exactly these fields (the session may keep the whole Token).
            token={k: session.token[k] for k in CDR_TOKEN_FIELDS if k in session.token},
            auth_method=session.auth_method,
            authorization_reference=session.authorization_reference,
            location=cdr_location(location, charge_point, evse, connector, tx.connector_number),
            tariff_id=tariff_id,
            tariff_updated=tariff_updated,
        )

        def mismatch(ours: int, periods: int) -> None:
            log.error(
                "CDR of session %s: periods give %d, our price %d (the CDR keeps ours)", session.id, periods, ours
            )

        currency = terms.currency if terms is not None else (session.currency or "EUR")
        cdr = build_cdr(party, terms, usage, priced, currency=currency, now=now, on_mismatch=mismatch)
        return cdr, priced.total_minor if priced is not None else 0


async def cdr_page(db: AsyncSession, partner: OcpiPartner, page: Page) -> tuple[list[dict[str, Any]], int]:
    """One page of the CDRs made for ``partner`` (and no one else), oldest first."""
    where = [OcpiSession.partner_id == partner.id, OcpiSession.cdr_id.is_not(None)]
    if page.date_from is not None:
        where.append(OcpiSession.cdr_last_updated >= page.date_from)
    if page.date_to is not None:
        where.append(OcpiSession.cdr_last_updated < page.date_to)
    total = int(await db.scalar(select(func.count()).select_from(OcpiSession).where(*where)) or 0)
    rows = await db.scalars(
        select(OcpiSession.cdr)
        .where(*where)
        .order_by(OcpiSession.cdr_last_updated, OcpiSession.id)
        .offset(page.offset)
        .limit(page.limit)
    )
    return [dict(c) for c in rows if c is not None], total
