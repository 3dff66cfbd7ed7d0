"""Roaming sessions: a transaction under a partner's token becomes an OCPI Session of that
partner, PUT to it at the start, PATCHed while charging (at most every
``session_update_interval_s``) and at the end, and listed by GET /sessions.

Identifiers (shared by every OCPI module): location id = our Location's id, EVSE uid = our
EVSE's id, connector id = the connector number, all as strings. A roaming session is billed
to the eMSP through its CDR: it never has a card payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse
from app.core.database import claim, utcnow
from app.core.settings import OcpiSettings
from app.operators.models import Operator
from app.roaming.client import endpoint_url
from app.roaming.commands.models import OcpiCommand
from app.roaming.envelope import Page, timestamp
from app.roaming.models import OcpiPartner, OcpiSession
from app.roaming.push import enqueue
from app.sessions.costs import cost_so_far, terms_of
from app.sessions.models import Transaction
from app.tariffs.pricing import currency_exponent

# Nothing priced (no tariff at the EVSE): the Session still needs a currency.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True)
class Grant:
    """Why a foreign token may charge: the partner, the token as a CdrToken, how it was
    authorised and the eMSP's reference for that authorisation."""

    partner_id: uuid.UUID
    cdr_token: dict[str, Any]
    auth_method: str  # AUTH_REQUEST | WHITELIST
    authorization_reference: str | None = None


def money(amount_minor: int, currency: str) -> float:
    """Minor units as the OCPI number (SEK 1234 -> 12.34)."""
    return float(Fraction(amount_minor, 10 ** currency_exponent(currency)))


class RoamingSessions:
    def __init__(self, db: AsyncSession, settings: OcpiSettings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    # -- the transaction's lifecycle (called inside its database transaction) ---------------

    async def started(self, tx: Transaction, operator_id: uuid.UUID, grant: Grant | None) -> OcpiSession | None:
        """Link the START_SESSION command's PENDING session, or open one for ``grant``; PUT it."""
        if await self.db.scalar(select(OcpiSession.id).where(OcpiSession.transaction_id == tx.id)) is not None:
            return None  # a resent start: the session exists
        session = await self.pending_command(tx.charge_point_id, tx.id_token or "")
        terms = terms_of(tx)
        now = self.clock()
        if session is None:
            if grant is None:
                return None
            session = OcpiSession(
                id=uuid.uuid4(),
                operator_id=operator_id,
                partner_id=grant.partner_id,
                token=grant.cdr_token,
                auth_method=grant.auth_method,
                authorization_reference=grant.authorization_reference,
                created_at=now,
            )
            self.db.add(session)
        session.transaction_id = tx.id
        session.status = "ACTIVE"
        session.tariff_id = terms.id if terms is not None else None
        session.currency = terms.currency if terms is not None else DEFAULT_CURRENCY
        session.last_updated = now
        await self.db.flush()
        await self._push(session, "PUT", await self.session_object(session, tx))
        return session

    async def ended(self, tx: Transaction) -> None:
        """The final PATCH: COMPLETED, the end time and the last meter reading."""
        session = await self.db.scalar(select(OcpiSession).where(OcpiSession.transaction_id == tx.id))
        if session is None or session.status == "COMPLETED":
            return
        session.status = "COMPLETED"
        session.last_updated = self.clock()
        obj = await self.session_object(session, tx)
        await self._push(session, "PATCH", self._changes(obj, final=True))

    async def progress(self, session: OcpiSession, tx: Transaction) -> bool:
        """PATCH a running session if its last push is ``session_update_interval_s`` old;
        True if one was queued. The caller commits."""
        now = self.clock()
        before = session.last_updated
        if session.status != "ACTIVE" or now - before < timedelta(seconds=self.settings.session_update_interval_s):
            return False
        # Two meter reports at once: one of them pushes.
        claimed = await claim(
            self.db,
            update(OcpiSession)
            .where(OcpiSession.id == session.id, OcpiSession.last_updated == before)
            .values(last_updated=now)
            .execution_options(synchronize_session=False),
        )
        if not claimed:
            return False
        session.last_updated = now
        obj = await self.session_object(session, tx)
        await self._push(session, "PATCH", self._changes(obj, final=False))
        return True

    async def pending_command(self, charge_point_id: uuid.UUID, uid: str) -> OcpiSession | None:
        """The newest session a START_SESSION command opened on this charger for token ``uid``
        that no transaction has taken yet (app/roaming/commands creates it PENDING)."""
        return await self.db.scalar(
            select(OcpiSession)
            .join(OcpiCommand, OcpiCommand.ocpi_session_id == OcpiSession.id)
            .where(
                OcpiCommand.kind == "START_SESSION",
                OcpiCommand.charge_point_id == charge_point_id,
                OcpiSession.status == "PENDING",
                OcpiSession.transaction_id.is_(None),
                OcpiSession.token["uid"].as_string() == uid,
            )
            .order_by(OcpiSession.created_at.desc())
            .limit(1)
        )

    # -- reads ----------------------------------------------------------------------

    async def page_for(self, partner: OcpiPartner, page: Page) -> tuple[list[dict[str, Any]], int]:
        """The partner's own sessions (those that have a transaction), oldest change first."""
        where = [OcpiSession.partner_id == partner.id, OcpiSession.transaction_id.is_not(None)]
        if page.date_from is not None:
            where.append(OcpiSession.last_updated >= page.date_from)
        if page.date_to is not None:
            where.append(OcpiSession.last_updated < page.date_to)
        total = int(await self.db.scalar(select(func.count()).select_from(OcpiSession).where(*where)) or 0)
        rows = await self.db.execute(
            select(OcpiSession, Transaction)
            .join(Transaction, Transaction.id == OcpiSession.transaction_id)
            .where(*where)
            .order_by(OcpiSession.last_updated, OcpiSession.id)
            .offset(page.offset)
            .limit(page.limit)
        )
        return [await self.session_object(s, tx) for s, tx in rows.all()], total

    async def session_object(self, session: OcpiSession, tx: Transaction) -> dict[str, Any]:
        """The 2.2.1 Session object (mod_sessions 9.3.1)."""
        operator = await self.db.get(Operator, session.operator_id)
        assert operator is not None
        charger = await self.db.get(ChargePoint, tx.charge_point_id)
        assert charger is not None
        evse_uid = await self.db.scalar(
            select(Evse.id)
            .where(Evse.charge_point_id == tx.charge_point_id)
            .order_by((Evse.evse_number == tx.evse_number).desc(), Evse.evse_number)
            .limit(1)
        )
        kwh = round(max(0.0, tx.energy_wh or 0.0) / 1000, 4)
        currency = session.currency or DEFAULT_CURRENCY
        obj: dict[str, Any] = {
            "country_code": operator.country_code,
            "party_id": operator.party_id,
            "id": str(session.id),
            "start_date_time": timestamp(tx.started_at),
            "kwh": kwh,
            "cdr_token": session.token,
            "auth_method": session.auth_method,
            "location_id": str(charger.location_id),
            "evse_uid": str(evse_uid),
            "connector_id": str(tx.connector_number),
            "currency": currency,
            "charging_periods": self._periods(session, tx, kwh),
            "status": session.status,
            "last_updated": timestamp(session.last_updated),
        }
        if session.authorization_reference:
            obj["authorization_reference"] = session.authorization_reference
        if tx.stopped_at is not None and session.status == "COMPLETED":
            obj["end_date_time"] = timestamp(tx.stopped_at)
        if charger.meter_serial_number:
            obj["meter_id"] = charger.meter_serial_number[:255]
        price = await cost_so_far(self.db, tx, tx.stopped_at or self.clock())
        if price is not None and price.currency == currency:
            obj["total_cost"] = {
                "excl_vat": money(price.net_minor, currency),
                "incl_vat": money(price.total_minor, currency),
            }
        return obj

    @staticmethod
    def _periods(session: OcpiSession, tx: Transaction, kwh: float) -> list[dict[str, Any]]:
        """One period from the start with the energy so far (the CDR carries the detailed ones)."""
        if kwh <= 0:
            return []
        period: dict[str, Any] = {
            "start_date_time": timestamp(tx.started_at),
            "dimensions": [{"type": "ENERGY", "volume": kwh}],
        }
        if session.tariff_id is not None:
            period["tariff_id"] = str(session.tariff_id)
        return [period]

    @staticmethod
    def _changes(obj: dict[str, Any], *, final: bool) -> dict[str, Any]:
        """What a PATCH carries: everything that moves while charging, whole, so a newer
        PATCH may replace one not yet sent."""
        names = ["kwh", "charging_periods", "total_cost", "status", "last_updated"]
        if final:
            names.append("end_date_time")
        return {name: obj[name] for name in names if name in obj}

    async def _push(self, session: OcpiSession, method: str, body: dict[str, Any]) -> None:
        partner = await self.db.get(OcpiPartner, session.partner_id)
        if partner is None or partner.state != "registered":
            return
        base = endpoint_url(partner.endpoints, "sessions", "RECEIVER")
        if base is None:
            return  # the partner does not take sessions; it can still GET them
        operator = await self.db.get(Operator, session.operator_id)
        assert operator is not None
        url = f"{base}/{operator.country_code}/{operator.party_id}/{session.id}"
        await enqueue(
            self.db,
            partner,
            module="sessions",
            method=method,
            url=url,
            body=body,
            object_key=f"session:{session.id}",
            now=self.clock(),
        )
