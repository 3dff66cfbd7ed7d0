"""``/console/money``: payments with their history, receipts and credit notes, refunds
(finance and administrators), and the charging sessions.

The handlers call the operator API's services through its own providers
(``provide_payments``, ``provide_operator_receipts``, ``provide_transactions``): the same
tenant scope, the same checks, the same errors. Revenue, invoices and reconciliation are in
``money_reports.py``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

import app.console.pages.money_texts  # noqa: F401 (the pages' texts)
from app.billing.payment_controllers import provide_payments
from app.billing.receipts.controllers import (
    RefundSeq,
    credit_note_response,
    provide_operator_receipts,
    receipt_response,
)
from app.billing.receipts.issue import issue_documents
from app.billing.receipts.service import ReceiptService
from app.console.audit import unchanged
from app.console.render import render
from app.core.auth import Caller, can_bill
from app.core.errors import DomainError, InvalidInput
from app.core.http import PageParams
from app.sessions.controllers import provide_transactions
from app.sessions.service import TransactionService
from app.tariffs.pricing import MAX_AMOUNT_MINOR, currency_exponent
from payments import state as payment_state
from payments.models import Payment
from payments.service import PaymentService

PAGE_SIZE = 25
PAYMENT_STATUSES = (
    payment_state.AUTHORISED,
    payment_state.CAPTURING,
    payment_state.CAPTURED,
    payment_state.PARTIALLY_REFUNDED,
    payment_state.REFUNDED,
    payment_state.CANCELLING,
    payment_state.CANCELLED,
    payment_state.FAILED,
)
REFUNDABLE = frozenset({payment_state.CAPTURED, payment_state.PARTIALLY_REFUNDED})
MAX_REASON = 255


def paged(page: PageParams) -> PageParams:
    """The console's pages are short (a phone's screen): at most ``PAGE_SIZE`` rows."""
    return PageParams(limit=min(page.limit, PAGE_SIZE), offset=page.offset)


def parse_amount(text: str, currency: str) -> int | None:
    """``"12.50"`` or ``"12,50"`` SEK -> 1250 (minor units); empty -> None (everything left).
    ValueError for anything else: not a number, too many decimals, not positive, absurd."""
    text = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not text:
        return None
    try:
        major = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    minor = major.scaleb(currency_exponent(currency))
    if not minor.is_finite() or minor != minor.to_integral_value() or not 1 <= minor <= MAX_AMOUNT_MINOR:
        raise ValueError(text)
    return int(minor)


async def _payment_page(
    request: Request[Any, Any, Any],
    payments: PaymentService,
    payment_id: uuid.UUID,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    payment = await payments.get(payment_id)  # first: another tenant's is a 404, nothing read
    refunds = list(await payments.refunds(payment_id))
    return render(
        request,
        "console/money/payment.html",
        nav="money",
        status_code=status_code,
        section="payments",
        payment=payment,
        transitions=list(await payments.history(payment_id)),
        refunds=refunds,
        refundable=payment.status in REFUNDABLE,
        left_minor=payment.captured_minor - payment.refunded_minor,
        has_receipt=payment.status in payment_state.PAID,
        **context,
    )


class MoneyController(Controller):
    path = "/console/money"
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "payments": Provide(provide_payments, sync_to_thread=False),
        "receipts": Provide(provide_operator_receipts, sync_to_thread=False),
        "transactions": Provide(provide_transactions, sync_to_thread=False),
    }

    @get("/", name="console:money")
    async def payments_list(
        self,
        request: Request[Any, Any, Any],
        payments: NamedDependency[PaymentService],
        page: NamedDependency[PageParams],
        status: FromQuery[str | None] = None,
    ) -> Template:
        status = status if status in PAYMENT_STATUSES else None
        page = paged(page)
        rows, total = await payments.search(status=status, limit=page.limit, offset=page.offset)
        return render(
            request,
            "console/money/payments.html",
            nav="money",
            section="payments",
            rows=rows,
            total=total,
            page=page,
            status=status,
            statuses=PAYMENT_STATUSES,
        )

    @get("/payments/{payment_id:uuid}", name="console:payment")
    async def payment(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[uuid.UUID],
        payments: NamedDependency[PaymentService],
    ) -> Template:
        return await _payment_page(request, payments, payment_id, done_seq=request.query_params.get("refunded"))

    @post(
        "/payments/{payment_id:uuid}/refunds",
        name="console:refund",
        operation_id="RefundPayment",
        guards=[can_bill],
        status_code=200,
    )
    async def refund(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[uuid.UUID],
        payments: NamedDependency[PaymentService],
        caller: NamedDependency[Caller],
    ) -> Template | Redirect:
        """Two steps, as the API's refund is one: the form's amount and reason are checked and
        shown for confirmation; the confirmed form refunds, then the payment page shows it."""
        form = await request.form()
        payment: Payment = await payments.get(payment_id)
        amount_text = str(form.get("amount") or "")[:32]
        reason = str(form.get("reason") or "")[:MAX_REASON]
        form_values = {"amount": amount_text, "reason": reason}
        try:
            amount = parse_amount(amount_text, payment.currency)
        except ValueError:
            return await _payment_page(
                request, payments, payment_id, status_code=422, form=form_values, amount_error="money.amount_invalid"
            )
        left = payment.captured_minor - payment.refunded_minor
        if form.get("confirm") != "yes":
            if payment.status not in REFUNDABLE:  # a stale page: nothing to confirm
                return await _payment_page(
                    request, payments, payment_id, status_code=409, problem_key="money.refund_not_allowed"
                )
            if (amount or left) > left:
                # What the service would refuse: said now, next to the field, before confirming.
                problem = f"the amount must be 1..{left} ({payment.currency} minor units)"
                return await _payment_page(
                    request, payments, payment_id, status_code=422, form=form_values, amount_problem=problem
                )
            unchanged(request)
            return render(
                request,
                "console/money/confirm_refund.html",
                nav="money",
                section="payments",
                payment=payment,
                amount_minor=amount if amount is not None else left,
                form=form_values,
            )
        by = caller.id if caller.kind == "user" else None
        try:
            refund = await payments.refund(payment_id, amount, reason=reason, by=by)
        except InvalidInput as err:
            return await _payment_page(
                request, payments, payment_id, status_code=422, form=form_values, amount_problem=err.detail
            )
        except DomainError as err:
            if err.status == 404:
                raise
            return await _payment_page(
                request, payments, payment_id, status_code=err.status, form=form_values, problem=err.detail
            )
        await issue_documents(payments.db, payment_id)  # the refund's credit note, once the PSP refunded
        return Redirect(f"/console/money/payments/{payment_id}?refunded={refund.seq}", status_code=303)

    @get("/payments/{payment_id:uuid}/receipt.html", name="console:receipt-html")
    async def receipt_html(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "html")

    @get("/payments/{payment_id:uuid}/receipt.pdf", name="console:receipt-pdf")
    async def receipt_pdf(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "pdf")

    @get("/payments/{payment_id:uuid}/refunds/{refund_seq:int}/credit-note.html", name="console:credit-note-html")
    async def credit_note_html(
        self, payment_id: FromPath[uuid.UUID], refund_seq: RefundSeq, receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return credit_note_response(await receipts.credit_note(payment_id, refund_seq), "html")

    @get("/payments/{payment_id:uuid}/refunds/{refund_seq:int}/credit-note.pdf", name="console:credit-note-pdf")
    async def credit_note_pdf(
        self, payment_id: FromPath[uuid.UUID], refund_seq: RefundSeq, receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return credit_note_response(await receipts.credit_note(payment_id, refund_seq), "pdf")

    @get("/sessions", name="console:money-sessions")
    async def sessions(
        self,
        request: Request[Any, Any, Any],
        transactions: NamedDependency[TransactionService],
        payments: NamedDependency[PaymentService],
        page: NamedDependency[PageParams],
        status: FromQuery[str | None] = None,
    ) -> Template:
        status = status if status in ("active", "completed") else None
        page = paged(page)
        rows = await transactions.list_with_identities(status=status, limit=page.limit, offset=page.offset)
        paid = {tx.id: await payments.for_transaction(tx.id) for tx, _ in rows}
        return render(
            request,
            "console/money/sessions.html",
            nav="money",
            section="sessions",
            rows=rows,
            paid=paid,
            total=await transactions.count(status=status),
            page=page,
            status=status,
            statuses=("active", "completed"),
        )
