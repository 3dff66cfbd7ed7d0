"""Users (operators and drivers), their refresh tokens, and id tokens (RFID / app)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # operator | driver
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    active: Mapped[bool] = mapped_column(default=True)
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
    group_token: Mapped[str | None] = mapped_column(String(36))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
