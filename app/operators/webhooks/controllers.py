"""HTTP (operator): webhook endpoints, their secrets and delivery logs. Mounted under the operator router."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, can_administer
from app.core.http import PageParams, problems
from app.operators.webhooks.errors import WebhookInactive, WebhookInvalid, WebhookNotFound, WebhookTargetForbidden
from app.operators.webhooks.schemas import (
    WebhookDeliveryOut,
    WebhookDeliveryPageOut,
    WebhookIn,
    WebhookOut,
    WebhookPageOut,
    WebhookPatchIn,
    WebhookSecretOut,
)
from app.operators.webhooks.service import WebhookService


def provide_webhooks(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> WebhookService:
    # Scoped to the caller's operator company: another's endpoints are not found.
    return WebhookService(
        db,
        state.settings.auth.secret_key,
        scope=tenant_id,
        on_enqueued=state.webhook_worker.poke,
        allow_private_targets=state.settings.webhooks.allow_private_targets,
    )


class WebhookEndpointController(Controller):
    """Signed webhooks: ``Laddnat-Webhook-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>``
    with ``Laddnat-Webhook-Timestamp`` (unix seconds) and ``Laddnat-Webhook-Id`` (the event id,
    stable across retries). Failed deliveries are retried with backoff for about 24 hours."""

    path = "/webhooks"
    tags = ("webhooks",)
    dependencies = {"webhooks": Provide(provide_webhooks, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/",
        operation_id="CreateWebhook",
        guards=[can_administer],
        summary="Subscribe a URL to events; the signing secret is in this answer only",
        responses=problems(*OPERATOR_PROBLEMS, WebhookInvalid, WebhookTargetForbidden),
    )
    async def create_webhook(
        self, data: JSONBody[WebhookIn], webhooks: NamedDependency[WebhookService]
    ) -> WebhookSecretOut:
        endpoint, secret = await webhooks.create(
            url=data.url, description=data.description, events=list(data.events), active=data.active
        )
        return WebhookSecretOut(endpoint=WebhookOut.of(endpoint), secret=secret)

    @get("/", operation_id="ListWebhooks", responses=problems(*OPERATOR_PROBLEMS))
    async def list_webhooks(
        self, page: NamedDependency[PageParams], webhooks: NamedDependency[WebhookService]
    ) -> WebhookPageOut:
        rows = await webhooks.list(limit=page.limit, offset=page.offset)
        return WebhookPageOut(
            items=[WebhookOut.of(e) for e in rows], total=await webhooks.count(), limit=page.limit, offset=page.offset
        )

    @get("/{webhook_id:uuid}", operation_id="GetWebhook", responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound))
    async def get_webhook(
        self, webhook_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]
    ) -> WebhookOut:
        return WebhookOut.of(await webhooks.get(webhook_id))

    @patch(
        "/{webhook_id:uuid}",
        operation_id="UpdateWebhook",
        guards=[can_administer],
        summary="Change the URL, description, event types or active flag",
        responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound, WebhookInvalid, WebhookTargetForbidden),
    )
    async def update_webhook(
        self,
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[WebhookPatchIn],
        webhooks: NamedDependency[WebhookService],
    ) -> WebhookOut:
        return WebhookOut.of(await webhooks.update(webhook_id, data.changes()))

    @delete(
        "/{webhook_id:uuid}",
        operation_id="DeleteWebhook",
        guards=[can_administer],
        summary="Unsubscribe; the delivery log goes too and pending deliveries are dropped",
        responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound),
    )
    async def delete_webhook(self, webhook_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]) -> None:
        await webhooks.remove(webhook_id)

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        operation_id="RotateWebhookSecret",
        guards=[can_administer],
        summary="A new signing secret, in force at once (retries included); shown in this answer only",
        status_code=200,
        responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound),
    )
    async def rotate_secret(
        self, webhook_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]
    ) -> WebhookSecretOut:
        endpoint, secret = await webhooks.rotate_secret(webhook_id)
        return WebhookSecretOut(endpoint=WebhookOut.of(endpoint), secret=secret)

    @get(
        "/{webhook_id:uuid}/deliveries",
        operation_id="ListWebhookDeliveries",
        summary="The delivery log, newest first",
        responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound),
    )
    async def list_deliveries(
        self,
        webhook_id: FromPath[uuid.UUID],
        page: NamedDependency[PageParams],
        webhooks: NamedDependency[WebhookService],
        only: Annotated[
            Literal["pending", "delivered", "failed"] | None,
            QueryParameter(name="state", description="Only deliveries in this state"),
        ] = None,
    ) -> WebhookDeliveryPageOut:
        rows, total = await webhooks.deliveries(webhook_id, state=only, limit=page.limit, offset=page.offset)
        return WebhookDeliveryPageOut(
            items=[WebhookDeliveryOut.of(d) for d in rows], total=total, limit=page.limit, offset=page.offset
        )

    @post(
        "/{webhook_id:uuid}/test",
        operation_id="TestWebhook",
        guards=[can_administer],
        summary="Send a webhook.test event to this endpoint now",
        status_code=202,
        responses=problems(*OPERATOR_PROBLEMS, WebhookNotFound, WebhookInactive),
    )
    async def test_webhook(
        self, webhook_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]
    ) -> WebhookDeliveryOut:
        return WebhookDeliveryOut.of(await webhooks.send_test(webhook_id))
