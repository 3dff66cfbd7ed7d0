"""JSON shapes of tenants, staff users, API keys and the audit log (camelCase on the wire)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.core.auth import TENANT_ROLES
from app.core.http import Page
from app.drivers.models import User
from app.operators.api_keys import MAX_KEY_NAME_LENGTH
from app.operators.models import ApiKey, AuditEntry, Operator
from app.operators.tenants import MAX_TENANT_NAME_LENGTH

_ROLE_LIST = ", ".join(sorted(TENANT_ROLES))
# Names and e-mails are stored: no control characters (PostgreSQL refuses NUL in text).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Role = Annotated[str, msgspec.Meta(max_length=32, pattern=PRINTABLE, description=f"A company role: {_ROLE_LIST}")]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=PRINTABLE)]
Password = Annotated[str, msgspec.Meta(max_length=1024, description="10 to 1024 characters, not the e-mail")]

# -- API keys ------------------------------------------------------------------------------


class ApiKeyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_NAME_LENGTH, pattern=PRINTABLE)]
    roles: Annotated[
        list[Role],
        msgspec.Meta(
            min_length=1,
            max_length=len(TENANT_ROLES),
            description=f"Company roles ({_ROLE_LIST}); none you do not hold yourself",
        ),
    ]


class ApiKeyOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    name: str
    prefix: Annotated[str, msgspec.Meta(description="The key's visible part: lnk_<prefix>_...")]
    roles: list[str]
    created_by: Annotated[uuid.UUID | None, msgspec.Meta(description="The user who created it; None for a key")]
    created_at: datetime
    last_used_at: Annotated[datetime | None, msgspec.Meta(description="Noted at most once a minute")]
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            roles=list(key.roles),
            created_by=key.created_by,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeySecretOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The new key with its secret: answered once, at creation."""

    api_key: ApiKeyOut
    key: Annotated[
        str, msgspec.Meta(description="lnk_<prefix>_<secret>: send as Authorization: Bearer; shown only now")
    ]


class ApiKeyPageOut(Page, kw_only=True, rename="camel"):
    items: list[ApiKeyOut]


# -- staff users ---------------------------------------------------------------------------


class StaffIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    email: Email
    password: Password
    role: Role


class StaffPatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Only the fields sent change. ``active: false`` signs the user out everywhere."""

    role: Role | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class StaffOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    email: str
    role: str
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> StaffOut:
        return cls(id=user.id, email=user.email, role=user.role, active=user.active, created_at=user.created_at)


class StaffPageOut(Page, kw_only=True, rename="camel"):
    items: list[StaffOut]


# -- tenants (platform API) ----------------------------------------------------------------


class TenantAdminIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    email: Email
    password: Password


class TenantIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TENANT_NAME_LENGTH, pattern=PRINTABLE)]
    country_code: Annotated[str, msgspec.Meta(max_length=2, description="ISO 3166-1 alpha-2, e.g. SE")]
    party_id: Annotated[str, msgspec.Meta(max_length=3, description="OCPI party id: 3 capital letters or digits")]
    admin: Annotated[TenantAdminIn, msgspec.Meta(description="The company's first admin")]


class TenantOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    name: str
    country_code: str
    party_id: str
    created_at: datetime
    admins: Annotated[list[str], msgspec.Meta(description="The e-mails of its admins")]

    @classmethod
    def of(cls, operator: Operator, admins: Sequence[User]) -> TenantOut:
        return cls(
            id=operator.id,
            name=operator.name,
            country_code=operator.country_code,
            party_id=operator.party_id,
            created_at=operator.created_at,
            admins=[u.email for u in admins],
        )


class TenantPageOut(Page, kw_only=True, rename="camel"):
    items: list[TenantOut]


# -- audit log -----------------------------------------------------------------------------


class AuditEntryOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    at: datetime
    actor_type: Annotated[str, msgspec.Meta(description="user | api_key")]
    actor_id: uuid.UUID
    actor_name: Annotated[str, msgspec.Meta(description="The user's e-mail or the key's name, as it was then")]
    action: Annotated[str, msgspec.Meta(description="The operation id, e.g. UpdateTariff")]
    method: str
    path: str
    status_code: int
    details: Annotated[dict[str, Any], msgspec.Meta(description="The path parameters")]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=e.id,
            at=e.at,
            actor_type=e.actor_type,
            actor_id=e.actor_id,
            actor_name=e.actor_name,
            action=e.action,
            method=e.method,
            path=e.path,
            status_code=e.status_code,
            details=dict(e.details or {}),
        )


class AuditPageOut(Page, kw_only=True, rename="camel"):
    items: list[AuditEntryOut]
