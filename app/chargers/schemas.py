"""JSON shapes of chargers (charge points with their EVSEs and connectors) and locations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.chargers.models import ChargePoint, CommandLog, Connector, DiagnosticsFile, Evse, Location
from app.core.http import Page


class ChargerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    # Identity and password rules live in the service, which answers with their own
    # codes (charger.invalid_identity, charger.weak_password, charger.predictable_password).
    identity: Annotated[str, msgspec.Meta(description="OCPP identity, the last path segment of the charger's URL")]
    password: Annotated[
        str,
        msgspec.Meta(
            description="HTTP Basic password (security profiles 1/2): a random secret of 16-40 characters, "
            "at least 6 distinct, spanning enough character classes (docs/ocpp.md)"
        ),
    ]
    location_id: uuid.UUID | None = None
    evse_count: Annotated[
        int, msgspec.Meta(ge=0, le=32, description="EVSEs to create now; more appear with status")
    ] = 0
    max_kw: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 22.0


class ConnectorOut(msgspec.Struct, kw_only=True, rename="camel"):
    number: int
    standard: str
    power_type: str
    max_kw: float
    status: str
    error_code: str | None
    vendor_error_code: str | None
    status_updated_at: datetime | None

    @classmethod
    def of(cls, c: Connector) -> ConnectorOut:
        return cls(
            number=c.connector_number,
            standard=c.standard,
            power_type=c.power_type,
            max_kw=c.max_kw,
            status=c.status,
            error_code=c.error_code,
            vendor_error_code=c.vendor_error_code,
            status_updated_at=c.status_updated_at,
        )


class EvseOut(msgspec.Struct, kw_only=True, rename="camel"):
    evse_id: Annotated[str, msgspec.Meta(description="eMI3 EVSE ID, e.g. SE*LAD*E0001*1")]
    number: Annotated[int, msgspec.Meta(description="The EVSE's number on its charger (OCPP evseId)")]
    status: str
    status_updated_at: datetime | None
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, e: Evse) -> EvseOut:
        return cls(
            evse_id=e.evse_id,
            number=e.evse_number,
            status=e.status,
            status_updated_at=e.status_updated_at,
            connectors=[ConnectorOut.of(c) for c in e.connectors],
        )


class ChargerOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: int
    identity: str
    location_id: uuid.UUID | None
    registration_status: str
    connected: bool
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    evses: list[EvseOut]

    @classmethod
    def of(cls, cp: ChargePoint) -> ChargerOut:
        """``cp.evses`` and their connectors must be loaded."""
        return cls(
            id=cp.id,
            number=cp.number,
            identity=cp.identity,
            location_id=cp.location_id,
            registration_status=cp.registration_status,
            connected=cp.connected,
            ocpp_version=cp.ocpp_version,
            vendor=cp.vendor,
            model=cp.model,
            serial_number=cp.serial_number,
            firmware_version=cp.firmware_version,
            last_boot_at=cp.last_boot_at,
            last_seen_at=cp.last_seen_at,
            created_at=cp.created_at,
            evses=[EvseOut.of(e) for e in cp.evses],
        )


class ChargerPageOut(Page, kw_only=True, rename="camel"):
    items: list[ChargerOut]


class LocationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    address: Annotated[str, msgspec.Meta(max_length=255)] = ""
    city: Annotated[str, msgspec.Meta(max_length=100)] = ""
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] = ""
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3")] = "SWE"
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    time_zone: Annotated[str, msgspec.Meta(max_length=64, description="IANA time zone, e.g. Europe/Stockholm")] = (
        "Europe/Stockholm"
    )

    def __post_init__(self) -> None:
        # msgspec turns these into validation errors naming the struct's field.
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timeZone {self.time_zone!r} is not an IANA time zone") from None


class LocationOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID | None
    name: str
    address: str
    city: str
    postal_code: str
    country: str
    latitude: float | None
    longitude: float | None
    time_zone: str
    created_at: datetime

    @classmethod
    def of(cls, loc: Location) -> LocationOut:
        return cls(
            id=loc.id,
            operator_id=loc.operator_id,
            name=loc.name,
            address=loc.address,
            city=loc.city,
            postal_code=loc.postal_code,
            country=loc.country,
            latitude=loc.latitude,
            longitude=loc.longitude,
            time_zone=loc.time_zone,
            created_at=loc.created_at,
        )


class LocationPageOut(Page, kw_only=True, rename="camel"):
    items: list[LocationOut]


class CommandOut(msgspec.Struct, kw_only=True, rename="camel"):
    """A command as the audit log holds it; ``status`` and ``data`` are the charger's answer."""

    id: uuid.UUID
    charger_id: uuid.UUID
    name: str
    args: dict[str, Any]
    origin: str
    requested_by: uuid.UUID | None
    requested_at: datetime
    outcome: Annotated[
        str, msgspec.Meta(description="answered | pending | offline | timeout | call_error | invalid | unsupported")
    ]
    status: str | None
    data: dict[str, Any] | None
    error_code: str | None
    error_description: str | None
    answered_at: datetime | None

    @classmethod
    def of(cls, c: CommandLog) -> CommandOut:
        return cls(
            id=c.id,
            charger_id=c.charge_point_id,
            name=c.name,
            args=c.args,
            origin=c.origin,
            requested_by=c.requested_by,
            requested_at=c.requested_at,
            outcome=c.outcome,
            status=c.answer_status,
            data=c.answer,
            error_code=c.error_code,
            error_description=c.error_description,
            answered_at=c.answered_at,
        )


class CommandPageOut(Page, kw_only=True, rename="camel"):
    items: list[CommandOut]


class DiagnosticsFileOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    command_id: uuid.UUID | None
    request_id: int
    created_at: datetime
    expires_at: datetime
    uploaded_at: datetime | None
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None

    @classmethod
    def of(cls, f: DiagnosticsFile) -> DiagnosticsFileOut:
        return cls(
            id=f.id,
            command_id=f.command_id,
            request_id=f.request_id,
            created_at=f.created_at,
            expires_at=f.expires_at,
            uploaded_at=f.uploaded_at,
            filename=f.filename,
            content_type=f.content_type,
            size_bytes=f.size_bytes,
            sha256=f.sha256,
        )


class DiagnosticsFileListOut(msgspec.Struct, kw_only=True, rename="camel"):
    items: list[DiagnosticsFileOut]
