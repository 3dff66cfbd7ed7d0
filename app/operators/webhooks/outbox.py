"""The webhook outbox: which endpoints get an event, the body they get, when to retry.

The body is built once, when the delivery is stored, and sent byte for byte on every
attempt; only the timestamp and signature headers change between attempts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import claim, insert_ignoring_duplicates, utcnow
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint

TEST_EVENT = "webhook.test"
# Backoff after attempt n: 30 s * 2^(n-1), at most 4 h: 30 s, 1, 2, 4 ... 128 min, 4 h ...
# 15 attempts span about 24 hours; then the delivery is marked failed.
FIRST_RETRY_S = 30
MAX_RETRY_S = 4 * 3600
MAX_ATTEMPTS = 15
# Event ids of bus events are derived from the endpoint and the event itself, so the same
# event reaching us twice (a replay, two API processes on a shared bus) is stored once.
_EVENT_NAMESPACE = uuid.UUID("6f1d2f0e-54a3-4c1e-9b7e-1a2c5d8e0b41")


def backoff(attempt: int) -> timedelta:
    """How long after attempt ``attempt`` (1-based) the next one is due."""
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempt - 1, 0), MAX_RETRY_S))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camelize(value: Any) -> Any:
    """Dict keys camelCased, all the way down (what ``msgspec.to_builtins`` gives)."""
    if isinstance(value, dict):
        return {camel(str(k)): camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def event_data(event: msgspec.Struct) -> dict[str, Any]:
    """A bus event's fields as JSON-ready builtins, camelCase."""
    data: dict[str, Any] = camelize(msgspec.to_builtins(event))
    return data


def body(event_id: uuid.UUID, type_: str, created_at: datetime, data: dict[str, Any]) -> str:
    return msgspec.json.encode({"id": event_id, "type": type_, "createdAt": created_at, "data": data}).decode()


def event_id_for(endpoint_id: uuid.UUID, type_: str, data: dict[str, Any]) -> uuid.UUID:
    digest = hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()
    return uuid.uuid5(_EVENT_NAMESPACE, f"{endpoint_id}:{type_}:{digest}")


def wants(endpoint: WebhookEndpoint, type_: str, operator_id: uuid.UUID | None) -> bool:
    if not endpoint.active:
        return False
    # An event goes to its own operator company's endpoints only (an endpoint of no
    # company, from before tenants, gets nothing: it could be anyone's).
    if endpoint.operator_id is None or endpoint.operator_id != operator_id:
        return False
    return not endpoint.events or type_ in endpoint.events


class WebhookOutbox:
    """Stores deliveries in the caller's transaction; the caller commits."""

    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    def add(
        self, endpoint: WebhookEndpoint, type_: str, data: dict[str, Any], *, event_id: uuid.UUID
    ) -> WebhookDelivery:
        now = self.clock()
        delivery = WebhookDelivery(
            id=event_id,
            endpoint_id=endpoint.id,
            type=type_,
            payload=body(event_id, type_, now, data),
            created_at=now,
            state="pending",
            attempts=0,
            next_attempt_at=now,
        )
        self.db.add(delivery)
        return delivery

    async def enqueue(self, type_: str, operator_id: uuid.UUID | None, data: dict[str, Any]) -> int:
        """A delivery for each active endpoint of this operator company that wants this
        event (an event of no operator goes nowhere); how many are new."""
        if operator_id is None:
            return 0
        endpoints = await self.db.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True), WebhookEndpoint.operator_id == operator_id)
        )
        now = self.clock()
        added = 0
        for endpoint in endpoints:
            if not wants(endpoint, type_, operator_id):
                continue
            event_id = event_id_for(endpoint.id, type_, data)
            added += await claim(
                self.db,
                insert_ignoring_duplicates(self.db, WebhookDelivery).values(
                    id=event_id,
                    endpoint_id=endpoint.id,
                    type=type_,
                    payload=body(event_id, type_, now, data),
                    created_at=now,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                ),
            )
        return added

    async def due(self, limit: int = 50) -> list[uuid.UUID]:
        """Pending deliveries whose time has come, of active endpoints, oldest due first."""
        rows = await self.db.scalars(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= self.clock(),
                WebhookEndpoint.active.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return list(rows)
