"""TariffService: stores tariffs, assigns them, and resolves the one in force for an EVSE.

Each public method that writes owns its transaction and publishes its event after commit.
The maths is in ``pricing.py``; this file never prices anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse, Location, charger_owner
from app.core.bus import Bus
from app.core.database import scoped, utcnow
from app.operators.models import Operator
from app.tariffs.errors import (
    TariffAssignmentNotFound,
    TariffCurrencyMismatch,
    TariffInactive,
    TariffNotFound,
    TariffTargetNotFound,
)
from app.tariffs.events import TariffAssignmentChanged, TariffChanged
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.pricing import TariffBand, TariffTerms, validate_terms

Scope = Literal["evse", "location", "operator"]
# Most specific first: an EVSE's own tariff, else its location's, else its operator's.
SCOPES: tuple[Scope, ...] = ("evse", "location", "operator")
# A charger without a location prices on the zone new locations get by default.
DEFAULT_TIME_ZONE = "Europe/Stockholm"
# What a PATCH may change; ``currency`` is in it only to be refused with its own code.
PATCHABLE = frozenset(
    {
        "name",
        "currency",
        "price_per_kwh_minor",
        "price_per_minute_minor",
        "session_fee_minor",
        "idle_fee_per_minute_minor",
        "idle_grace_minutes",
        "vat_rate_bp",
        "min_price_minor",
        "max_price_minor",
        "hold_amount_minor",
        "bands",
        "active",
    }
)


@dataclass(frozen=True)
class ResolvedTariff:
    """The tariff in force for an EVSE, the level it was assigned at, and its terms."""

    tariff: Tariff
    scope: Scope
    terms: TariffTerms


def terms_of(tariff: Tariff, time_zone: str = "UTC") -> TariffTerms:
    """A stored tariff as pricing terms, on the clock of ``time_zone`` (the location's)."""
    return TariffTerms(
        id=tariff.id,
        version=tariff.version,
        name=tariff.name,
        currency=tariff.currency,
        price_per_kwh_minor=tariff.price_per_kwh_minor,
        price_per_minute_minor=tariff.price_per_minute_minor,
        session_fee_minor=tariff.session_fee_minor,
        idle_fee_per_minute_minor=tariff.idle_fee_per_minute_minor,
        idle_grace_minutes=tariff.idle_grace_minutes,
        vat_rate_bp=tariff.vat_rate_bp,
        min_price_minor=tariff.min_price_minor,
        max_price_minor=tariff.max_price_minor,
        hold_amount_minor=tariff.hold_amount_minor,
        time_zone=time_zone,
        bands=msgspec.convert(tariff.bands or [], tuple[TariffBand, ...]),
    )


def _store(tariff: Tariff, terms: TariffTerms) -> None:
    tariff.name = terms.name
    tariff.currency = terms.currency
    tariff.price_per_kwh_minor = terms.price_per_kwh_minor
    tariff.price_per_minute_minor = terms.price_per_minute_minor
    tariff.session_fee_minor = terms.session_fee_minor
    tariff.idle_fee_per_minute_minor = terms.idle_fee_per_minute_minor
    tariff.idle_grace_minutes = terms.idle_grace_minutes
    tariff.vat_rate_bp = terms.vat_rate_bp
    tariff.min_price_minor = terms.min_price_minor
    tariff.max_price_minor = terms.max_price_minor
    tariff.hold_amount_minor = terms.hold_amount_minor
    tariff.bands = [msgspec.to_builtins(b) for b in terms.bands]


class TariffService:
    """``tenant_id``: the operator company whose tariffs and targets an operator request may
    see and change (another's are "not found"); None is the system's own view (pricing a
    session, the demo seed)."""

    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        tenant_id: uuid.UUID | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.tenant_id = tenant_id
        self.clock = clock

    # -- tariffs -----------------------------------------------------------------------

    async def create(self, terms: TariffTerms, *, operator_id: uuid.UUID | None = None) -> Tariff:
        """Store ``terms`` (their ``id``, ``version`` and ``time_zone`` are ignored) as version 1,
        owned by the tenant (else by ``operator_id``)."""
        validate_terms(terms)
        now = self.clock()
        owner = self.tenant_id or operator_id
        tariff = Tariff(operator_id=owner, version=1, active=True, created_at=now, updated_at=now)
        _store(tariff, terms)
        self.db.add(tariff)
        await self.db.commit()
        self.bus.publish(TariffChanged(tariff_id=tariff.id, version=tariff.version, at=now))
        return tariff

    async def update(self, tariff_id: uuid.UUID, changes: Mapping[str, Any]) -> Tariff:
        """Apply the fields present in ``changes`` (PATCH); a real change bumps the version.

        Sessions already started keep the snapshot they took; only new ones see it.
        """
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise ValueError(f"not patchable: {sorted(unknown)}")
        tariff = await self.get(tariff_id, for_update=True)
        current = terms_of(tariff)
        if "currency" in changes and changes["currency"] != tariff.currency:
            # Re-denominating amounts in place would change what every assigned EVSE
            # charges by the exchange rate, silently: a new currency is a new tariff.
            raise TariffCurrencyMismatch(
                f"this tariff is in {tariff.currency}; create a new tariff for {changes['currency']}",
                field="currency",
            )
        term_changes = {k: v for k, v in changes.items() if k not in {"active", "currency"}}
        if "bands" in term_changes:
            term_changes["bands"] = tuple(term_changes["bands"])
        updated = msgspec.structs.replace(current, **term_changes)
        validate_terms(updated)
        active = changes.get("active", tariff.active)
        if updated == current and active == tariff.active:
            return tariff
        _store(tariff, updated)
        tariff.active = active
        tariff.version += 1
        tariff.updated_at = now = self.clock()
        await self.db.commit()
        self.bus.publish(TariffChanged(tariff_id=tariff.id, version=tariff.version, at=now))
        return tariff

    async def get(self, tariff_id: uuid.UUID, *, for_update: bool = False) -> Tariff:
        stmt = scoped(select(Tariff).where(Tariff.id == tariff_id), Tariff.operator_id, self.tenant_id)
        if for_update:
            # Two PATCHes at once: the second reads the first's version, none is lost.
            stmt = stmt.with_for_update()
        tariff = await self.db.scalar(stmt)
        if tariff is None:
            raise TariffNotFound()
        return tariff

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Tariff]:
        stmt = scoped(select(Tariff), Tariff.operator_id, self.tenant_id)
        stmt = stmt.order_by(Tariff.created_at, Tariff.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count(self) -> int:
        stmt = scoped(select(func.count()).select_from(Tariff), Tariff.operator_id, self.tenant_id)
        return int(await self.db.scalar(stmt) or 0)

    # -- assignments ----------------------------------------------------------------

    async def evse_pk(self, evse_id: str) -> uuid.UUID:
        """The id of the EVSE with eMI3 ID ``evse_id`` (``SE*LAD*E0001*1``), of one of the
        tenant's chargers."""
        stmt = select(Evse.id).join(ChargePoint, ChargePoint.id == Evse.charge_point_id).where(Evse.evse_id == evse_id)
        pk = await self.db.scalar(scoped(stmt, ChargePoint.operator_id, self.tenant_id))
        if pk is None:
            raise TariffTargetNotFound(f"no EVSE {evse_id!r}", field="evseId")
        return pk

    async def assign(self, scope: Scope, target_id: uuid.UUID, tariff_id: uuid.UUID) -> TariffAssignment:
        """Make ``tariff_id`` the tariff of the EVSE, location or operator ``target_id``,
        replacing the one it had. Sessions already started keep theirs. Both the tariff and
        the target must be the tenant's: another's answers as one that does not exist."""
        tariff = await self.get(tariff_id)
        if not tariff.active:
            raise TariffInactive(field="tariffId")
        await self._check_target(scope, target_id)
        assignment = await self._assignment(scope, target_id)
        now = self.clock()
        if assignment is None:
            assignment = TariffAssignment(
                scope=scope, target_id=target_id, tariff_id=tariff.id, operator_id=tariff.operator_id, assigned_at=now
            )
            self.db.add(assignment)
            try:
                await self.db.commit()
            except IntegrityError:
                # Assigned concurrently: the unique (scope, target) decided; replace it.
                await self.db.rollback()
                return await self.assign(scope, target_id, tariff_id)
        else:
            assignment.tariff_id, assignment.operator_id, assignment.assigned_at = tariff.id, tariff.operator_id, now
            await self.db.commit()
        self.bus.publish(TariffAssignmentChanged(scope=scope, target_id=target_id, tariff_id=tariff.id, at=now))
        return assignment

    async def unassign(self, scope: Scope, target_id: uuid.UUID) -> None:
        """Remove the target's own tariff: it falls back to the next level's."""
        await self._check_target(scope, target_id)
        assignment = await self._assignment(scope, target_id)
        if assignment is None:
            raise TariffAssignmentNotFound()
        await self.db.delete(assignment)
        await self.db.commit()
        self.bus.publish(TariffAssignmentChanged(scope=scope, target_id=target_id, tariff_id=None, at=self.clock()))

    async def _assignment(self, scope: Scope, target_id: uuid.UUID) -> TariffAssignment | None:
        return await self.db.scalar(
            select(TariffAssignment).where(TariffAssignment.scope == scope, TariffAssignment.target_id == target_id)
        )

    async def _check_target(self, scope: Scope, target_id: uuid.UUID) -> None:
        """TariffTargetNotFound unless the target exists and is the tenant's (an EVSE through
        its charger, a location by its operator, an operator only the tenant itself)."""
        if scope == "evse":
            stmt = select(Evse.id).join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            stmt = scoped(stmt.where(Evse.id == target_id), ChargePoint.operator_id, self.tenant_id)
        elif scope == "location":
            stmt = scoped(select(Location.id).where(Location.id == target_id), Location.operator_id, self.tenant_id)
        else:
            stmt = scoped(select(Operator.id).where(Operator.id == target_id), Operator.id, self.tenant_id)
        if await self.db.scalar(stmt) is None:
            raise TariffTargetNotFound(f"no {scope} {target_id}", field=f"{scope}Id")

    # -- resolution -------------------------------------------------------------------

    async def resolve(self, evse_id: uuid.UUID) -> TariffTerms | None:
        """The terms in force for the EVSE with id ``evse_id`` (its own tariff, else its
        location's, else its operator's), on its location's clock; None if none applies."""
        resolved = await self.resolved(evse_id)
        return resolved.terms if resolved is not None else None

    async def resolve_for(self, charge_point_id: uuid.UUID, evse_number: int) -> TariffTerms | None:
        """``resolve`` for EVSE ``evse_number`` of a charger; an EVSE the charger has not
        reported yet gets its location's or operator's tariff."""
        evse_pk = await self.db.scalar(
            select(Evse.id).where(Evse.charge_point_id == charge_point_id, Evse.evse_number == evse_number)
        )
        resolved = await self._resolve(evse_pk, charge_point_id)
        return resolved.terms if resolved is not None else None

    async def resolved(self, evse_id: uuid.UUID) -> ResolvedTariff | None:
        """``resolve`` with the stored tariff and the level it was found at."""
        stmt = select(Evse.charge_point_id).join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
        stmt = scoped(stmt.where(Evse.id == evse_id), ChargePoint.operator_id, self.tenant_id)
        charge_point_id = await self.db.scalar(stmt)
        if charge_point_id is None:
            raise TariffTargetNotFound(f"no EVSE {evse_id}", field="evseId")
        return await self._resolve(evse_id, charge_point_id)

    async def _resolve(self, evse_pk: uuid.UUID | None, charge_point_id: uuid.UUID) -> ResolvedTariff | None:
        place = (
            await self.db.execute(
                # The charger's own operator; before chargers had one, its location's.
                select(Location.id, charger_owner(), Location.time_zone)
                .select_from(ChargePoint)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(ChargePoint.id == charge_point_id)
            )
        ).one_or_none()
        location_id, operator_id, time_zone = place if place is not None else (None, None, None)
        targets = {"evse": evse_pk, "location": location_id, "operator": operator_id}
        wanted = [and_(TariffAssignment.scope == s, TariffAssignment.target_id == t) for s, t in targets.items() if t]
        if not wanted:
            return None
        rows = (
            await self.db.execute(
                select(TariffAssignment.scope, Tariff)
                .join(Tariff, Tariff.id == TariffAssignment.tariff_id)
                .where(or_(*wanted), Tariff.active.is_(True))
            )
        ).all()
        found: dict[str, Tariff] = {scope: tariff for scope, tariff in rows}
        for scope in SCOPES:
            if scope in found:
                terms = terms_of(found[scope], time_zone or DEFAULT_TIME_ZONE)
                return ResolvedTariff(tariff=found[scope], scope=scope, terms=terms)
        return None

    @staticmethod
    def snapshot(terms: TariffTerms) -> dict[str, Any]:
        """What a session keeps of its tariff (JSON-able); ``TariffTerms.from_json`` reads it."""
        return terms.to_dict()
