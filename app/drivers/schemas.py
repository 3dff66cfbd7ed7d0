"""JSON shapes of sign-in, the current user, id tokens and saved payment methods."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.core.http import Page
from app.drivers.models import IdToken, User
from app.drivers.tokens import TokenPair
from payments.provider import SavedMethod, SavedMethodSetup

IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
IdTokenStatus = Literal["Accepted", "Blocked", "Expired"]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, description="With a UTC offset")]


class LoginIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class SignUpIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    # Longer than the policy's 1024 here, so the service answers user.password_too_long.
    password: Annotated[str, msgspec.Meta(max_length=4096)]


class SignUpOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The one answer to every accepted sign-up, whether or not the email was registered."""

    status: Literal["check_mail"] = "check_mail"


class VerifyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, description="from the sign-up link")]
    password: Annotated[str, msgspec.Meta(max_length=1024, description="the one chosen at sign-up")]


class ChangePasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    current_password: Annotated[str, msgspec.Meta(max_length=1024)]
    new_password: Annotated[str, msgspec.Meta(max_length=4096)]


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
    role: Literal["driver", "platform_admin", "admin", "operations", "finance", "read_only"]
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


# -- a driver's own id tokens and saved cards --------------------------------------------

# What a driver may link: cards (ISO14443 / ISO15693), contract ids and app tokens.
DriverIdTokenType = Literal["ISO14443", "ISO15693", "eMAID", "Central"]


class MyIdTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    token: Annotated[
        str, msgspec.Meta(min_length=1, max_length=36, description="The card UID or token as the charger sends it")
    ]
    type: DriverIdTokenType = "ISO14443"
    label: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class MyIdTokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    token: str
    type: str
    status: str
    expires_at: datetime | None
    label: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: IdToken) -> MyIdTokenOut:
        return cls(
            id=row.id,
            token=row.token,
            type=row.type,
            status=row.status,
            expires_at=row.expires_at,
            label=row.label,
            created_at=row.created_at,
        )


class MyIdTokenPageOut(Page, kw_only=True, rename="camel"):
    items: list[MyIdTokenOut]


class PaymentMethodSetupOut(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """What the PSP's mobile SDK needs to save a card; the card itself never reaches us."""

    provider: Literal["stripe", "adyen"]
    client_secret: str | None = None  # Stripe: the SetupIntent's, for PaymentSheet / confirmSetupIntent
    publishable_key: str | None = None  # Stripe
    session_id: str | None = None  # Adyen Drop-in / Components session
    session_data: str | None = None  # Adyen
    client_key: str | None = None  # Adyen
    environment: str | None = None  # Adyen: test | live

    @classmethod
    def of(
        cls,
        provider: Literal["stripe", "adyen"],
        setup: SavedMethodSetup,
        *,
        public_key: str | None,
        environment: str | None,
    ) -> PaymentMethodSetupOut:
        if provider == "stripe":
            return cls(provider=provider, client_secret=setup.client_secret, publishable_key=public_key or None)
        return cls(
            provider=provider,
            session_id=setup.session_id,
            session_data=setup.session_data,
            client_key=public_key or None,
            environment=environment,
        )


class PaymentMethodOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: str  # the PSP's reference of the saved method (Stripe pm_..., Adyen storedPaymentMethodId)
    brand: str | None
    last4: str | None
    expiry: str | None  # "MM/YYYY"

    @classmethod
    def of(cls, method: SavedMethod) -> PaymentMethodOut:
        return cls(id=method.ref, brand=method.brand, last4=method.last4, expiry=method.expiry)


class PaymentMethodListOut(msgspec.Struct, kw_only=True, rename="camel"):
    provider: Literal["stripe", "adyen"]
    items: list[PaymentMethodOut]
