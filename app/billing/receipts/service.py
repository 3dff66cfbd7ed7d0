"""ReceiptService: a receipt built from the payment, its session, charger, location and refunds."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import ReceiptNotFound
from app.billing.models import FleetToken, Invoice
from app.billing.receipts.lines import receipt_lines, vat_lines
from app.billing.receipts.schemas import ReceiptOut, ReceiptRefundOut
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import scoped
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import Price
from payments.models import Payment, Refund
from payments.provider import ProviderError
from payments.registry import PaymentsNotConfigured, Providers
from payments.state import PAID


def _address(loc: Location | None) -> str:
    if loc is None:
        return ""
    town = " ".join(p for p in (loc.postal_code, loc.city) if p)
    return ", ".join(p for p in (loc.address, town) if p)


class ReceiptService:
    """Builds receipts from the database; ``providers`` (optional) fills in a card's brand
    and last four when the PSP never reported them in a notification."""

    def __init__(
        self, db: AsyncSession, providers: Providers | None = None, *, tenant_id: uuid.UUID | None = None
    ) -> None:
        """``tenant_id``: only that operator company's payments and sessions have receipts
        here (another's are not found); None for the driver's and the checkout's own views."""
        self.db = db
        self.providers = providers
        self.tenant_id = tenant_id

    async def for_payment(self, payment_id: uuid.UUID) -> ReceiptOut:
        payment = await self.db.scalar(
            scoped(select(Payment).where(Payment.id == payment_id), Payment.operator_id, self.tenant_id)
        )
        if payment is None:
            raise ReceiptNotFound(f"no payment {payment_id}")
        return await self._build(payment)

    async def for_transaction(self, transaction_id: uuid.UUID) -> ReceiptOut:
        """The receipt of a session's payment; a session on a fleet account has none (its
        invoice is the document)."""
        payment = await self.db.scalar(
            scoped(select(Payment).where(Payment.transaction_id == transaction_id), Payment.operator_id, self.tenant_id)
        )
        if payment is not None:
            return await self._build(payment)
        tx = await self.db.scalar(
            scoped(
                select(Transaction)
                .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
                .where(Transaction.id == transaction_id),
                ChargePoint.operator_id,
                self.tenant_id,
            )
        )
        if tx is None:
            raise ReceiptNotFound(f"no transaction {transaction_id}")
        if tx.id_token is not None:
            account_id = await self.db.scalar(
                select(FleetToken.fleet_account_id).where(FleetToken.id_token == tx.id_token)
            )
            if account_id is not None:
                number = None
                if tx.stopped_at is not None:
                    month = tx.stopped_at.date().replace(day=1)
                    number = await self.db.scalar(
                        select(Invoice.number).where(
                            Invoice.fleet_account_id == account_id, Invoice.period_start == month
                        )
                    )
                where = f"invoice {number}" if number else "the account's monthly invoice"
                raise ReceiptNotFound(f"the session is charged on a fleet account: it is a line of {where}")
        raise ReceiptNotFound("the session has no card payment")

    async def _build(self, payment: Payment) -> ReceiptOut:
        if payment.status not in PAID:
            raise ReceiptNotFound(f"the payment is {payment.status}: only a captured payment has a receipt")
        row = (
            await self.db.execute(
                select(Evse, ChargePoint, Location)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(Evse.id == payment.evse_id)
            )
        ).one()
        evse, charge_point, location = row
        operator = await self.db.get(Operator, payment.operator_id)
        tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
        price = msgspec.convert(tx.cost, Price) if tx is not None and tx.cost is not None else None
        refunds = (
            await self.db.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.seq))
        ).all()
        rate = price.vat_rate_bp if price is not None else int(payment.tariff_snapshot.get("vat_rate_bp", 0))
        brand, last4, wallet = await self._method(payment)
        return ReceiptOut(
            payment_id=payment.id,
            transaction_id=payment.transaction_id,
            transaction_number=tx.number if tx is not None else None,
            operator_name=operator.name if operator is not None else "",
            operator_key=f"{operator.country_code}*{operator.party_id}" if operator is not None else "",
            location_name=location.name if location is not None else "",
            location_address=_address(location),
            time_zone=location.time_zone if location is not None else "UTC",
            evse_id=evse.evse_id,
            charge_point=charge_point.identity,
            started_at=tx.started_at if tx is not None else None,
            stopped_at=tx.stopped_at if tx is not None else None,
            energy_wh=price.energy_wh if price is not None else (tx.energy_wh if tx is not None else 0.0),
            charging_seconds=price.charging_seconds if price is not None else 0.0,
            idle_seconds=price.idle_seconds if price is not None else 0.0,
            tariff_name=str(payment.tariff_snapshot.get("name") or ""),
            currency=payment.currency,
            lines=receipt_lines(price, payment.captured_minor),
            price_minor=price.total_minor if price is not None else (payment.amount_due_minor or 0),
            captured_minor=payment.captured_minor,
            refunded_minor=payment.refunded_minor,
            paid_minor=payment.captured_minor - payment.refunded_minor,
            vat=vat_lines(payment.captured_minor, rate),
            refunds=[
                ReceiptRefundOut(amount_minor=r.amount_minor, status=r.status, created_at=r.created_at) for r in refunds
            ],
            payment_status=payment.status,
            provider=payment.provider,
            method_brand=brand,
            method_last4=last4,
            method_wallet=wallet,
            captured_at=payment.capture_confirmed_at or payment.settled_at,
        )

    async def _method(self, payment: Payment) -> tuple[str | None, str | None, str | None]:
        brand, last4, wallet = payment.method_brand, payment.method_last4, payment.method_wallet
        if (brand or last4) or self.providers is None or payment.provider_ref is None:
            return brand, last4, wallet
        try:
            method = await self.providers.get(payment.provider).payment_method(payment.provider_ref)
        except (ProviderError, PaymentsNotConfigured):
            # The receipt without the card is better than no receipt.
            return brand, last4, wallet
        if method is None:
            return brand, last4, wallet
        return method.brand, method.last4, method.wallet or wallet
