"""HTTP: receipts for operators (by payment or session, ``/api/v1/operator/...``) and for
drivers (their own sessions, ``/api/v1/sessions/{id}/receipt``).

A receipt comes as JSON at the resource path and as a file at a last segment that reads
like a file name: ``.../receipt`` (JSON), ``.../receipt.html``, ``.../receipt.pdf``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import ReceiptNotFound
from app.billing.files import HTML, PDF, file_response
from app.billing.receipts.render import receipt_filename, render_receipt_html, render_receipt_pdf
from app.billing.receipts.schemas import ReceiptOut
from app.billing.receipts.service import ReceiptService
from app.core.auth import AUTH_PROBLEMS, OPERATOR_PROBLEMS, requires_user
from app.core.http import problems
from app.drivers.models import User
from app.sessions.driver import DriverSessionService, SessionNotFound


def receipt_response(receipt: ReceiptOut, ext: Literal["html", "pdf"]) -> Response[bytes]:
    """A receipt as a printable page or a PDF: inline, never cached on the way."""
    if ext == "html":
        return file_response(render_receipt_html(receipt), HTML, receipt_filename(receipt, "html"))
    return file_response(render_receipt_pdf(receipt), PDF, receipt_filename(receipt, "pdf"))


def provide_receipts(db: NamedDependency[AsyncSession], state: State) -> ReceiptService:
    return ReceiptService(db, state.providers)


_RECEIPT_PROBLEMS = problems(*OPERATOR_PROBLEMS, ReceiptNotFound)


class ReceiptController(Controller):
    """Operator: the receipt of any payment or session."""

    path = "/"
    tags = ("receipts",)
    dependencies = {"receipts": Provide(provide_receipts, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

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


# -- driver -----------------------------------------------------------------------------------


def provide_driver_sessions(db: NamedDependency[AsyncSession], state: State) -> DriverSessionService:
    return DriverSessionService(db, state.bus, state.providers, state.settings)


async def _driver_receipt(
    sessions: DriverSessionService, driver: User, session_id: uuid.UUID, receipts: ReceiptService
) -> ReceiptOut:
    view = await sessions.get(driver, session_id)  # 404 unless it is the driver's
    if view.kind == "paid":
        return await receipts.for_payment(view.id)
    assert view.transaction_id is not None
    return await receipts.for_transaction(view.transaction_id)


_DRIVER_RECEIPT_PROBLEMS = problems(*AUTH_PROBLEMS, SessionNotFound, ReceiptNotFound)


class DriverReceiptController(Controller):
    """Driver: the receipt of one of their own sessions; another driver's session is a 404
    ``session.not_found``, never their receipt."""

    path = "/api/v1/sessions"
    tags = ("sessions (driver)",)
    guards = [requires_user]  # noqa: RUF012 (read once by Litestar)
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
