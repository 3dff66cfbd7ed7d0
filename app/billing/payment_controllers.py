"""HTTP: the operator's payments (list, detail with every transition and refund, refunds)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.payment_schemas import PaymentOut, PaymentPageOut, RefundIn, RefundOut
from app.billing.receipts.issue import issue_documents
from app.core.auth import OPERATOR_PROBLEMS, Caller, can_bill
from app.core.errors import InvalidInput
from app.core.http import PageParams, problems
from payments.errors import PaymentNotFound, ProviderUnavailable, RefundNotAllowed
from payments.service import PaymentService


def provide_payments(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> PaymentService:
    # Scoped to the caller's operator company: another's payments are not found.
    return PaymentService(db, state.bus, state.providers, tenant_id=tenant_id)


class PaymentController(Controller):
    path = "/payments"
    tags = ("payments",)
    dependencies = {"payments": Provide(provide_payments, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", operation_id="ListPayments", summary="Payments, newest first", responses=problems(*OPERATOR_PROBLEMS))
    async def list_payments(
        self,
        page: NamedDependency[PageParams],
        payments: NamedDependency[PaymentService],
        status: Annotated[str | None, QueryParameter(description="Only payments in this status")] = None,
    ) -> PaymentPageOut:
        rows, total = await payments.search(status=status, limit=page.limit, offset=page.offset)
        return PaymentPageOut(items=[PaymentOut.of(p) for p in rows], total=total, limit=page.limit, offset=page.offset)

    @get(
        "/{payment_id:uuid}",
        operation_id="GetPayment",
        summary="A payment with every transition and refund",
        responses=problems(*OPERATOR_PROBLEMS, PaymentNotFound),
    )
    async def get_payment(
        self, payment_id: FromPath[uuid.UUID], payments: NamedDependency[PaymentService]
    ) -> PaymentOut:
        payment = await payments.get(payment_id)
        return PaymentOut.of(
            payment, list(await payments.history(payment_id)), list(await payments.refunds(payment_id))
        )

    @post(
        "/{payment_id:uuid}/refunds",
        operation_id="RefundPayment",
        summary="Refund part or all of a captured payment",
        status_code=201,
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, PaymentNotFound, RefundNotAllowed, InvalidInput, ProviderUnavailable),
    )
    async def refund(
        self,
        payment_id: FromPath[uuid.UUID],
        data: RefundIn,
        payments: NamedDependency[PaymentService],
        caller: NamedDependency[Caller],
    ) -> RefundOut:
        # ``requested_by`` names a user; an API key's refund is in the audit log instead.
        by = caller.id if caller.kind == "user" else None
        refund = await payments.refund(payment_id, data.amount_minor, reason=data.reason, by=by)
        await issue_documents(payments.db, payment_id)  # the refund's credit note, once the PSP refunded
        return RefundOut.of(refund)
