"""HTTP (driver app): the receipt of one of the driver's own sessions, as JSON, a printable
page or a PDF (``/api/v1/sessions/{id}/receipt``, ``.../receipt.html``, ``.../receipt.pdf``)."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from app.billing.errors import ReceiptNotFound
from app.billing.files import HTML, PDF
from app.billing.receipts.controllers import RefundSeq, credit_note_response, provide_receipts, receipt_response
from app.billing.receipts.errors import CreditNoteNotFound
from app.billing.receipts.schemas import CreditNoteOut, ReceiptOut
from app.billing.receipts.service import ReceiptService
from app.core.auth import AUTH_PROBLEMS, BEARER_SECURITY, requires_user
from app.core.http import problems
from app.driver_app.session_controllers import provide_driver_sessions
from app.driver_app.sessions import DriverSessionService
from app.drivers.models import User
from app.sessions.errors import SessionNotFound


async def _driver_receipt(
    sessions: DriverSessionService, driver: User, session_id: uuid.UUID, receipts: ReceiptService
) -> ReceiptOut:
    view = await sessions.get(driver, session_id)  # 404 unless it is the driver's
    if view.kind == "paid":
        return await receipts.for_payment(view.id)
    assert view.transaction_id is not None
    return await receipts.for_transaction(view.transaction_id)


async def _driver_credit_note(
    sessions: DriverSessionService, driver: User, session_id: uuid.UUID, refund_seq: int, receipts: ReceiptService
) -> CreditNoteOut:
    view = await sessions.get(driver, session_id)  # 404 unless it is the driver's
    if view.kind == "paid":
        return await receipts.credit_note(view.id, refund_seq)
    assert view.transaction_id is not None
    return await receipts.credit_note_of_transaction(view.transaction_id, refund_seq)


_DRIVER_RECEIPT_PROBLEMS = problems(*AUTH_PROBLEMS, SessionNotFound, ReceiptNotFound)
_DRIVER_CREDIT_NOTE_PROBLEMS = problems(*AUTH_PROBLEMS, SessionNotFound, CreditNoteNotFound)


class DriverReceiptController(Controller):
    """Driver: the receipt of one of their own sessions; another driver's session is a 404
    ``session.not_found``, never their receipt."""

    path = "/api/v1/sessions"
    tags = ("sessions (driver)",)
    guards = [requires_user]  # noqa: RUF012 (read once by Litestar)
    security = BEARER_SECURITY
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "sessions": Provide(provide_driver_sessions, sync_to_thread=False),
        "receipts": Provide(provide_receipts, sync_to_thread=False),
    }

    @get(
        "/{session_id:uuid}/receipt",
        operation_id="GetSessionReceipt",
        summary="The receipt of a paid session",
        responses=_DRIVER_RECEIPT_PROBLEMS,
    )
    async def receipt(
        self,
        session_id: FromPath[uuid.UUID],
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> ReceiptOut:
        return await _driver_receipt(sessions, current_user, session_id, receipts)

    @get(
        "/{session_id:uuid}/receipt.html",
        operation_id="GetSessionReceiptHtml",
        summary="The receipt as a printable page",
        media_type=HTML,
        responses=_DRIVER_RECEIPT_PROBLEMS,
    )
    async def receipt_html(
        self,
        session_id: FromPath[uuid.UUID],
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> Response[bytes]:
        return receipt_response(await _driver_receipt(sessions, current_user, session_id, receipts), "html")

    @get(
        "/{session_id:uuid}/receipt.pdf",
        operation_id="GetSessionReceiptPdf",
        summary="The receipt as a PDF",
        media_type=PDF,
        responses=_DRIVER_RECEIPT_PROBLEMS,
    )
    async def receipt_pdf(
        self,
        session_id: FromPath[uuid.UUID],
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> Response[bytes]:
        return receipt_response(await _driver_receipt(sessions, current_user, session_id, receipts), "pdf")

    @get(
        "/{session_id:uuid}/refunds/{refund_seq:int}/credit-note",
        operation_id="GetSessionCreditNote",
        summary="The credit note of a refund of a paid session",
        responses=_DRIVER_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note(
        self,
        session_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> CreditNoteOut:
        return await _driver_credit_note(sessions, current_user, session_id, refund_seq, receipts)

    @get(
        "/{session_id:uuid}/refunds/{refund_seq:int}/credit-note.html",
        operation_id="GetSessionCreditNoteHtml",
        summary="The credit note as a printable page",
        media_type=HTML,
        responses=_DRIVER_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note_html(
        self,
        session_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> Response[bytes]:
        note = await _driver_credit_note(sessions, current_user, session_id, refund_seq, receipts)
        return credit_note_response(note, "html")

    @get(
        "/{session_id:uuid}/refunds/{refund_seq:int}/credit-note.pdf",
        operation_id="GetSessionCreditNotePdf",
        summary="The credit note as a PDF",
        media_type=PDF,
        responses=_DRIVER_CREDIT_NOTE_PROBLEMS,
    )
    async def credit_note_pdf(
        self,
        session_id: FromPath[uuid.UUID],
        refund_seq: RefundSeq,
        sessions: NamedDependency[DriverSessionService],
        receipts: NamedDependency[ReceiptService],
        current_user: NamedDependency[User],
    ) -> Response[bytes]:
        note = await _driver_credit_note(sessions, current_user, session_id, refund_seq, receipts)
        return credit_note_response(note, "pdf")
