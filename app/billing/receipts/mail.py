"""The receipt by e-mail, to whoever gave an address (the web checkout's optional field, an
app user's account), once the payment is captured; sent through the notify outbox."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.receipts.issue import issue_documents
from app.billing.receipts.render import render_receipt_html, seller_lines
from app.billing.receipts.schemas import ReceiptOut
from app.billing.receipts.service import ReceiptService
from app.core.bus import Bus, Event
from app.notify.outbox import MailWorker, Outbox
from app.tariffs.pricing import format_minor
from payments.events import PaymentSettled
from payments.models import Payment
from payments.registry import Providers

log = logging.getLogger("laddnat.mail")


class ReceiptMailer:
    def __init__(
        self, maker: async_sessionmaker[AsyncSession], bus: Bus, providers: Providers, worker: MailWorker
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.providers = providers
        self.worker = worker

    def subscribe(self) -> None:
        self.bus.subscribe(PaymentSettled.subject, self._on_settled, group="receipts")

    async def _on_settled(self, event: Event) -> None:
        assert isinstance(event, PaymentSettled)
        if event.status != "captured":
            return
        # The receipt is issued (numbered) at capture, whether or not anyone is mailed.
        async with self.maker() as db:
            await issue_documents(db, event.payment_id)
        if await self.enqueue(event.payment_id):
            self.worker.poke()

    async def enqueue(self, payment_id: object) -> bool:
        """Queue the receipt of a captured payment with an e-mail address; once per payment."""
        async with self.maker() as db:
            payment = await db.get(Payment, payment_id)
            if payment is None or not payment.payer_email or payment.status != "captured":
                return False
            receipt = await ReceiptService(db, self.providers).for_payment(payment.id)
            queued = await Outbox(db).enqueue(
                kind="receipt",
                key=f"receipt:{payment.id}",
                to=payment.payer_email,
                subject=f"Your charging receipt: {format_minor(receipt.captured_minor, receipt.currency)}",
                text=receipt_text(receipt),
                html=render_receipt_html(receipt),
            )
            await db.commit()
            return queued


def receipt_text(r: ReceiptOut) -> str:
    money = lambda amount: format_minor(amount, r.currency)  # noqa: E731 (one line, used below)
    lines = [
        f"Receipt {r.receipt_number} (simplified VAT invoice) from {r.operator_name}",
        *seller_lines(r.seller),
        f"Date of issue: {r.issued_at:%Y-%m-%d}",
        f"{r.location_name}, {r.location_address}".rstrip(", "),
        f"Charger {r.evse_id}",
        f"Energy: {r.energy_wh / 1000:.2f} kWh",
        "",
        *[f"{line.description}: {money(line.amount_minor)}" for line in r.lines],
        "",
        f"Charged: {money(r.captured_minor)}",
        *[f"VAT {v.rate_bp / 100:g}%: {money(v.vat_minor)} of {money(v.gross_minor)}" for v in r.vat],
    ]
    if r.method_brand or r.method_last4:
        lines.append(f"Paid with {r.method_brand or 'card'} ending {r.method_last4 or '....'}")
    return "\n".join(lines) + "\n"
