"""ReportService: the rows of each report from the database, aggregated by ``aggregate``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.models import FleetToken
from app.billing.periods import check_range
from app.billing.reports.aggregate import SessionRow, aggregate_revenue, amount_totals, revenue_totals
from app.billing.reports.schemas import (
    GroupBy,
    HoldReportOut,
    HoldRowOut,
    Period,
    RefundReportOut,
    RefundRowOut,
    RevenueReportOut,
)
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import scoped, utcnow
from app.sessions.models import Transaction
from payments.models import Payment, Refund
from payments.state import HOLDING, PAID


class ReportService:
    """``tenant_id``: the operator company whose payments, refunds, holds and sessions on its
    chargers the reports count (nothing of another's); None is the system's own view."""

    def __init__(
        self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def revenue(self, since: datetime, until: datetime, group_by: GroupBy, period: Period) -> RevenueReportOut:
        check_range(since, until)
        rows = [*await self._paid(since, until), *await self._on_account(since, until)]
        grouped = aggregate_revenue(rows, group_by, period)
        return RevenueReportOut(
            since=since,
            until=until,
            group_by=group_by,
            period=period,
            time_zone="UTC",
            rows=grouped,
            totals=revenue_totals(grouped),
        )

    async def _paid(self, since: datetime, until: datetime) -> list[SessionRow]:
        # A paid session counts when it stopped; a payment without a session (none should
        # take money) when it was settled.
        stmt = (
            select(
                Payment.captured_minor,
                Payment.refunded_minor,
                Payment.currency,
                Payment.settled_at,
                Transaction.stopped_at,
                Transaction.energy_wh,
                Transaction.cost,
                ChargePoint.id,
                ChargePoint.identity,
                Location.id,
                Location.name,
            )
            .join(Evse, Evse.id == Payment.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .outerjoin(Transaction, Transaction.id == Payment.transaction_id)
            .where(
                Payment.status.in_(PAID),
                or_(
                    and_(Transaction.stopped_at >= since, Transaction.stopped_at < until),
                    and_(
                        Transaction.stopped_at.is_(None),
                        Payment.settled_at >= since,
                        Payment.settled_at < until,
                    ),
                ),
            )
        )
        stmt = scoped(stmt, Payment.operator_id, self.tenant_id)
        result = []
        for (
            captured,
            refunded,
            currency,
            settled_at,
            stopped_at,
            energy,
            cost,
            cp_id,
            cp_name,
            loc_id,
            loc_name,
        ) in await self.db.execute(stmt):
            result.append(
                SessionRow(
                    at=stopped_at or settled_at,
                    location_id=loc_id,
                    location_name=loc_name or "",
                    charger_id=cp_id,
                    charger_name=cp_name,
                    currency=currency,
                    energy_wh=_energy(cost, energy),
                    captured_minor=captured,
                    refunded_minor=refunded,
                )
            )
        return result

    async def _on_account(self, since: datetime, until: datetime) -> list[SessionRow]:
        paid = exists().where(Payment.transaction_id == Transaction.id)
        stmt = (
            select(
                Transaction.stopped_at,
                Transaction.energy_wh,
                Transaction.cost,
                Transaction.cost_currency,
                Transaction.cost_minor,
                ChargePoint.id,
                ChargePoint.identity,
                Location.id,
                Location.name,
            )
            .join(FleetToken, FleetToken.id_token == Transaction.id_token)
            .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(
                Transaction.status == "completed",
                Transaction.cost_minor.is_not(None),
                Transaction.stopped_at >= since,
                Transaction.stopped_at < until,
                ~paid,
            )
        )
        # On account: the sessions on the tenant's own chargers.
        stmt = scoped(stmt, ChargePoint.operator_id, self.tenant_id)
        return [
            SessionRow(
                at=stopped_at,
                location_id=loc_id,
                location_name=loc_name or "",
                charger_id=cp_id,
                charger_name=cp_name,
                currency=currency or "",
                energy_wh=_energy(cost, energy),
                on_account_minor=amount or 0,
                on_account=True,
            )
            for stopped_at, energy, cost, currency, amount, cp_id, cp_name, loc_id, loc_name in await self.db.execute(
                stmt
            )
        ]

    async def refunds(self, since: datetime, until: datetime, *, status: str | None = None) -> RefundReportOut:
        """Refunds asked for in [since, until), newest first."""
        check_range(since, until)
        stmt = (
            select(Refund, Payment.currency, Payment.provider, Payment.provider_ref, Evse.evse_id, Location.name)
            .join(Payment, Payment.id == Refund.payment_id)
            .join(Evse, Evse.id == Payment.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(Refund.created_at >= since, Refund.created_at < until)
            .order_by(Refund.created_at.desc(), Refund.id)
        )
        stmt = scoped(stmt, Payment.operator_id, self.tenant_id)
        if status is not None:
            stmt = stmt.where(Refund.status == status)
        items = [
            RefundRowOut(
                id=r.id,
                payment_id=r.payment_id,
                seq=r.seq,
                amount_minor=r.amount_minor,
                currency=currency,
                status=r.status,
                reason=r.reason,
                provider=provider,
                provider_ref=r.provider_ref or provider_ref,
                evse_id=evse_id,
                location=location or "",
                created_at=r.created_at,
            )
            for r, currency, provider, provider_ref, evse_id, location in await self.db.execute(stmt)
        ]
        totals = amount_totals((i.currency, i.amount_minor) for i in items if i.status == "succeeded")
        return RefundReportOut(since=since, until=until, items=items, totals=totals)

    async def holds(self, *, older_than: timedelta = timedelta(0)) -> HoldReportOut:
        """Money still reserved on cards: payments authorised, or being captured or
        cancelled, held at least ``older_than``; oldest first."""
        now = self.clock()
        stmt = (
            select(Payment, Evse.evse_id, Location.name)
            .join(Evse, Evse.id == Payment.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(Payment.status.in_(HOLDING))
        )
        stmt = scoped(stmt, Payment.operator_id, self.tenant_id)
        items = []
        for p, evse_id, location in await self.db.execute(stmt):
            since = p.authorised_at or p.created_at
            age = now - since
            if age < older_than:
                continue
            items.append(
                HoldRowOut(
                    payment_id=p.id,
                    status=p.status,
                    provider=p.provider,
                    provider_ref=p.provider_ref,
                    currency=p.currency,
                    hold_minor=p.hold_minor,
                    evse_id=evse_id,
                    location=location or "",
                    transaction_id=p.transaction_id,
                    held_since=since,
                    age_seconds=max(0, int(age.total_seconds())),
                )
            )
        items.sort(key=lambda h: (h.held_since, str(h.payment_id)))
        return HoldReportOut(as_of=now, items=items, totals=amount_totals((h.currency, h.hold_minor) for h in items))


def _energy(cost: dict[str, object] | None, energy_wh: float | None) -> float:
    """The energy the session was billed for (the price's), else the transaction's own."""
    if cost and isinstance(cost.get("energy_wh"), int | float):
        return float(cost["energy_wh"])  # type: ignore[arg-type]
    return float(energy_wh or 0.0)
