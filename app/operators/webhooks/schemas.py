"""JSON shapes of webhook endpoints and their delivery log (camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.core.http import Page
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint

# What an endpoint may subscribe to; ``webhook.test`` is sent on request only.
EventType = Literal["incident.opened", "incident.changed", "incident.resolved", "payment.settled"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        description="https://...; http:// only to 127.0.0.1, [::1] or localhost (development)",
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=200)]
Events = Annotated[list[EventType], msgspec.Meta(max_length=len(EVENT_TYPES), description="Empty: every type")]


class WebhookIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """A new endpoint; it receives its operator's events (the caller's operator), or every
    operator's when the caller belongs to none."""

    url: Url
    description: Description = ""
    events: Events = []
    active: bool = True


class WebhookPatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Only the fields sent change."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not msgspec.UNSET}


class WebhookOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: Annotated[uuid.UUID | None, msgspec.Meta(description="None: every operator's events")]
    url: str
    description: str
    events: Annotated[list[str], msgspec.Meta(description="Empty: every type")]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> WebhookOut:
        return cls(
            id=e.id,
            operator_id=e.operator_id,
            url=e.url,
            description=e.description,
            events=list(e.events),
            active=e.active,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class WebhookSecretOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The endpoint with its signing secret: answered once, at creation or rotation."""

    endpoint: WebhookOut
    secret: Annotated[
        str, msgspec.Meta(description="Key of the HMAC-SHA256 signatures; shown only now, store it safely")
    ]


class WebhookPageOut(Page, kw_only=True, rename="camel"):
    items: list[WebhookOut]


class WebhookDeliveryOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: Annotated[uuid.UUID, msgspec.Meta(description="The event id (Laddnat-Webhook-Id), the same on every retry")]
    endpoint_id: uuid.UUID
    type: str
    state: Annotated[str, msgspec.Meta(description="pending | delivered | failed")]
    attempts: int
    last_status: Annotated[int | None, msgspec.Meta(description="The receiver's HTTP status on the last attempt")]
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: Annotated[datetime | None, msgspec.Meta(description="None once delivered or failed")]
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: WebhookDelivery) -> WebhookDeliveryOut:
        return cls(
            id=d.id,
            endpoint_id=d.endpoint_id,
            type=d.type,
            state=d.state,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
            delivered_at=d.delivered_at,
        )


class WebhookDeliveryPageOut(Page, kw_only=True, rename="camel"):
    items: list[WebhookDeliveryOut]
