"""JSON shapes of incidents (operator API)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.chargers.models import DiagnosticsFile
from app.core.http import Page
from app.health.models import Incident, IncidentEvent, Scope


class IncidentOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID | None
    location_id: uuid.UUID | None
    charger_id: Annotated[uuid.UUID | None, msgspec.Meta(description="null: a site or fleet incident")]
    charger_identity: Annotated[
        str, msgspec.Meta(description="A site or fleet incident: the first charger seen in trouble")
    ]
    scope: Annotated[
        Scope,
        msgspec.Meta(
            description="charger: one charger (EVSE); site: several chargers of one location at once; fleet: "
            "one company's chargers of one vendor, model and firmware with the same trouble "
            "(`evidence.fleet` holds the scope: the chargers, the population, the sites, other firmware)"
        ),
    ]
    site: Annotated[bool, msgspec.Meta(description="A site incident (scope site)")]
    evse: Annotated[int | None, msgspec.Meta(description="null: the whole charger (or site)")]
    connectors: list[int]
    kind: Annotated[
        str,
        msgspec.Meta(
            description="The detector: offline, reported_error, overheating, power_supply, metering, "
            "failed_starts, vehicle_communication, boot_loop, firmware, anomaly"
        ),
    ]
    topic: str
    cause: Annotated[
        str,
        msgspec.Meta(
            description="overheating, grid_supply, site_network, vehicle_communication, metering, "
            "connector_lock, internal_firmware, rfid_reader, electrical_protection or unknown"
        ),
    ]
    confidence: float
    severity: str  # info | warning | critical
    state: str  # open | acknowledged | resolved
    summary: str
    evidence: Annotated[
        dict[str, Any],
        msgspec.Meta(description="`chain`: the signals, samples and neighbours; `site` or `fleet`: the scope"),
    ]
    opened_at: datetime
    last_signal_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    resolution: str | None  # automatic | operator | merged (into a site or fleet incident)
    flaps: int

    @classmethod
    def fields_of(cls, i: Incident) -> dict[str, Any]:
        return {
            "id": i.id,
            "operator_id": i.operator_id,
            "location_id": i.location_id,
            "charger_id": i.charge_point_id,
            "charger_identity": i.identity,
            "scope": i.scope,
            "site": i.scope == "site",
            "evse": i.evse,
            "connectors": list(i.connectors or []),
            "kind": i.kind,
            "topic": i.topic,
            "cause": i.cause,
            "confidence": i.confidence,
            "severity": i.severity,
            "state": i.state,
            "summary": i.summary,
            "evidence": i.evidence or {},
            "opened_at": i.opened_at,
            "last_signal_at": i.last_signal_at,
            "acknowledged_at": i.acknowledged_at,
            "acknowledged_by": i.acknowledged_by,
            "resolved_at": i.resolved_at,
            "resolved_by": i.resolved_by,
            "resolution": i.resolution,
            "flaps": i.flaps,
        }

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        return cls(**cls.fields_of(i))


class IncidentEventOut(msgspec.Struct, kw_only=True, rename="camel"):
    at: datetime
    kind: str  # signal | state | action | note
    data: dict[str, Any]

    @classmethod
    def of(cls, e: IncidentEvent) -> IncidentEventOut:
        return cls(at=e.at, kind=e.kind, data=e.data or {})


class IncidentDiagnosticsOut(msgspec.Struct, kw_only=True, rename="camel"):
    """A diagnostics / log file the incident asked the charger for."""

    file_id: uuid.UUID
    requested_at: datetime
    uploaded_at: datetime | None  # None: not (yet) uploaded
    filename: str | None
    size_bytes: int | None
    sha256: str | None
    # Where the operator downloads it (the charger's diagnostics), once uploaded.
    content_url: str | None

    @classmethod
    def of(cls, f: DiagnosticsFile) -> IncidentDiagnosticsOut:
        url = f"/api/v1/operator/chargers/{f.charge_point_id}/diagnostics/{f.id}/content"
        return cls(
            file_id=f.id,
            requested_at=f.created_at,
            uploaded_at=f.uploaded_at,
            filename=f.filename,
            size_bytes=f.size_bytes,
            sha256=f.sha256,
            content_url=url if f.uploaded_at is not None else None,
        )


class IncidentDetailOut(IncidentOut, kw_only=True, rename="camel"):
    trail: list[IncidentEventOut]
    diagnostics: list[IncidentDiagnosticsOut]

    @classmethod
    def detail(
        cls, i: Incident, trail: Sequence[IncidentEvent], diagnostics: Sequence[DiagnosticsFile] = ()
    ) -> IncidentDetailOut:
        return cls(
            **IncidentOut.fields_of(i),
            trail=[IncidentEventOut.of(e) for e in trail],
            diagnostics=[IncidentDiagnosticsOut.of(f) for f in diagnostics],
        )


class IncidentPageOut(Page, kw_only=True, rename="camel"):
    items: list[IncidentOut]


class ResolveIncidentIn(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    note: str | None = None
