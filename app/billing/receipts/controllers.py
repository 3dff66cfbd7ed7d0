"""HTTP: receipts for operators (by payment or session, ``/api/v1/operator/...``); drivers
get those of their own sessions from the driver app (app/driver_app/receipt_controllers.py).

A receipt comes as JSON at the resource path and as a file at a last segment that reads
like a file name: ``.../receipt`` (JSON), ``.../receipt.html``, ``.../receipt.pdf``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import ReceiptNotFound
from app.billing.files import HTML, PDF, file_response
from app.billing.receipts.errors import CreditNoteNotFound
from app.billing.receipts.render import (
    credit_note_filename,
    receipt_filename,
    render_credit_note_html,
    render_credit_note_pdf,
    render_receipt_html,
    render_receipt_pdf,
)
from app.billing.receipts.schemas import CreditNoteOut, ReceiptOut
from app.billing.receipts.service import ReceiptService
from app.core.auth import OPERATOR_PROBLEMS
from app.core.http import problems


def receipt_response(receipt: ReceiptOut, ext: Literal["html", "pdf"]) -> Response[bytes]:
    """A receipt as a printable page or a PDF: inline, never cached on the way."""
    if ext == "html":
        return file_response(render_receipt_html(receipt), HTML, receipt_filename(receipt, "html"))
    return file_response(render_receipt_pdf(receipt), PDF, receipt_filename(receipt, "pdf"))


def credit_note_response(note: CreditNoteOut, ext: Literal["html", "pdf"]) -> Response[bytes]:
    if ext == "html":
        return file_response(render_credit_note_html(note), HTML, credit_note_filename(note, "html"))
    return file_response(render_credit_note_pdf(note), PDF, credit_note_filename(note, "pdf"))


def provide_receipts(db: NamedDependency[AsyncSession], state: State) -> ReceiptService:
    """Unscoped: for the driver app, which checks the session is the driver's own."""
    return ReceiptService(db, state.providers)


def provide_operator_receipts(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> ReceiptService:
    # Scoped to the caller's operator company: another's payments and sessions are not found.
    return ReceiptService(db, state.providers, tenant_id=tenant_id)


_RECEIPT_PROBLEMS = problems(*OPERATOR_PROBLEMS, ReceiptNotFound)
_CREDIT_NOTE_PROBLEMS = problems(*OPERATOR_PROBLEMS, CreditNoteNotFound)
# A payment's refunds are numbered 1, 2, ...; bounded so a huge number is a 422, not a 500.
RefundSeq = Annotated[int, PathParameter(ge=1, le=10_000, description="The refund's number on the payment: 1, 2, ...")]
_CREDIT_NOTE = "/payments/{payment_id:uuid}/refunds/{refund_seq:int}/credit-note"


class ReceiptController(Controller):
    """Operator: the receipt of any of the operator company's payments or sessions."""

    path = "/"
    tags = ("receipts",)
    dependencies = {"receipts": Provide(provide_operator_receipts, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/payments/{payment_id:uuid}/receipt",
        operation_id="GetPaymentReceipt",
        summary="The receipt of a captured payment",
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> ReceiptOut:
        return await receipts.for_payment(payment_id)

    @get(
        "/payments/{payment_id:uuid}/receipt.html",
        operation_id="GetPaymentReceiptHtml",
        summary="The receipt as a printable HTML page",
        media_type=HTML,
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt_html(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "html")

    @get(
        "/payments/{payment_id:uuid}/receipt.pdf",
        operation_id="GetPaymentReceiptPdf",
        summary="The receipt as a PDF",
        media_type=PDF,
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt_pdf(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "pdf")

    @get(
        "/transactions/{transaction_id:uuid}/receipt",
        operation_id="GetTransactionReceipt",
        summary="The receipt of a session's card payment (a fleet session has an invoice line instead)",
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> ReceiptOut:
        return await receipts.for_transaction(transaction_id)

    @get(
        "/transactions/{transaction_id:uuid}/receipt.html",
        operation_id="GetTransactionReceiptHtml",
        summary="The session's receipt as a printable HTML page",
        media_type=HTML,
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt_html(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_transaction(transaction_id), "html")

    @get(
        "/transactions/{transaction_id:uuid}/receipt.pdf",
        operation_id="GetTransactionReceiptPdf",
        summary="The session's receipt as a PDF",
        media_type=PDF,
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt_pdf(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_transaction(transaction_id), "pdf")

    # -- credit notes (one per completed refund), the tenant's own payments only ------------

    @get(
        _CREDIT_NOTE,
        operation_id="GetRefundCreditNote",
        summary="The credit note of a refund: corrects the receipt and its VAT",
        responses=_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note(
        self,
        payment_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        receipts: NamedDependency[ReceiptService],
    ) -> CreditNoteOut:
        return await receipts.credit_note(payment_id, refund_seq)

    @get(
        _CREDIT_NOTE + ".html",
        operation_id="GetRefundCreditNoteHtml",
        summary="The credit note as a printable HTML page",
        media_type=HTML,
        responses=_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note_html(
        self,
        payment_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        receipts: NamedDependency[ReceiptService],
    ) -> Response[bytes]:
        return credit_note_response(await receipts.credit_note(payment_id, refund_seq), "html")

    @get(
        _CREDIT_NOTE + ".pdf",
        operation_id="GetRefundCreditNotePdf",
        summary="The credit note as a PDF",
        media_type=PDF,
        responses=_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note_pdf(
        self,
        payment_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        receipts: NamedDependency[ReceiptService],
    ) -> Response[bytes]:
        return credit_note_response(await receipts.credit_note(payment_id, refund_seq), "pdf")
