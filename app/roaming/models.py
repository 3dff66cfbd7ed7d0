"""Roaming over OCPI 2.2.1: the partners a tenant exchanges data with, the tokens they push
to us, the sessions their drivers charge under, and the pushes we owe them.

Each tenant (operator company) is one CPO party; a partner belongs to exactly one tenant, so
its credentials token reaches that tenant's data and nothing else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class OcpiPartner(Base):
    """Another OCPI platform (an eMSP, a hub) and our credentials with it.

    ``state``: ``pending`` (token A issued, or our registration with it under way),
    ``registered`` (tokens exchanged), ``unregistered`` (DELETE credentials, by either side).
    We keep only a digest of the token the partner calls us with (A while pending, then the
    one we handed over); the token we call the partner with must be sent, so it is kept.
    """

    __tablename__ = "ocpi_partners"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # The party the credentials name first (a hub or a multi-role platform lists more in roles).
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    # The CredentialsRole list: [{role, party_id, country_code, business_details}].
    roles: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    their_token: Mapped[str | None] = mapped_column(String(255))
    versions_url: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(8))
    # Their version details: [{identifier, role, url}].
    endpoints: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Suspended by the operator: its calls are refused (403), its tokens authorise nothing,
    # and what we owe it waits in the outbox until it is resumed.
    suspended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OcpiToken(Base):
    """A token an eMSP pushed to us (Tokens module, receiver side): its drivers' cards and
    app identities, valid or blocked, whitelisted or to be authorised in real time."""

    __tablename__ = "ocpi_tokens"
    __table_args__ = (UniqueConstraint("operator_id", "country_code", "party_id", "uid", "type"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ocpi_partners.id"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    uid: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(16))  # AD_HOC_USER | APP_USER | OTHER | RFID
    contract_id: Mapped[str] = mapped_column(String(36))
    valid: Mapped[bool] = mapped_column(Boolean)
    whitelist: Mapped[str] = mapped_column(String(16))  # ALWAYS | ALLOWED | ALLOWED_OFFLINE | NEVER
    # The whole Token object as the partner last sent it (visual number, issuer, group, ...).
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime)


class OcpiSession(Base):
    """A charging session on our network under a partner's token: what the Sessions and
    CDRs modules report to that partner. The roaming session is billed through its CDR,
    never through a card hold.

    ``transaction_id`` is None while a START_SESSION command waits for the charger.
    """

    __tablename__ = "ocpi_sessions"
    __table_args__ = (Index("ix_ocpi_sessions_cdr_updated", "partner_id", "cdr_last_updated"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)  # the OCPI session id
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ocpi_partners.id"), index=True)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"), unique=True)
    # The token the session runs under (a CdrToken: uid, type, contract_id, party).
    token: Mapped[dict[str, Any]] = mapped_column(JSON)
    auth_method: Mapped[str] = mapped_column(String(16))  # AUTH_REQUEST | COMMAND | WHITELIST
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")  # ACTIVE | COMPLETED | INVALID | ...
    # The tariff in force at the start: the CDR is priced with it.
    tariff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tariffs.id"))
    cdr_id: Mapped[str | None] = mapped_column(String(39), unique=True)
    # The CDR as sent (its total cost is the roaming revenue), and when the partner took it.
    cdr: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cdr_total_minor: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    cdr_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the CDR was made: its last_updated (a CDR never changes), the CDRs GET's filter.
    cdr_last_updated: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OcpiPush(Base):
    """A call we owe a partner (an EVSE status PATCH, a session PUT, a CDR POST, a command
    result): delivered by the push worker with back-off, so a partner that is down slows
    down nobody. ``object_key`` names what the push is about (``evse:<uid>``): a newer push
    of the same object supersedes one not yet delivered."""

    __tablename__ = "ocpi_pushes"
    __table_args__ = (
        Index("ix_ocpi_pushes_due", "done_at", "next_at"),
        Index("ix_ocpi_pushes_object", "partner_id", "object_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ocpi_partners.id"))
    module: Mapped[str] = mapped_column(String(32))  # locations | sessions | cdrs | commands | ...
    method: Mapped[str] = mapped_column(String(8))  # PUT | PATCH | POST
    # The partner module endpoint's URL plus this path (e.g. /SE/LAD/LOC1/SE*LAD*E1), or a
    # whole URL (a command's response_url).
    url: Mapped[str] = mapped_column(String(1024))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    object_key: Mapped[str] = mapped_column(String(160))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # delivered | superseded | gave_up; the partner's last answer when it failed.
    outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
