"""JSON shapes of sign-in, the current user and id tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.core.http import Page
from app.drivers.models import IdToken, User
from app.drivers.service import TokenPair

IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
IdTokenStatus = Literal["Accepted", "Blocked", "Expired"]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, description="With a UTC offset")]


class LoginIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class RefreshIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    refresh_token: Annotated[str, msgspec.Meta(max_length=4096)]


class TokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    access_token: str
    refresh_token: str  # good once: the next refresh spends it
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int  # seconds the access token lives

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in_s,
        )


class UserOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    email: str
    role: Literal["operator", "driver"]
    operator_id: uuid.UUID | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            role=user.role,  # type: ignore[arg-type]
            operator_id=user.operator_id,
            active=user.active,
            created_at=user.created_at,
        )


class IdTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    token: str  # 1-36 characters, checked by the service (code id_token.invalid)
    type: IdTokenType = "ISO14443"
    status: IdTokenStatus = "Accepted"
    expires_at: AwareDatetime | None = None
    user_id: uuid.UUID | None = None
    group_token: str | None = None
    label: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class IdTokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    token: str
    type: str
    status: str
    expires_at: datetime | None
    user_id: uuid.UUID | None
    group_token: str | None
    label: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: IdToken) -> IdTokenOut:
        return cls(
            id=row.id,
            token=row.token,
            type=row.type,
            status=row.status,
            expires_at=row.expires_at,
            user_id=row.user_id,
            group_token=row.group_token,
            label=row.label,
            created_at=row.created_at,
        )


class IdTokenPageOut(Page, kw_only=True, rename="camel"):
    items: list[IdTokenOut]
