"""HTTP: PSP webhooks (no login; the signature is the authentication) and the operator's
payments (list, detail with every transition, refunds)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.payment_schemas import PaymentOut, PaymentPageOut, RefundIn, RefundOut
from app.core.auth import OPERATOR_PROBLEMS
from app.core.errors import DomainError, InvalidInput, NotFound
from app.core.http import PageParams, problems
from app.drivers.models import User
from payments.provider import WebhookRejected
from payments.registry import PaymentsNotConfigured, Providers
from payments.schemas import WebhookAckOut
from payments.service import PaymentNotFound, PaymentService, ProviderUnavailable, RefundNotAllowed

log = logging.getLogger("laddnat.payments")


class InvalidWebhook(DomainError):
    code = "webhook.invalid"
    status = 400
    title = "The notification's signature is missing, forged or stale"


class UnknownProvider(NotFound):
    code = "webhook.unknown_provider"
    title = "No such payment provider is configured"


def provide_payments(db: NamedDependency[AsyncSession], state: State) -> PaymentService:
    return PaymentService(db, state.bus, state.providers)


async def process_later(maker: async_sessionmaker[AsyncSession], state: State, row_ids: list[int]) -> None:
    """After the PSP has its 2xx: apply the stored notifications. What fails here stays
    unprocessed in the table and the sweeper applies it later."""
    async with maker() as db:
        payments = PaymentService(db, state.bus, state.providers)
        for row_id in row_ids:
            try:
                await payments.process_notification(row_id)
            except Exception:
                log.exception("notification %s failed; the sweeper retries it", row_id)


async def _receive(provider_name: str, request: Request[Any, Any, Any], state: State) -> tuple[int, list[int]]:
    providers: Providers = state.providers
    try:
        provider = providers.get(provider_name)
    except PaymentsNotConfigured as err:
        raise UnknownProvider() from err
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        events = provider.parse_webhook(body, headers)
    except WebhookRejected as err:
        raise InvalidWebhook(str(err) or None) from err
    async with state.sessionmaker() as db:
        new = await PaymentService(db, state.bus, providers).record_notifications(events)
    return len(events), new


class WebhookController(Controller):
    path = "/webhooks"
    tags = ("webhooks",)

    @post(
        "/stripe",
        operation_id="StripeWebhook",
        summary="Stripe event notifications (Stripe-Signature verified, 300 s tolerance)",
        status_code=200,
        responses=problems(InvalidWebhook, UnknownProvider),
    )
    async def stripe(self, request: Request[Any, Any, Any], state: State) -> Response[WebhookAckOut]:
        received, new = await _receive("stripe", request, state)
        return Response(
            WebhookAckOut(received=received, new=len(new)),
            background=BackgroundTask(process_later, state.sessionmaker, state, new),
        )

    @post(
        "/adyen",
        operation_id="AdyenWebhook",
        summary="Adyen standard notifications (HMAC of every item verified); answers [accepted]",
        status_code=200,
        media_type="text/plain",
        responses=problems(InvalidWebhook, UnknownProvider),
    )
    async def adyen(self, request: Request[Any, Any, Any], state: State) -> Response[str]:
        _, new = await _receive("adyen", request, state)
        # Adyen wants exactly this body, or it retries the batch.
        return Response(
            "[accepted]",
            media_type="text/plain",
            background=BackgroundTask(process_later, state.sessionmaker, state, new),
        )


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
        responses=problems(*OPERATOR_PROBLEMS, PaymentNotFound, RefundNotAllowed, InvalidInput, ProviderUnavailable),
    )
    async def refund(
        self,
        payment_id: FromPath[uuid.UUID],
        data: RefundIn,
        payments: NamedDependency[PaymentService],
        current_user: NamedDependency[User],
    ) -> RefundOut:
        refund = await payments.refund(payment_id, data.amount_minor, reason=data.reason, by=current_user.id)
        return RefundOut.of(refund)
