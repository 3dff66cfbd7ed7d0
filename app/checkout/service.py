"""CheckoutService: what the web checkout shows and does, over the database and the bus.

The charger page (price, live status, whether it can be paid for), the start of a paid
session behind a new secret link, the progress behind that link, and the stop. The money
itself is PaidSessionService's and PaymentService's: this module never touches a PSP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.paid_sessions import PaidSessionService
from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.checkout.errors import CheckoutNotFound
from app.checkout.i18n import Translator
from app.checkout.models import CheckoutLink
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.errors import DomainError
from app.core.security import digest_secret
from app.core.settings import Settings
from app.health.driver_impact import incidents_keeping_drivers_away
from app.health.models import Incident
from app.health.service import SEVERITY_RANK
from app.health.words import PAYMENT_WORDS, for_driver
from app.operators.models import Operator
from app.sessions.commands import CommandService
from app.sessions.costs import cost_so_far
from app.sessions.models import MeterSample, Transaction
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from payments import state
from payments.models import Payment, PaymentTransition
from payments.registry import Providers

# unhealthy: an open incident keeps drivers away (its cause is the fault detail).
Availability = Literal["ok", "offline", "faulted", "unhealthy", "in_use", "no_tariff", "no_payments"]
State = Literal["pay", "confirming", "starting", "charging", "finishing", "finished", "released", "failed"]

# What a charger reports while someone else's session holds it.
_IN_USE = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"})
_OUT_OF_ORDER = frozenset({"Faulted", "Unavailable", "Inoperative"})
# Stop reasons (1.6 and 2.0.1) that mean the charger, not the driver, ended the session.
FAULT_STOP_REASONS = frozenset(
    {
        "EmergencyStop",
        "PowerLoss",
        "HardReset",
        "SoftReset",
        "Reboot",
        "ImmediateReset",
        "GroundFault",
        "OvercurrentFault",
        "OvervoltageFault",
        "UndervoltageFault",
        "PowerQuality",
        "Other",
    }
)


@dataclass(frozen=True)
class ChargerView:
    evse: Evse
    charge_point: ChargePoint
    location: Location | None
    operator: Operator | None
    connectors: list[Connector]
    terms: TariffTerms | None
    availability: Availability
    status: str  # a status.* key of the catalogue: Available, Faulted, Offline, ...
    fault_detail: str | None


class Progress(msgspec.Struct, kw_only=True, rename="camel"):
    """What the status page shows and its script polls (``status.json``)."""

    state: State
    title: str
    detail: str | None = None
    power_kw: float | None = None
    energy_kwh: float | None = None
    elapsed_s: int | None = None
    cost_minor: int | None = None
    captured_minor: int | None = None
    currency: str
    hold_minor: int
    fault: str | None = None
    can_stop: bool = False
    # The same figures as text in the page's language, so the script only copies them.
    texts: dict[str, str] = msgspec.field(default_factory=dict)


class CheckoutService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        providers: Providers,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.providers = providers
        self.settings = settings
        self.clock = clock

    # -- the charger page ------------------------------------------------------------------

    async def charger(self, evse_id: str) -> ChargerView:
        """The EVSE by its eMI3 id, any case (the QR code's URL is upper case)."""
        row = (
            await self.db.execute(
                select(Evse, ChargePoint, Location)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(func.upper(Evse.evse_id) == evse_id.strip().upper())
            )
        ).one_or_none()
        if row is None:
            raise CheckoutNotFound()
        evse, cp, location = row
        connectors = list(
            await self.db.scalars(
                select(Connector).where(Connector.evse_pk == evse.id).order_by(Connector.connector_number)
            )
        )
        operator = await self.db.get(Operator, location.operator_id) if location and location.operator_id else None
        terms = await TariffService(self.db, self.bus).resolve(evse.id)
        availability, status, detail = self._availability(cp, evse, connectors, terms, operator)
        if availability not in ("offline", "faulted"):
            cause = await self.db.scalar(incidents_keeping_drivers_away(cp.id, evse.evse_number).limit(1))
            if cause is not None:
                availability, status, detail = "unhealthy", "Faulted", cause
        return ChargerView(evse, cp, location, operator, connectors, terms, availability, status, detail)

    async def charger_of(self, payment: Payment) -> ChargerView:
        evse_id = await self.db.scalar(select(Evse.evse_id).where(Evse.id == payment.evse_id))
        if evse_id is None:  # pragma: no cover (a foreign key)
            raise CheckoutNotFound()
        return await self.charger(evse_id)

    def _availability(
        self,
        cp: ChargePoint,
        evse: Evse,
        connectors: list[Connector],
        terms: TariffTerms | None,
        operator: Operator | None,
    ) -> tuple[Availability, str, str | None]:
        if not cp.connected:
            return "offline", "Offline", None
        faulted = next((c for c in connectors if c.status in _OUT_OF_ORDER), None)
        if evse.status in _OUT_OF_ORDER or faulted is not None:
            status = faulted.status if faulted is not None else evse.status
            detail = (faulted.error_code if faulted is not None else None) or status
            return "faulted", status, detail
        # 1.6 chargers report per connector; the EVSE's own status may lag behind them.
        known = [c.status for c in connectors if c.status != "Unknown"]
        status = evse.status if evse.status != "Unknown" or not known else known[0]
        if status in _IN_USE:
            return "in_use", status, None
        if terms is None:
            return "no_tariff", status, None
        key = f"{operator.country_code}*{operator.party_id}" if operator is not None else ""
        if self.settings.payments.provider_for(key) not in self.providers.names:
            return "no_payments", status, None
        return "ok", status, None

    # -- paying ----------------------------------------------------------------------------

    async def start(self, view: ChargerView, *, payer_email: str | None, lang: str) -> tuple[str, Payment]:
        """Open the hold behind a new secret link; the token is returned once, never stored."""
        token = secrets.token_urlsafe(32)
        return_url = f"{self.settings.http.public_base_url}/c/s/{token}"
        payment = await PaidSessionService(self.db, self.bus, self.providers, self.settings, clock=self.clock).start(
            view.evse.id, payer_email=payer_email, return_url=return_url
        )
        self.db.add(CheckoutLink(payment_id=payment.id, token_hash=digest_secret(token), lang=lang))
        await self.db.commit()
        return token, payment

    async def link(self, token: str) -> tuple[CheckoutLink, Payment]:
        """The link and its payment; CheckoutNotFound for any token we did not hand out."""
        link = await self.db.scalar(select(CheckoutLink).where(CheckoutLink.token_hash == digest_secret(token)))
        if link is None:
            raise CheckoutNotFound()
        payment = await self.db.get(Payment, link.payment_id)
        if payment is None:  # pragma: no cover (a foreign key)
            raise CheckoutNotFound()
        return link, payment

    def stop_token(self, link: CheckoutLink) -> str:
        """The stop form's CSRF token: bound to the link, derived from the server's key."""
        key = self.settings.auth.secret_key.encode()
        return hmac.new(key, f"checkout-stop:{link.token_hash}".encode(), hashlib.sha256).hexdigest()

    def check_stop_token(self, link: CheckoutLink, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.stop_token(link), given)

    # -- progress --------------------------------------------------------------------------

    async def progress(self, payment: Payment, t: Translator, *, confirming: bool = False) -> Progress:
        tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
        cur = payment.currency
        out = Progress(state="pay", title="", currency=cur, hold_minor=payment.hold_minor)
        out.texts["hold"] = t.money(payment.hold_minor, cur)
        status = payment.status
        if status == state.FAILED:
            out.state = "failed"
            out.detail = t("failed.detail", reason=payment.failure_message or payment.failure_code or "–")
        elif status in {state.CANCELLED, state.CANCELLING} or (status == state.CREATED and tx is None and confirming):
            if status == state.CREATED:
                out.state = "confirming"
            else:
                out.state = "released"
                out.detail = t("released.detail", reason=await self._release_reason(payment))
        elif status == state.CREATED:
            out.state = "pay"
        elif tx is None:
            out.state = "starting"
        elif tx.status == "active":
            out.state = "charging"
            out.can_stop = True
        elif status in state.PAID:
            out.state = "finished"
            out.captured_minor = payment.captured_minor
            out.texts["captured"] = t.money(payment.captured_minor, cur)
            released = payment.hold_minor - payment.captured_minor
            if released > 0:
                out.texts["released"] = t("receipt.released", money=t.money(released, cur))
        else:
            out.state = "finishing"
        if tx is not None:
            await self._figures(out, tx, t)
        out.title = t(f"state.{out.state}")
        return out

    async def _figures(self, out: Progress, tx: Transaction, t: Translator) -> None:
        now = self.clock()
        end = tx.stopped_at or now
        out.elapsed_s = max(0, int((end - tx.started_at).total_seconds()))
        out.energy_kwh = round((tx.energy_wh or 0.0) / 1000, 3)
        price = await cost_so_far(self.db, tx, end)
        if price is not None:
            out.cost_minor = price.total_minor
            out.texts["cost"] = t.money(price.total_minor, price.currency)
        if tx.status == "active":
            power_w = await self.db.scalar(
                select(MeterSample.value)
                .where(
                    MeterSample.transaction_id == tx.id,
                    MeterSample.measurand == "Power.Active.Import",
                    MeterSample.phase == "",
                )
                .order_by(MeterSample.sampled_at.desc())
                .limit(1)
            )
            out.power_kw = round((power_w or 0.0) / 1000, 1)
            out.texts["power"] = f"{t.number(out.power_kw, 1)} kW"
            fault = await self.db.scalar(
                select(Connector.error_code)
                .join(Evse, Evse.id == Connector.evse_pk)
                .where(
                    Evse.charge_point_id == tx.charge_point_id,
                    Evse.evse_number == tx.evse_number,
                    Connector.status == "Faulted",
                )
                .limit(1)
            )
            if fault is not None:
                out.fault = t("fault.mid", detail=fault or "Faulted")
            else:
                cause = await self._incident_cause(tx)
                if cause is not None:
                    out.fault = f"{for_driver(cause, t.lang)} {PAYMENT_WORDS.get(t.lang, PAYMENT_WORDS['en'])}"
        elif tx.stop_reason in FAULT_STOP_REASONS:
            out.fault = t("fault.mid", detail=tx.stop_reason)
        out.texts["energy"] = f"{t.number(out.energy_kwh, 2)} kWh"
        out.texts["elapsed"] = t.duration(out.elapsed_s)

    async def _incident_cause(self, tx: Transaction) -> str | None:
        """The cause of an open incident on this session's charger (its EVSE, the whole
        charger, or its site), the most severe first."""
        location_id = await self.db.scalar(select(ChargePoint.location_id).where(ChargePoint.id == tx.charge_point_id))
        on_charger = (Incident.charge_point_id == tx.charge_point_id) & (
            Incident.evse.is_(None) | (Incident.evse == tx.evse_number)
        )
        on_site = Incident.charge_point_id.is_(None) & (Incident.location_id == location_id)
        rows = (
            await self.db.execute(
                select(Incident.cause, Incident.severity).where(
                    Incident.open_key.is_not(None), on_charger | on_site if location_id else on_charger
                )
            )
        ).all()
        if not rows:
            return None
        return max(rows, key=lambda r: SEVERITY_RANK.get(r.severity, 1)).cause

    async def _release_reason(self, payment: Payment) -> str:
        detail = await self.db.scalar(
            select(PaymentTransition.detail)
            .where(PaymentTransition.payment_id == payment.id, PaymentTransition.detail.is_not(None))
            .order_by(PaymentTransition.id.desc())
            .limit(1)
        )
        return detail or payment.failure_message or "–"

    # -- stopping --------------------------------------------------------------------------

    async def stop(self, payment: Payment) -> str | None:
        """Remote-stop the payment's running session; the error code if the charger did not
        take it (None: sent and accepted, or nothing left to stop)."""
        if payment.transaction_id is None:
            return None
        tx = await self.db.get(Transaction, payment.transaction_id)
        if tx is None or tx.status != "active":
            return None
        commands = CommandService.of(self.db, self.bus, self.settings, clock=self.clock)
        try:
            entry = await commands.send(
                tx.charge_point_id, "remote-stop", {"transactionId": str(tx.id)}, origin="checkout"
            )
        except DomainError as err:
            return err.code
        status = (entry.answer or {}).get("status")
        return None if status == "Accepted" else str(status)
