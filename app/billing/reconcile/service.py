"""Reconciler: our captures and refunds, the PSP's settlement lines, put into units and compared."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import SettlementsUnavailable
from app.billing.periods import check_range
from app.billing.reconcile.compare import Side, Unit, compare, totals_of
from app.billing.reconcile.errors import ProviderNotConfigured
from app.billing.reconcile.schemas import EntryKind, ReconciliationOut
from app.core.database import scoped, utcnow
from payments.models import Payment, Refund
from payments.provider import ProviderError, SettlementLine
from payments.registry import PaymentsNotConfigured, Providers
from payments.state import PAID

DEFAULT_SLACK = timedelta(days=1)


class Reconciler:
    """``tenant_id``: reconcile only that operator company's payments. A PSP account may be
    shared by the platform's tenants, so a tenant never sees the settlement lines of
    another's payments; a line that names no payment of ours at all stays in (an "extra"
    the tenant can raise). None is the platform's whole view."""

    def __init__(
        self,
        db: AsyncSession,
        providers: Providers,
        *,
        tenant_id: uuid.UUID | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.providers = providers
        self.tenant_id = tenant_id
        self.clock = clock

    async def run(
        self, provider_name: str, since: datetime, until: datetime, *, slack: timedelta = DEFAULT_SLACK
    ) -> ReconciliationOut:
        check_range(since, until)
        try:
            provider = self.providers.get(provider_name)
        except PaymentsNotConfigured as err:
            raise ProviderNotConfigured(f"{provider_name}: not configured on this instance") from err
        lo, hi = since - slack, until + slack
        try:
            lines = await provider.settlements(lo, hi)
        except ProviderError as err:
            raise SettlementsUnavailable(f"{provider_name}: {err.message}") from err
        units = await self._units(provider_name, lines, lo, hi)
        matched, mismatches = compare(units, since, until)
        return ReconciliationOut(
            provider=provider_name,
            since=since,
            until=until,
            ran_at=self.clock(),
            matched=matched,
            mismatches=mismatches,
            totals=totals_of(units, since, until),
        )

    async def _units(self, provider: str, lines: Sequence[SettlementLine], lo: datetime, hi: datetime) -> list[Unit]:
        units: dict[tuple[EntryKind, str], Unit] = {}

        def unit(entry: EntryKind, payment: Payment | None, ref: str | None) -> Unit:
            key = str(payment.id) if payment is not None else f"ref:{ref}"
            return units.setdefault(
                (entry, key),
                Unit(entry=entry, payment_id=payment.id if payment is not None else None, provider_ref=ref),
            )

        # Ours: captures settled, and refunds that went through, in the widened range.
        captured = await self.db.scalars(
            scoped(
                select(Payment).where(
                    Payment.provider == provider,
                    Payment.status.in_(PAID),
                    Payment.captured_minor > 0,
                    Payment.settled_at >= lo,
                    Payment.settled_at < hi,
                ),
                Payment.operator_id,
                self.tenant_id,
            )
        )
        for p in captured:
            u = unit("capture", p, p.provider_ref)
            u.ours = u.ours or Side()
            u.ours.add(p.captured_minor, p.currency, p.capture_confirmed_at or p.settled_at)
        refunds = (
            select(Refund, Payment)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Payment.provider == provider,
                Refund.status == "succeeded",
                Refund.created_at >= lo,
                Refund.created_at < hi,
            )
        )
        refunds = scoped(refunds, Payment.operator_id, self.tenant_id)
        refunded = await self.db.execute(refunds)
        for r, p in refunded:
            u = unit("refund", p, p.provider_ref)
            u.ours = u.ours or Side()
            u.ours.add(-r.amount_minor, p.currency, r.created_at, r.provider_ref)

        # Theirs, each line put with the payment it names.
        payments = await self._payments_of(provider, lines)
        for line in lines:
            payment = (payments.get(str(line.payment_id)) if line.payment_id else None) or payments.get(
                f"ref:{line.provider_ref}"
            )
            if self.tenant_id is not None and payment is not None and payment.operator_id != self.tenant_id:
                continue  # another operator company's money: not this tenant's to see
            u = unit(line.kind, payment, line.provider_ref)
            u.psp = u.psp or Side()
            u.psp.add(line.amount_minor, line.currency, line.occurred_at, line.line_ref, line.fee_minor)
            if payment is not None and u.ours is None:
                u.our_status = payment.status
        return list(units.values())

    async def _payments_of(self, provider: str, lines: Sequence[SettlementLine]) -> dict[str, Payment]:
        """Our payments the lines name, by "<id>" and by "ref:<provider_ref>"."""
        ids = {line.payment_id for line in lines if line.payment_id is not None}
        refs = {line.provider_ref for line in lines if line.provider_ref}
        found: dict[str, Payment] = {}
        if not ids and not refs:
            return found
        # Chunks keep the IN lists well under every driver's parameter limit.
        id_list, ref_list = sorted(ids, key=str), sorted(refs)
        for i in range(0, max(len(id_list), len(ref_list)), 500):
            conditions = []
            if id_list[i : i + 500]:
                conditions.append(Payment.id.in_(id_list[i : i + 500]))
            if ref_list[i : i + 500]:
                conditions.append(Payment.provider_ref.in_(ref_list[i : i + 500]))
            rows = await self.db.scalars(select(Payment).where(Payment.provider == provider, or_(*conditions)))
            for p in rows:
                found[str(p.id)] = p
                if p.provider_ref:
                    found[f"ref:{p.provider_ref}"] = p
        return found
