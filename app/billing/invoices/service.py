"""InvoiceService: issue an account's invoice of a month, read invoices back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import msgspec
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import (
    FleetAccountNotFound,
    InvoiceCurrencyMismatch,
    InvoiceNotFound,
    InvoicePeriodOpen,
    NothingToInvoice,
)
from app.billing.invoices.numbering import counter_name, invoice_number
from app.billing.invoices.schemas import InvoiceLineOut, InvoiceOut, InvoicePartyOut
from app.billing.invoices.vat import vat_summary
from app.billing.models import FleetAccount, FleetToken, Invoice
from app.billing.periods import month_period, utc_midnight
from app.chargers.models import ChargePoint, Evse, Location, charger_owner
from app.core.database import next_number, scoped, utcnow
from app.operators.models import Operator
from app.sessions.models import Transaction
from payments.models import Payment


class InvoiceService:
    """``tenant_id``: the operator company whose accounts and invoices an operator request
    may see and issue (another's are not found); None is the system's own view."""

    def __init__(
        self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def issue(self, account_id: uuid.UUID, month: str, *, notes: str = "") -> tuple[Invoice, bool]:
        """The account's invoice of ``month`` ("YYYY-MM"); ``created`` is False when it had
        been issued before (the same invoice comes back, whatever ``notes`` say now)."""
        start, end = month_period(month)
        stmt = select(FleetAccount).where(FleetAccount.id == account_id)
        account = await self.db.scalar(scoped(stmt, FleetAccount.operator_id, self.tenant_id))
        if account is None:
            raise FleetAccountNotFound()
        existing = await self._existing(account_id, start)
        if existing is not None:
            return existing, False
        now = self.clock()
        if utc_midnight(end) > now:
            raise InvoicePeriodOpen(f"{month} ends {end.isoformat()} 00:00 UTC; issue its invoice after that")
        lines = await self._lines(account, start, end)
        if not lines:
            raise NothingToInvoice(f"{account.name} has no completed, priced sessions that stopped in {month} (UTC)")
        foreign = sorted({cur for cur, _ in lines if cur != account.currency})
        if foreign:
            raise InvoiceCurrencyMismatch(
                f"the account is billed in {account.currency}; sessions of {month} are priced in {', '.join(foreign)}"
            )
        operator = await self.db.get(Operator, account.operator_id)
        if operator is None:  # the foreign key says otherwise
            raise FleetAccountNotFound("the account's operator is gone")
        items = [line for _, line in lines]
        vat = vat_summary(items)
        sequence = await next_number(self.db, counter_name(operator.id, now.year))
        invoice = Invoice(
            operator_id=operator.id,
            fleet_account_id=account.id,
            number=invoice_number(operator.party_id, now.year, sequence),
            period_start=start,
            period_end=end,
            currency=account.currency,
            net_minor=sum(v.net_minor for v in vat),
            vat_minor=sum(v.vat_minor for v in vat),
            total_minor=sum(v.total_minor for v in vat),
            lines=[msgspec.to_builtins(line) for line in items],
            issued_at=now,
            due_on=now.date() + timedelta(days=account.payment_terms_days),
            notes=notes,
        )
        self.db.add(invoice)
        try:
            await self.db.commit()
        except IntegrityError:
            # Issued concurrently: the rollback also gives the number back.
            await self.db.rollback()
            existing = await self._existing(account_id, start)
            if existing is None:
                raise
            return existing, False
        return invoice, True

    async def _existing(self, account_id: uuid.UUID, start: date) -> Invoice | None:
        result: Invoice | None = await self.db.scalar(
            select(Invoice).where(Invoice.fleet_account_id == account_id, Invoice.period_start == start)
        )
        return result

    async def _lines(self, account: FleetAccount, start: date, end: date) -> list[tuple[str, InvoiceLineOut]]:
        """(currency, line) of every session to invoice, in the order they stopped."""
        paid = exists().where(Payment.transaction_id == Transaction.id)
        rows = await self.db.execute(
            select(Transaction, Evse.evse_id, ChargePoint.identity, Location.name)
            .join(FleetToken, FleetToken.id_token == Transaction.id_token)
            .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .outerjoin(
                Evse,
                and_(Evse.charge_point_id == Transaction.charge_point_id, Evse.evse_number == Transaction.evse_number),
            )
            .where(
                FleetToken.fleet_account_id == account.id,
                # Only sessions on the account operator's own chargers: another operator
                # company's are its revenue, and its sessions are not ours to show.
                charger_owner() == account.operator_id,
                Transaction.status == "completed",
                Transaction.cost_minor.is_not(None),
                Transaction.stopped_at >= utc_midnight(start),
                Transaction.stopped_at < utc_midnight(end),
                ~paid,
            )
            .order_by(Transaction.stopped_at, Transaction.number)
        )
        result = []
        for tx, evse_id, identity, location in rows:
            gross = tx.cost_minor or 0
            vat = tx.cost_vat_minor or 0
            rate = _vat_rate(tx)
            result.append(
                (
                    tx.cost_currency or account.currency,
                    InvoiceLineOut(
                        transaction_id=tx.id,
                        transaction_number=tx.number,
                        id_token=tx.id_token or "",
                        evse_id=evse_id or f"{identity}/{tx.evse_number}",
                        location=location or "",
                        started_at=tx.started_at,
                        stopped_at=tx.stopped_at or tx.started_at,  # never None: filtered above
                        energy_wh=round(float((tx.cost or {}).get("energy_wh", tx.energy_wh)), 3),
                        vat_rate_bp=rate,
                        net_minor=gross - vat,
                        vat_minor=vat,
                        total_minor=gross,
                    ),
                )
            )
        return result

    async def get(self, invoice_id: uuid.UUID) -> Invoice:
        invoice = await self.db.scalar(
            scoped(select(Invoice).where(Invoice.id == invoice_id), Invoice.operator_id, self.tenant_id)
        )
        if invoice is None:
            raise InvoiceNotFound()
        return invoice

    async def search(
        self, *, fleet_account_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[Invoice], int]:
        stmt = scoped(select(Invoice), Invoice.operator_id, self.tenant_id)
        count = scoped(select(func.count()).select_from(Invoice), Invoice.operator_id, self.tenant_id)
        if fleet_account_id is not None:
            stmt = stmt.where(Invoice.fleet_account_id == fleet_account_id)
            count = count.where(Invoice.fleet_account_id == fleet_account_id)
        rows = await self.db.scalars(
            stmt.order_by(Invoice.issued_at.desc(), Invoice.number.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(await self.db.scalar(count) or 0)

    async def out(self, invoice: Invoice) -> InvoiceOut:
        account = await self.db.get(FleetAccount, invoice.fleet_account_id)
        operator = await self.db.get(Operator, invoice.operator_id)
        lines = [msgspec.convert(line, InvoiceLineOut) for line in invoice.lines]
        return InvoiceOut(
            id=invoice.id,
            number=invoice.number,
            operator_id=invoice.operator_id,
            fleet_account_id=invoice.fleet_account_id,
            seller=InvoicePartyOut(name=operator.name if operator is not None else ""),
            buyer=InvoicePartyOut(
                name=account.name,
                organisation_number=account.organisation_number,
                vat_number=account.vat_number,
                address=account.address,
                email=account.billing_email,
            )
            if account is not None
            else InvoicePartyOut(name=""),
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            time_zone="UTC",
            currency=invoice.currency,
            net_minor=invoice.net_minor,
            vat_minor=invoice.vat_minor,
            total_minor=invoice.total_minor,
            vat=vat_summary(lines),
            lines=lines,
            issued_at=invoice.issued_at,
            due_on=invoice.due_on,
            notes=invoice.notes,
        )


def _vat_rate(tx: Transaction) -> int:
    for source in (tx.cost, tx.tariff_snapshot):
        if source and "vat_rate_bp" in source:
            return int(source["vat_rate_bp"])
    return 0
