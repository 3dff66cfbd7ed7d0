"""Webhook endpoints: create, change, rotate, list; scoped to the caller's operator.

An operator user sees and manages only its operator's endpoints (another's is
``webhook.not_found``); a user of no operator manages every endpoint, and the endpoints it
creates receive every operator's events.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import new_id, utcnow
from app.operators.webhooks.crypto import seal
from app.operators.webhooks.errors import WebhookInactive, WebhookInvalid, WebhookNotFound, WebhookTargetForbidden
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.operators.webhooks.outbox import TEST_EVENT, WebhookOutbox
from app.operators.webhooks.signing import new_secret
from app.operators.webhooks.targets import Resolver, TargetRefused, checked_address, is_local_name, literal, resolve


def check_url(url: str) -> str:
    """The URL, if it is one we may POST to (its address is checked by ``check_target``);
    else ``webhook.invalid`` naming ``url``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise WebhookInvalid(f"url: {exc}", field="url") from None
    if parts.scheme not in ("https", "http") or not host:
        raise WebhookInvalid("url: use an absolute https:// URL", field="url")
    if parts.username is not None or parts.password is not None:
        raise WebhookInvalid("url: credentials in the URL are not allowed; verify the signature instead", field="url")
    # Plain http is for a receiver on the developer's own machine only.
    if parts.scheme == "http" and not _is_loopback(host):
        raise WebhookInvalid(
            "url: use https://; plain http:// is allowed only to 127.0.0.1, [::1] or localhost", field="url"
        )
    return url


async def check_target(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> str:
    """``check_url``, then the host's addresses: ``webhook.target_forbidden`` unless all are
    public (or ``allow_private``). A name that does not resolve now is accepted: every
    delivery checks again, and DNS may be down for a moment."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await checked_address(host, port, allow_private=allow_private, resolver=resolver)
    except TargetRefused as exc:
        if not exc.unresolved:
            raise WebhookTargetForbidden(
                "url: the host must be a public address (not loopback, private, link-local or shared)", field="url"
            ) from None
    return url


def _is_loopback(host: str) -> bool:
    if is_local_name(host):
        return True
    address = literal(host)
    return address is not None and address.is_loopback


class WebhookService:
    def __init__(
        self,
        db: AsyncSession,
        secret_key: str,
        *,
        scope: uuid.UUID | None,
        on_enqueued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        allow_private_targets: bool = False,
        resolver: Resolver = resolve,
    ) -> None:
        """``scope``: the caller's operator (None: all). ``allow_private_targets``: URLs may
        name non-public addresses (LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS)."""
        self.db = db
        self.allow_private_targets = allow_private_targets
        self.resolver = resolver
        self.secret_key = secret_key
        self.scope = scope
        self.on_enqueued = on_enqueued
        self.clock = clock

    async def _check_target(self, url: str) -> str:
        return await check_target(url, allow_private=self.allow_private_targets, resolver=self.resolver)

    def _scoped(self, query: Select[Any]) -> Select[Any]:
        return query if self.scope is None else query.where(WebhookEndpoint.operator_id == self.scope)

    async def create(
        self, *, url: str, description: str, events: list[str], active: bool
    ) -> tuple[WebhookEndpoint, str]:
        """The new endpoint and its secret (the only time the secret is returned)."""
        url = await self._check_target(url)
        secret = new_secret()
        now = self.clock()
        endpoint = WebhookEndpoint(
            id=new_id(),
            operator_id=self.scope,
            url=url,
            description=description,
            events=_unique(events),
            secret_sealed=seal(self.secret_key, secret),
            active=active,
            created_at=now,
            updated_at=now,
        )
        self.db.add(endpoint)
        await self.db.commit()
        return endpoint, secret

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = await self.db.scalar(self._scoped(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)))
        if endpoint is None:
            raise WebhookNotFound(f"no webhook endpoint {endpoint_id}")
        return endpoint

    async def list(self, *, limit: int, offset: int) -> list[WebhookEndpoint]:
        rows = await self.db.scalars(
            self._scoped(select(WebhookEndpoint))
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows)

    async def count(self) -> int:
        return int(await self.db.scalar(self._scoped(select(func.count()).select_from(WebhookEndpoint))) or 0)

    async def update(self, endpoint_id: uuid.UUID, changes: dict[str, Any]) -> WebhookEndpoint:
        endpoint = await self.get(endpoint_id)
        if "url" in changes:
            endpoint.url = await self._check_target(changes["url"])
        if "description" in changes:
            endpoint.description = changes["description"]
        if "events" in changes:
            endpoint.events = _unique(changes["events"])
        if "active" in changes:
            endpoint.active = changes["active"]
        endpoint.updated_at = self.clock()
        await self.db.commit()
        return endpoint

    async def remove(self, endpoint_id: uuid.UUID) -> None:
        """The endpoint and its delivery log; pending deliveries are never sent."""
        endpoint = await self.get(endpoint_id)
        await self.db.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        await self.db.delete(endpoint)
        await self.db.commit()

    async def rotate_secret(self, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
        """A new secret at once: every request from now on, retries included, is signed with it."""
        endpoint = await self.get(endpoint_id)
        secret = new_secret()
        endpoint.secret_sealed = seal(self.secret_key, secret)
        endpoint.updated_at = self.clock()
        await self.db.commit()
        return endpoint, secret

    async def deliveries(
        self, endpoint_id: uuid.UUID, *, state: str | None, limit: int, offset: int
    ) -> tuple[Sequence[WebhookDelivery], int]:
        """The endpoint's delivery log, newest first, and its size."""
        endpoint = await self.get(endpoint_id)
        where = [WebhookDelivery.endpoint_id == endpoint.id]
        if state is not None:
            where.append(WebhookDelivery.state == state)
        rows = await self.db.scalars(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
            .offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(WebhookDelivery).where(*where))
        return list(rows), int(total or 0)

    async def send_test(self, endpoint_id: uuid.UUID) -> WebhookDelivery:
        """Queue a ``webhook.test`` event to this endpoint, whatever it subscribes to."""
        endpoint = await self.get(endpoint_id)
        if not endpoint.active:
            raise WebhookInactive("activate the endpoint before testing it")
        delivery = WebhookOutbox(self.db, clock=self.clock).add(
            endpoint,
            TEST_EVENT,
            {"webhookId": str(endpoint.id), "message": "A test event from Laddnät: your endpoint works."},
            event_id=new_id(),
        )
        await self.db.commit()
        self.on_enqueued()
        return delivery


def _unique(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))
