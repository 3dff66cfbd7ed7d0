"""Locations, charge points, EVSEs, connectors, their status history and raw events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.database import Base, UtcDateTime, new_id, utcnow


class Location(Base):
    __tablename__ = "locations"
    # Driver search takes a bounding box on both: a range scan on PostgreSQL and SQLite alike.
    __table_args__ = (Index("ix_locations_lat_lon", "latitude", "longitude"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(3), default="SWE")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChargePoint(Base):
    """A charging station as it speaks OCPP; ``identity`` is the last path segment of its URL."""

    __tablename__ = "charge_points"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    identity: Mapped[str] = mapped_column(String(48), unique=True)
    # The operator company (tenant) that owns it; its location, when it has one, is the same one's.
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"), index=True)
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(25))
    meter_serial_number: Mapped[str | None] = mapped_column(String(25))
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    registration_status: Mapped[str] = mapped_column(String(16), default="Pending")
    connected: Mapped[bool] = mapped_column(default=False)
    last_boot_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_boot_reason: Mapped[str | None] = mapped_column(String(32))
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What the last boot-time configuration push was (profile + firmware): unchanged, no push.
    boot_config_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    evses: Mapped[list[Evse]] = relationship(back_populates="charge_point", order_by="Evse.evse_number", lazy="raise")


def charger_owner() -> ColumnElement[uuid.UUID | None]:
    """A charger's operator company, in a query that joins its location: its own owner, else
    its location's (a charger registered before chargers recorded their owner)."""
    return func.coalesce(ChargePoint.operator_id, Location.operator_id)


class Evse(Base):
    """One EVSE; ``evse_id`` is its eMI3 ID (e.g. ``SE*LAD*E0001*1``)."""

    __tablename__ = "evses"
    __table_args__ = (UniqueConstraint("charge_point_id", "evse_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    evse_number: Mapped[int] = mapped_column(Integer)
    evse_id: Mapped[str] = mapped_column(String(48), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="Unknown")
    status_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    charge_point: Mapped[ChargePoint] = relationship(back_populates="evses", lazy="raise")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="evse", order_by="Connector.connector_number", lazy="raise"
    )


class Connector(Base):
    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("evse_pk", "connector_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    evse_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("evses.id"))
    connector_number: Mapped[int] = mapped_column(Integer)
    standard: Mapped[str] = mapped_column(String(32), default="IEC_62196_T2")
    power_type: Mapped[str] = mapped_column(String(16), default="AC_3_PHASE")
    max_kw: Mapped[float] = mapped_column(Float, default=22.0)
    status: Mapped[str] = mapped_column(String(20), default="Unknown")
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    status_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    evse: Mapped[Evse] = relationship(back_populates="connectors", lazy="raise")


class ConnectorStatusChange(Base):
    """Every status report as received; connector 0 / evse 0 is the charge point itself."""

    __tablename__ = "connector_status_history"
    __table_args__ = (Index("ix_status_history_cp_at", "charge_point_id", "reported_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    evse_number: Mapped[int] = mapped_column(Integer)
    connector_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(255))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChargerEvent(Base):
    """The raw charger-event log the fault detection consumes.

    ``kind`` is one of: boot, error, notify_event, security_event, firmware_status,
    diagnostics_status, log_status, data_transfer, connected, disconnected, report.
    """

    __tablename__ = "charger_events"
    __table_args__ = (Index("ix_charger_events_cp_at", "charge_point_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    kind: Mapped[str] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(100))
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CommandLog(Base):
    """The audit log of every command sent to a charger: who, when, what, the answer."""

    __tablename__ = "command_log"
    __table_args__ = (Index("ix_command_log_cp_at", "charge_point_id", "requested_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    name: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Who asked when it wasn't a person: "boot-configuration", "health", ...
    origin: Mapped[str] = mapped_column(String(32), default="operator")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # pending | answered | offline | timeout | call_error | invalid | unsupported
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    answer_status: Mapped[str | None] = mapped_column(String(40))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_description: Mapped[str | None] = mapped_column(String(255))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DiagnosticsFile(Base):
    """A diagnostics / log upload slot: a one-time, expiring URL per request, then the file."""

    __tablename__ = "diagnostics_files"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"), index=True)
    command_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("command_log.id"))
    request_id: Mapped[int] = mapped_column(Integer)
    # Only a hash of the URL token is stored: a database reader can't upload.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    uploaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
