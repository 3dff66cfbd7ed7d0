"""``/console/settings/webhooks``: the tenant's webhook endpoints (create, showing the signing
secret once; disable, enable, test, delete) and each one's delivery log with its retries."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.console.pages.settings.forms import FormErrors, convert, form_of, problem, text
from app.console.render import render
from app.core.auth import can_administer
from app.core.errors import Conflict, InvalidInput
from app.operators.webhooks.controllers import provide_webhooks
from app.operators.webhooks.schemas import EVENT_TYPES, WebhookIn
from app.operators.webhooks.service import WebhookService

BASE = "/console/settings/webhooks"
MAX_DELIVERIES = 100


class WebhookPagesController(Controller):
    path = BASE
    dependencies = {"webhooks": Provide(provide_webhooks, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    async def _index(
        self,
        request: Request[Any, Any, Any],
        webhooks: WebhookService,
        *,
        values: dict[str, Any] | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        return render(
            request,
            "console/settings/webhooks.html",
            nav="settings",
            sub="webhooks",
            endpoints=await webhooks.list(limit=100, offset=0),
            event_types=EVENT_TYPES,
            values=values or {"events": []},
            errors=errors or FormErrors(),
            notice=request.query_params.get("done"),
            status_code=status_code,
        )

    @get("/", name="console:webhooks")
    async def index(self, request: Request[Any, Any, Any], webhooks: NamedDependency[WebhookService]) -> Template:
        return await self._index(request, webhooks)

    @post("/", guards=[can_administer], status_code=201, operation_id="CreateWebhook")
    async def create(self, request: Request[Any, Any, Any], webhooks: NamedDependency[WebhookService]) -> Template:
        """The new endpoint with its signing secret: on this page only, never again."""
        form = await form_of(request)
        values = {
            "url": text(form, "url"),
            "description": text(form, "description"),
            "events": [e for e in form.getall("events", []) if isinstance(e, str)],
        }
        try:
            data = convert(values, WebhookIn)
            endpoint, secret = await webhooks.create(
                url=data.url, description=data.description, events=list(data.events), active=data.active
            )
        except (InvalidInput, Conflict) as exc:
            return await self._index(request, webhooks, values=values, errors=problem(exc), status_code=exc.status)
        return render(
            request,
            "console/settings/secret.html",
            nav="settings",
            sub="webhooks",
            status_code=201,
            kind="webhook",
            name=endpoint.url,
            secret=secret,
            next_href=f"{BASE}/{endpoint.id}",
        )

    @get("/{webhook_id:uuid}", name="console:webhook")
    async def endpoint(
        self,
        request: Request[Any, Any, Any],
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Template:
        return await self._endpoint(request, webhooks, webhook_id)

    async def _endpoint(
        self,
        request: Request[Any, Any, Any],
        webhooks: WebhookService,
        webhook_id: uuid.UUID,
        *,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        endpoint = await webhooks.get(webhook_id)
        rows, total = await webhooks.deliveries(webhook_id, state=None, limit=MAX_DELIVERIES, offset=0)
        return render(
            request,
            "console/settings/webhook.html",
            nav="settings",
            sub="webhooks",
            endpoint=endpoint,
            deliveries=rows,
            total=total,
            notice=request.query_params.get("done"),
            error=error,
            status_code=status_code,
        )

    @post("/{webhook_id:uuid}/active", guards=[can_administer], status_code=303, operation_id="UpdateWebhook")
    async def set_active(
        self,
        request: Request[Any, Any, Any],
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Redirect:
        active = text(await form_of(request), "active") == "true"
        await webhooks.update(webhook_id, {"active": active})
        return Redirect(f"{BASE}/{webhook_id}?done={'enabled' if active else 'disabled'}", status_code=303)

    @post("/{webhook_id:uuid}/test", guards=[can_administer], status_code=303, operation_id="TestWebhook")
    async def send_test(
        self,
        request: Request[Any, Any, Any],
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Redirect | Template:
        try:
            await webhooks.send_test(webhook_id)
        except Conflict as exc:  # webhook.inactive: said on the page, nothing sent
            return await self._endpoint(request, webhooks, webhook_id, error=exc.detail, status_code=exc.status)
        return Redirect(f"{BASE}/{webhook_id}?done=test_sent", status_code=303)

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        guards=[can_administer],
        status_code=201,
        operation_id="RotateWebhookSecret",
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Template:
        """A new signing secret, in force at once: on this page only, never again."""
        endpoint, secret = await webhooks.rotate_secret(webhook_id)
        return render(
            request,
            "console/settings/secret.html",
            nav="settings",
            sub="webhooks",
            status_code=201,
            kind="webhook",
            name=endpoint.url,
            secret=secret,
            next_href=f"{BASE}/{endpoint.id}",
        )

    @post("/{webhook_id:uuid}/delete", guards=[can_administer], status_code=303, operation_id="DeleteWebhook")
    async def remove(self, webhook_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]) -> Redirect:
        await webhooks.remove(webhook_id)
        return Redirect(f"{BASE}?done=deleted", status_code=303)
