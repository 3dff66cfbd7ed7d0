"""ReceiptService: a receipt built from the payment, its session, charger, location and refunds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import ReceiptNotFound
from app.billing.models import FleetToken, Invoice
from app.billing.receipts.errors import CreditNoteNotFound
from app.billing.receipts.issue import issue_documents, seller_of
from app.billing.receipts.lines import receipt_lines, vat_lines
from app.billing.receipts.models import ReceiptDocument
from app.billing.receipts.schemas import (
    CreditNoteOut,
    CreditNoteRefOut,
    ReceiptLineOut,
    ReceiptOut,
    ReceiptRefundOut,
    SellerOut,
    VatLineOut,
)
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


def _seller(doc: ReceiptDocument, operator: Operator | None) -> SellerOut:
    """The seller as the document was issued; a document issued before the tenant set its
    details names them as they are now (the receipt is not valid without them)."""
    issued = msgspec.convert(doc.seller or {}, SellerOut)
    return issued if issued.legal_name else seller_of(operator)


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
        docs = await self._documents(payment, refunds)
        receipt = docs[0]
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
            receipt_number=receipt.number,
            issued_at=receipt.issued_at,
            seller=_seller(receipt, operator),
            credit_notes=[
                CreditNoteRefOut(
                    refund_seq=d.refund_seq,
                    number=d.number,
                    issued_at=d.issued_at,
                    gross_minor=d.gross_minor,
                    vat_minor=d.vat_minor,
                )
                for seq, d in sorted(docs.items())
                if seq
            ],
        )

    async def _issued(self, payment_id: uuid.UUID) -> dict[int, ReceiptDocument]:
        rows = await self.db.scalars(select(ReceiptDocument).where(ReceiptDocument.payment_id == payment_id))
        return {d.refund_seq: d for d in rows}

    async def _documents(self, payment: Payment, refunds: Sequence[Refund]) -> dict[int, ReceiptDocument]:
        """The payment's receipt and credit notes; whatever is due and not yet issued (the
        issuer at capture or refund did not get to it) is issued now."""
        docs = await self._issued(payment.id)
        if 0 not in docs or any(r.status == "succeeded" and r.seq not in docs for r in refunds):
            await issue_documents(self.db, payment.id)
            docs = await self._issued(payment.id)
        if 0 not in docs:  # refunded to nothing in between: the payment is no longer PAID
            raise ReceiptNotFound(f"the payment is {payment.status}: only a captured payment has a receipt")
        return docs

    async def credit_note(self, payment_id: uuid.UUID, refund_seq: int) -> CreditNoteOut:
        """The credit note of a payment's refund ``refund_seq`` (1, 2, ...): issued once the
        PSP refunded; of the service's tenant's payments only."""
        payment = await self.db.get(Payment, payment_id)
        if payment is None or (self.tenant_id is not None and payment.operator_id != self.tenant_id):
            raise CreditNoteNotFound(f"no payment {payment_id}")
        if payment.status not in PAID:
            raise CreditNoteNotFound(f"the payment is {payment.status}: it took no money to refund")
        refund = await self.db.scalar(select(Refund).where(Refund.payment_id == payment.id, Refund.seq == refund_seq))
        if refund is None:
            raise CreditNoteNotFound(f"the payment has no refund {refund_seq}")
        if refund.status != "succeeded":
            raise CreditNoteNotFound(f"refund {refund_seq} is {refund.status}: its credit note is issued once refunded")
        docs = await self._documents(payment, [refund])
        doc, receipt = docs[refund_seq], docs[0]
        evse, charge_point, location = (
            await self.db.execute(
                select(Evse, ChargePoint, Location)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(Evse.id == payment.evse_id)
            )
        ).one()
        operator = await self.db.get(Operator, payment.operator_id)
        tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
        upto = [d for seq, d in docs.items() if seq <= refund_seq]
        reason = refund.reason or ""
        return CreditNoteOut(
            number=doc.number,
            issued_at=doc.issued_at,
            original_receipt_number=receipt.number,
            original_issued_at=receipt.issued_at,
            payment_id=payment.id,
            refund_seq=refund_seq,
            reason=reason,
            seller=_seller(doc, operator),
            operator_name=operator.name if operator is not None else "",
            operator_key=f"{operator.country_code}*{operator.party_id}" if operator is not None else "",
            location_name=location.name if location is not None else "",
            location_address=_address(location),
            time_zone=location.time_zone if location is not None else "UTC",
            evse_id=evse.evse_id,
            charge_point=charge_point.identity,
            transaction_number=tx.number if tx is not None else None,
            currency=doc.currency,
            lines=[
                ReceiptLineOut(
                    kind="refund",
                    description=f"Refund of receipt {receipt.number}" + (f": {reason}" if reason else ""),
                    quantity=1,
                    unit="",
                    unit_price_minor=doc.gross_minor,
                    amount_minor=doc.gross_minor,
                )
            ],
            total_minor=doc.gross_minor,
            vat=[
                VatLineOut(
                    rate_bp=doc.vat_rate_bp,
                    net_minor=doc.net_minor,
                    vat_minor=doc.vat_minor,
                    gross_minor=doc.gross_minor,
                )
            ],
            corrected_gross_minor=sum(d.gross_minor for d in upto),
            corrected_vat_minor=sum(d.vat_minor for d in upto),
        )

    async def credit_note_of_transaction(self, transaction_id: uuid.UUID, refund_seq: int) -> CreditNoteOut:
        payment_id = await self.db.scalar(select(Payment.id).where(Payment.transaction_id == transaction_id))
        if payment_id is None:
            raise CreditNoteNotFound("the session has no card payment")
        return await self.credit_note(payment_id, refund_seq)

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
