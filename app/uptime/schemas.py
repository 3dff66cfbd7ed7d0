"""msgspec structs of the uptime API: the NEVI report, the availability report, exclusions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.core.http import Page
from app.uptime.models import UptimeExclusion

ExclusionScope = Literal["port", "charge_point", "location"]
ExclusionReason = Literal[
    "grid_failure", "vandalism", "natural_disaster", "scheduled_maintenance", "vehicle_fault", "other"
]


class PortOut(msgspec.Struct, kw_only=True, rename="camel"):
    port_id: Annotated[uuid.UUID, msgspec.Meta(description="The connector's id: targetId of a port exclusion")]
    charge_point_id: uuid.UUID
    charge_point_identity: str
    location_id: uuid.UUID | None
    location_name: str
    evse_id: Annotated[str, msgspec.Meta(description="eMI3 EVSE ID")]
    evse_number: int
    connector_number: int
    in_service_from: Annotated[
        datetime, msgspec.Meta(description="First status report; else first connection; else registration")
    ]


class PortUptimeOut(PortOut, kw_only=True, rename="camel"):
    window_start: Annotated[datetime, msgspec.Meta(description="Later than the 12 months' start if prorated")]
    window_end: datetime
    window_minutes: float
    outage_minutes: float
    excluded_minutes: float
    uptime_percent: Annotated[float | None, msgspec.Meta(description="NEVI µ; null: not in service in the window")]
    meets_nevi: Annotated[bool | None, msgspec.Meta(description="uptimePercent >= 97")]


class PortUptimeReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    month: Annotated[str, msgspec.Meta(description="The reported month, YYYY-MM (UTC)")]
    window_start: datetime
    window_end: datetime
    time_zone: str
    threshold_percent: float
    generated_at: datetime
    ports: list[PortUptimeOut]


class MonthFigureOut(msgspec.Struct, kw_only=True, rename="camel"):
    month: str
    window_minutes: Annotated[float, msgspec.Meta(description="Minutes in service in the month (so far)")]
    outage_minutes: float
    excluded_minutes: float
    availability_percent: Annotated[float | None, msgspec.Meta(description="Up minutes / minutes, no exclusions")]
    uptime_percent: Annotated[float | None, msgspec.Meta(description="The same with exclusions applied (NEVI µ)")]


class PortAvailabilityOut(PortOut, kw_only=True, rename="camel"):
    months: list[MonthFigureOut]


class LocationAvailabilityOut(msgspec.Struct, kw_only=True, rename="camel"):
    location_id: uuid.UUID
    location_name: str
    since: Annotated[str, msgspec.Meta(description="First month, YYYY-MM (UTC)")] = msgspec.field(name="from")
    until: Annotated[str, msgspec.Meta(description="Last month, YYYY-MM (UTC)")] = msgspec.field(name="to")
    time_zone: str
    threshold_percent: float
    generated_at: datetime
    site: Annotated[list[MonthFigureOut], msgspec.Meta(description="All ports together, minute-weighted")]
    ports: list[PortAvailabilityOut]


class UptimeExclusionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    scope: ExclusionScope
    target_id: Annotated[uuid.UUID, msgspec.Meta(description="A portId, charge point id or location id")]
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)]
    reason: ExclusionReason
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class UptimeExclusionOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID | None
    scope: str
    target_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    note: str
    created_by: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, e: UptimeExclusion) -> UptimeExclusionOut:
        return cls(
            id=e.id,
            operator_id=e.operator_id,
            scope=e.scope,
            target_id=e.target_id,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            reason=e.reason,
            note=e.note,
            created_by=e.created_by,
            created_at=e.created_at,
        )


class UptimeExclusionPageOut(Page, kw_only=True, rename="camel"):
    items: list[UptimeExclusionOut]
