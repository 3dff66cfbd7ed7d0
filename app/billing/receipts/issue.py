"""Issuing receipts and credit notes: each gets the next number of its tenant's gapless
series in the very transaction that records it.

A receipt is issued when the payment is captured (``ReceiptMailer`` on ``payment.settled``),
a credit note when a refund is made (the refund endpoint); any document still due (a
refund the PSP completed later by notification, a crash in between) is issued the first
time the receipt or the credit note is read. Issuing twice issues nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.invoices.numbering import DocumentKind, document_counter_name, document_number
from app.billing.receipts.models import ReceiptDocument
from app.billing.receipts.schemas import SellerOut
from app.core.database import next_number, utcnow
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import vat_of
from payments.models import Payment, Refund
from payments.state import PAID


def seller_of(operator: Operator | None) -> SellerOut:
    """The seller as a receipt names it; "" for what the tenant has not set."""
    if operator is None:
        return SellerOut()
    return SellerOut(
        legal_name=operator.legal_name or "",
        street_address=operator.street_address or "",
        postal_code=operator.postal_code or "",
        city=operator.city or "",
        country=operator.country or "",
        vat_number=operator.vat_number or "",
        org_number=operator.org_number or "",
        contact_email=operator.contact_email or "",
    )


async def vat_rate_of(db: AsyncSession, payment: Payment) -> int:
    """The VAT rate the session was priced with (else the one agreed with the hold)."""
    if payment.transaction_id is not None:
        cost = await db.scalar(select(Transaction.cost).where(Transaction.id == payment.transaction_id))
        if cost is not None:
            return int(cost.get("vat_rate_bp", 0))
    return int(payment.tariff_snapshot.get("vat_rate_bp", 0))


async def issue_documents(db: AsyncSession, payment_id: uuid.UUID, *, clock: Callable[[], datetime] = utcnow) -> int:
    """Issue what is due for a payment: its receipt once it took money and a credit note for
    each refund the PSP completed. Commits; returns how many documents it issued.

    The payment row is locked first, so two issuers of one payment take turns and the second
    finds the documents issued; the numbers come from the counter row (locked to the commit),
    so the series has no gap and no duplicate whatever rolls back or runs at once.
    """
    try:
        return await _issue(db, payment_id, clock)
    except IntegrityError:
        # SQLite has no row lock: an issuer that raced us inserted first. The rollback gave
        # our numbers back; the second pass finds its documents (or raises what else broke).
        await db.rollback()
    return await _issue(db, payment_id, clock)


async def _issue(db: AsyncSession, payment_id: uuid.UUID, clock: Callable[[], datetime]) -> int:
    payment = await db.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    if payment is None or payment.status not in PAID:
        await db.commit()  # nothing written: releases the lock
        return 0
    issued = {
        d.refund_seq: d
        for d in await db.scalars(select(ReceiptDocument).where(ReceiptDocument.payment_id == payment.id))
    }
    refunds = (
        await db.scalars(
            select(Refund).where(Refund.payment_id == payment.id, Refund.status == "succeeded").order_by(Refund.seq)
        )
    ).all()
    due = [r for r in refunds if r.seq not in issued]
    if 0 in issued and not due:
        await db.commit()
        return 0
    operator = await db.get(Operator, payment.operator_id)
    if operator is None:  # the foreign key says otherwise
        await db.commit()
        return 0
    rate = await vat_rate_of(db, payment)
    seller: dict[str, Any] = msgspec.to_builtins(seller_of(operator))
    now = clock()
    count = 0

    async def add(kind: DocumentKind, seq: int, gross: int, vat: int) -> ReceiptDocument:
        sequence = await next_number(db, document_counter_name(kind, operator.id, now.year))
        doc = ReceiptDocument(
            operator_id=operator.id,
            payment_id=payment.id,
            refund_seq=seq,
            kind=kind,
            number=document_number(kind, operator.party_id, now.year, sequence),
            sequence=sequence,
            issued_at=now,
            currency=payment.currency,
            vat_rate_bp=rate,
            gross_minor=gross,
            vat_minor=vat,
            net_minor=gross - vat,
            seller=seller,
        )
        db.add(doc)
        return doc

    if 0 not in issued:
        issued[0] = await add("receipt", 0, payment.captured_minor, vat_of(payment.captured_minor, rate))
        count += 1
    receipt = issued[0]
    credited_gross = sum(d.gross_minor for s, d in issued.items() if s)
    credited_vat = sum(d.vat_minor for s, d in issued.items() if s)
    for refund in due:
        credited_gross -= refund.amount_minor
        if receipt.gross_minor + credited_gross == 0:
            # The last of the refunds: it credits the VAT still standing, so the receipt and
            # its credit notes add up to nothing, VAT included, whatever the rounding before.
            vat = -(receipt.vat_minor + credited_vat)
        else:
            vat = -vat_of(refund.amount_minor, receipt.vat_rate_bp)
        credited_vat += vat
        issued[refund.seq] = await add("credit_note", refund.seq, -refund.amount_minor, vat)
        count += 1
    await db.commit()
    return count
