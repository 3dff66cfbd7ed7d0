"""HTTP: PSP webhooks (no login; the signature is the authentication).

The operator's view of payments (list, detail, refunds) is app/billing/payment_controllers.py."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.http import problems
from payments.errors import InvalidWebhook, PaymentsNotConfigured, UnknownProvider
from payments.notifications import NotificationService
from payments.provider import WebhookRejected
from payments.registry import Providers
from payments.schemas import WebhookAckOut

log = logging.getLogger("laddnat.payments")


async def process_later(maker: async_sessionmaker[AsyncSession], state: State, row_ids: list[int]) -> None:
    """After the PSP has its 2xx: apply the stored notifications. What fails here stays
    unprocessed in the table and the sweeper applies it later."""
    async with maker() as db:
        notifications = NotificationService(db, state.bus)
        for row_id in row_ids:
            try:
                await notifications.process(row_id)
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
        new = await NotificationService(db, state.bus).record(events)
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
