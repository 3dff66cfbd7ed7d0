"""JSON shapes of the operator API's roaming partners (camelCase on the wire). A partner's
tokens never leave: token A is answered once, when it is issued."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.core.http import Page
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.operator.stats import PushStats

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PartnerTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Name | None = None


class PartnerRegistrationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """What a partner gave us to register with it."""

    versions_url: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=255, pattern="^https?://", description="The partner's OCPI versions endpoint"
        ),
    ]
    token: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            pattern="^[\\x21-\\x7e]+$",
            description="The credentials token (A) the partner gave us, as it is (not base64)",
        ),
    ]
    name: Name | None = None


class PartnerRoleOut(msgspec.Struct, kw_only=True, rename="camel"):
    role: str
    country_code: str
    party_id: str
    business_name: str


class PartnerEndpointOut(msgspec.Struct, kw_only=True, rename="camel"):
    identifier: str
    role: str
    url: str


class PartnerOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    name: str
    state: Annotated[str, msgspec.Meta(description="pending | registered | unregistered")]
    country_code: str | None
    party_id: str | None
    roles: list[PartnerRoleOut]
    versions_url: Annotated[str | None, msgspec.Meta(description="The partner's versions endpoint")]
    version: str | None
    endpoints: list[PartnerEndpointOut]
    created_at: datetime
    registered_at: datetime | None
    updated_at: datetime
    suspended: Annotated[bool, msgspec.Meta(description="Suspended: not served, pushes held until resumed")]
    suspended_at: datetime | None
    last_push_at: Annotated[datetime | None, msgspec.Meta(description="The last push the partner accepted")]
    pending_pushes: Annotated[int, msgspec.Meta(description="Pushes not delivered yet (retried with back-off)")]
    failed_pushes: Annotated[int, msgspec.Meta(description="Pushes given up after the last attempt")]
    last_push_error: Annotated[str | None, msgspec.Meta(description="The partner's answer to the last failed try")]

    @classmethod
    def of(cls, p: OcpiPartner, stats: PushStats | None = None) -> PartnerOut:
        pushes = stats or PushStats()
        return cls(
            id=p.id,
            name=p.name,
            state=p.state,
            country_code=p.country_code,
            party_id=p.party_id,
            roles=[
                PartnerRoleOut(
                    role=str(r.get("role", "")),
                    country_code=str(r.get("country_code", "")),
                    party_id=str(r.get("party_id", "")),
                    business_name=str((r.get("business_details") or {}).get("name", "")),
                )
                for r in p.roles or []
            ],
            versions_url=p.versions_url,
            version=p.version,
            endpoints=[
                PartnerEndpointOut(identifier=e["identifier"], role=e["role"], url=e["url"]) for e in p.endpoints or []
            ],
            created_at=p.created_at,
            registered_at=p.registered_at,
            updated_at=p.updated_at,
            suspended=p.suspended_at is not None,
            suspended_at=p.suspended_at,
            last_push_at=pushes.last_delivered_at,
            pending_pushes=pushes.pending,
            failed_pushes=pushes.failed,
            last_push_error=pushes.last_error,
        )


class PartnerPageOut(Page, kw_only=True, rename="camel"):
    items: list[PartnerOut]


class PartnerTokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    """Token A with what the partner needs to register: answered once, only its digest is kept."""

    partner: PartnerOut
    token: Annotated[
        str, msgspec.Meta(description="Credentials token A: give it to the partner safely; shown only now")
    ]
    versions_url: Annotated[str, msgspec.Meta(description="Our OCPI versions endpoint, for the partner")]


class PushOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: int
    module: str
    method: str
    url: str
    body: dict[str, Any]
    object_key: str
    state: Annotated[str, msgspec.Meta(description="pending | delivered | superseded | gave_up")]
    attempts: int
    last_error: Annotated[str | None, msgspec.Meta(description="The partner's answer to the last failed attempt")]
    created_at: datetime
    next_attempt_at: Annotated[datetime | None, msgspec.Meta(description="None once done")]
    done_at: datetime | None

    @classmethod
    def of(cls, p: OcpiPush) -> PushOut:
        return cls(
            id=p.id,
            module=p.module,
            method=p.method,
            url=p.url,
            body=p.body,
            object_key=p.object_key,
            state=p.outcome or "pending",
            attempts=p.attempts,
            last_error=p.last_error,
            created_at=p.created_at,
            next_attempt_at=p.next_at if p.done_at is None else None,
            done_at=p.done_at,
        )


class PushPageOut(Page, kw_only=True, rename="camel"):
    items: list[PushOut]
