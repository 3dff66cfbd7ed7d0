"""Users (operators and drivers), their refresh tokens, id tokens (RFID / app), their PSP
customers and saved-card bookkeeping, and the login throttle's counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # driver | platform_admin | admin | operations | finance | read_only (app/core/auth.py)
    role: Mapped[str] = mapped_column(String(16))
    # The tenant of an operator company's staff; None for drivers and platform admins.
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # When the owner of the e-mail address proved it (the sign-up link); None until then,
    # and such an account cannot sign in. Accounts made by operators or the CLI are verified.
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Every access token carries the version it was issued under (claim "ver"); bumping
    # it (logout everywhere, password change) refuses all access tokens issued before.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RefreshToken(Base):
    """One issued refresh token. Rotated on use; reuse of a spent one revokes its family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IdToken(Base):
    """An identifier a charger authorises: an RFID card, an app token, an eMAID."""

    __tablename__ = "id_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(20), default="ISO14443")
    status: Mapped[str] = mapped_column(String(16), default="Accepted")  # Accepted|Blocked|Expired
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The operator company that registered the card (operator API); None for a driver's own.
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"), index=True)
    group_token: Mapped[str | None] = mapped_column(String(36))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PaymentCustomer(Base):
    """A user's customer at a PSP (Stripe Customer id / Adyen shopperReference)."""

    __tablename__ = "payment_customers"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(16))  # stripe | adyen
    customer_ref: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HiddenPaymentMethod(Base):
    """A saved card the user removed. The PaymentProvider protocol has no "detach" yet, so
    the card stays at the PSP and we stop listing or charging it."""

    __tablename__ = "hidden_payment_methods"
    __table_args__ = (UniqueConstraint("user_id", "provider", "method_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(16))
    method_ref: Mapped[str] = mapped_column(String(255))
    hidden_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LoginAttempt(Base):
    """Attempts counted under one key (app/drivers/throttle.py), in the database so every
    API process counts the same ones: failed sign-ins of one account from one address
    ("login:<email>|<ip>", with back-off), failed sign-ins from one address ("address:<ip>")
    and sign-ups from one address ("signup:<ip>"), the last two in fixed windows."""

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    # The start of the fixed window; for a back-off key, the time of the last failure.
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(default=0)
    # Back-off keys: no attempt is checked before this time.
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
