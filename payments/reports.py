"""Owner reports: revenue, energy and sessions per location or charger and day or month;
refunds; holds still open. JSON structs and CSV text.

Revenue of a session counts where and when the session stopped: a card-paid session with
its captured amount less what was refunded of it, a session on a fleet account with its
price (``cost_minor``, invoiced monthly). Days and months are UTC calendar days and months.

Each report is one SELECT of the rows in range, aggregated here in Python: grouping by a
day or month in SQL is spelled differently on SQLite and PostgreSQL, and a report's range
holds at most some 100k sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import utcnow
from app.core.errors import InvalidInput
from app.core.spreadsheet import to_csv
from app.sessions.models import Transaction
from payments.models import FleetToken, Payment, Refund
from payments.receipts import PAID_STATUSES

GroupBy = Literal["location", "charger"]
Period = Literal["day", "month"]
HOLDING_STATUSES = ("authorised", "capturing", "cancelling")
# A report longer than this is refused: split it.
MAX_RANGE = timedelta(days=400)


def check_range(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("from and to need a time zone (e.g. 2026-03-01T00:00:00Z)", field="from")
    if until <= since:
        raise InvalidInput("to must be after from", field="to")
    if until - since > MAX_RANGE:
        raise InvalidInput(f"a report covers at most {MAX_RANGE.days} days", field="to")


def period_key(instant: datetime, period: Period) -> str:
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if period == "day" else f"{utc:%Y-%m}"


# -- structs --------------------------------------------------------------------------------


class RevenueRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    period: str  # "2026-03-05" or "2026-03" (UTC)
    group_id: uuid.UUID | None  # the location or charge point; None: a charger at no location
    group_name: str
    currency: str
    sessions: int
    paid_sessions: int
    on_account_sessions: int
    energy_wh: int
    captured_minor: int
    refunded_minor: int
    on_account_minor: int
    revenue_minor: int  # captured - refunded + on account


class RevenueTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    sessions: int
    energy_wh: int
    captured_minor: int
    refunded_minor: int
    on_account_minor: int
    revenue_minor: int


class RevenueReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    group_by: str
    period: str
    time_zone: str  # "UTC": the clock of days and months
    rows: list[RevenueRowOut]
    totals: list[RevenueTotalOut]


class RefundRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    payment_id: uuid.UUID
    seq: int
    amount_minor: int
    currency: str
    status: str
    reason: str
    provider: str
    provider_ref: str | None
    evse_id: str
    location: str
    created_at: datetime


class AmountTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    count: int
    amount_minor: int


class RefundReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    items: list[RefundRowOut]
    totals: list[AmountTotalOut]  # succeeded refunds only


class HoldRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    payment_id: uuid.UUID
    status: str
    provider: str
    provider_ref: str | None
    currency: str
    hold_minor: int
    evse_id: str
    location: str
    transaction_id: uuid.UUID | None
    held_since: datetime
    age_seconds: int


class HoldReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    as_of: datetime
    items: list[HoldRowOut]  # oldest first
    totals: list[AmountTotalOut]


# -- aggregation (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    """One session's contribution to revenue: a card payment or an on-account price."""

    at: datetime
    location_id: uuid.UUID | None
    location_name: str
    charger_id: uuid.UUID
    charger_name: str
    currency: str
    energy_wh: float
    captured_minor: int = 0
    refunded_minor: int = 0
    on_account_minor: int = 0
    on_account: bool = False


def aggregate_revenue(rows: Iterable[SessionRow], group_by: GroupBy, period: Period) -> list[RevenueRowOut]:
    buckets: dict[tuple[str, uuid.UUID | None, str, str], dict[str, float]] = {}
    for row in rows:
        group_id, name = (
            (row.location_id, row.location_name) if group_by == "location" else (row.charger_id, row.charger_name)
        )
        b = buckets.setdefault((period_key(row.at, period), group_id, name, row.currency), {})
        b["sessions"] = b.get("sessions", 0) + 1
        b["on_account_sessions"] = b.get("on_account_sessions", 0) + (1 if row.on_account else 0)
        b["energy_wh"] = b.get("energy_wh", 0.0) + row.energy_wh
        b["captured"] = b.get("captured", 0) + row.captured_minor
        b["refunded"] = b.get("refunded", 0) + row.refunded_minor
        b["on_account"] = b.get("on_account", 0) + row.on_account_minor
    result = [
        RevenueRowOut(
            period=key,
            group_id=group_id,
            group_name=name,
            currency=currency,
            sessions=int(b["sessions"]),
            paid_sessions=int(b["sessions"] - b["on_account_sessions"]),
            on_account_sessions=int(b["on_account_sessions"]),
            energy_wh=round(b["energy_wh"]),
            captured_minor=int(b["captured"]),
            refunded_minor=int(b["refunded"]),
            on_account_minor=int(b["on_account"]),
            revenue_minor=int(b["captured"] - b["refunded"] + b["on_account"]),
        )
        for (key, group_id, name, currency), b in buckets.items()
    ]
    result.sort(key=lambda r: (r.period, r.group_name, str(r.group_id), r.currency))
    return result


def revenue_totals(rows: Sequence[RevenueRowOut]) -> list[RevenueTotalOut]:
    totals: dict[str, RevenueTotalOut] = {}
    for r in rows:
        t = totals.setdefault(
            r.currency,
            RevenueTotalOut(
                currency=r.currency,
                sessions=0,
                energy_wh=0,
                captured_minor=0,
                refunded_minor=0,
                on_account_minor=0,
                revenue_minor=0,
            ),
        )
        t.sessions += r.sessions
        t.energy_wh += r.energy_wh
        t.captured_minor += r.captured_minor
        t.refunded_minor += r.refunded_minor
        t.on_account_minor += r.on_account_minor
        t.revenue_minor += r.revenue_minor
    return [totals[c] for c in sorted(totals)]


def amount_totals(items: Iterable[tuple[str, int]]) -> list[AmountTotalOut]:
    totals: dict[str, AmountTotalOut] = {}
    for currency, amount in items:
        t = totals.setdefault(currency, AmountTotalOut(currency=currency, count=0, amount_minor=0))
        t.count += 1
        t.amount_minor += amount
    return [totals[c] for c in sorted(totals)]


# -- CSV ------------------------------------------------------------------------------------


def revenue_csv(report: RevenueReportOut) -> str:
    header = [
        "period",
        "groupId",
        "groupName",
        "currency",
        "sessions",
        "paidSessions",
        "onAccountSessions",
        "energyWh",
        "capturedMinor",
        "refundedMinor",
        "onAccountMinor",
        "revenueMinor",
    ]
    return to_csv(
        header,
        (
            [
                r.period,
                r.group_id,
                r.group_name,
                r.currency,
                r.sessions,
                r.paid_sessions,
                r.on_account_sessions,
                r.energy_wh,
                r.captured_minor,
                r.refunded_minor,
                r.on_account_minor,
                r.revenue_minor,
            ]
            for r in report.rows
        ),
    )


def refunds_csv(report: RefundReportOut) -> str:
    header = [
        "id",
        "paymentId",
        "seq",
        "amountMinor",
        "currency",
        "status",
        "reason",
        "provider",
        "providerRef",
        "evseId",
        "location",
        "createdAt",
    ]
    return to_csv(
        header,
        (
            [
                r.id,
                r.payment_id,
                r.seq,
                r.amount_minor,
                r.currency,
                r.status,
                r.reason,
                r.provider,
                r.provider_ref,
                r.evse_id,
                r.location,
                r.created_at,
            ]
            for r in report.items
        ),
    )


def holds_csv(report: HoldReportOut) -> str:
    header = [
        "paymentId",
        "status",
        "provider",
        "providerRef",
        "currency",
        "holdMinor",
        "evseId",
        "location",
        "transactionId",
        "heldSince",
        "ageSeconds",
    ]
    return to_csv(
        header,
        (
            [
                r.payment_id,
                r.status,
                r.provider,
                r.provider_ref,
                r.currency,
                r.hold_minor,
                r.evse_id,
                r.location,
                r.transaction_id,
                r.held_since,
                r.age_seconds,
            ]
            for r in report.items
        ),
    )


# -- the service ----------------------------------------------------------------------------


class ReportService:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
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
                Payment.status.in_(PAID_STATUSES),
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
            .where(Payment.status.in_(HOLDING_STATUSES))
        )
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
