"""Operator companies (the tenants), their machine API keys and their audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class Operator(Base):
    """A charge point operator company: one tenant. ``country_code`` + ``party_id`` prefix its
    EVSE IDs and make it one OCPI party."""

    __tablename__ = "operators"
    # One OCPI party per company.
    __table_args__ = (UniqueConstraint("country_code", "party_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The seller on the tenant's receipts and credit notes (a simplified VAT invoice names
    # the seller's legal name, address and VAT number); None until the tenant sets them.
    legal_name: Mapped[str | None] = mapped_column(String(200))
    street_address: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    vat_number: Mapped[str | None] = mapped_column(String(20))  # SE556677889901
    org_number: Mapped[str | None] = mapped_column(String(20))  # 556677-8899
    contact_email: Mapped[str | None] = mapped_column(String(254))


class ApiKey(Base):
    """A tenant's key for its own back-office integrations. Only a hash of the secret is
    kept; ``prefix`` (the key's first characters) finds the row and shows which key it is."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    # The tenant roles the key acts with (app/core/auth.py TENANT_ROLES).
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """One change or command a tenant's user or key made, with who made it."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_operator_at", "operator_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    actor_type: Mapped[str] = mapped_column(String(16))  # user | api_key
    actor_id: Mapped[uuid.UUID] = mapped_column()
    actor_name: Mapped[str] = mapped_column(String(254))  # e-mail or key name, as it was then
    action: Mapped[str] = mapped_column(String(100))  # the operation, e.g. tariffs.update
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
