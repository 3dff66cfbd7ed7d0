"""HTTP (operator): the incident feed. Mounted under the operator router."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Body, FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, Caller, can_operate
from app.core.http import PageParams, problems
from app.health.errors import IncidentAlreadyResolved, IncidentNotFound
from app.health.models import Scope
from app.health.schemas import IncidentDetailOut, IncidentOut, IncidentPageOut, ResolveIncidentIn
from app.health.service import IncidentService
from app.health.signals import Severity

Cause = Literal[
    "overheating",
    "grid_supply",
    "site_network",
    "vehicle_communication",
    "metering",
    "connector_lock",
    "internal_firmware",
    "rfid_reader",
    "electrical_protection",
    "unknown",
]


def provide_incidents(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> IncidentService:
    # The caller's tenant's incidents only: another's is incident.not_found.
    return IncidentService(db, state.bus, tenant_id=tenant_id)


def _user_id(caller: Caller) -> uuid.UUID | None:
    """Who acted, as the incident records it: a user (an API key is no user)."""
    return caller.id if caller.kind == "user" else None


class IncidentController(Controller):
    path = "/incidents"
    tags = ("incidents",)
    dependencies = {"incidents": Provide(provide_incidents, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/",
        operation_id="ListIncidents",
        summary="Incidents, newest first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_incidents(
        self,
        page: NamedDependency[PageParams],
        incidents: NamedDependency[IncidentService],
        # "state" is a reserved name in Litestar handlers (the app state).
        state_filter: Annotated[
            Literal["open", "acknowledged", "resolved", "active"] | None,
            QueryParameter(name="state", description="active: open or acknowledged"),
        ] = None,
        cause: Annotated[Cause | None, QueryParameter(description="The diagnosed root cause")] = None,
        kind: Annotated[str | None, QueryParameter(description="The detector (offline, metering, ...)")] = None,
        severity: Annotated[Severity | None, QueryParameter(description="info, warning or critical")] = None,
        location_id: Annotated[
            uuid.UUID | None, QueryParameter(name="locationId", description="Only this site's")
        ] = None,
        charger_id: Annotated[
            uuid.UUID | None, QueryParameter(name="chargerId", description="Only this charger's")
        ] = None,
        # "scope" is reserved too (the ASGI scope).
        scope_filter: Annotated[
            Scope | None,
            QueryParameter(
                name="scope", description="charger, site, or fleet (one model and firmware across the network)"
            ),
        ] = None,
    ) -> IncidentPageOut:
        rows, total = await incidents.find(
            state=state_filter,
            cause=cause,
            kind=kind,
            severity=severity,
            location_id=location_id,
            charge_point_id=charger_id,
            scope=scope_filter,
            limit=page.limit,
            offset=page.offset,
        )
        return IncidentPageOut(
            items=[IncidentOut.of(i) for i in rows], total=total, limit=page.limit, offset=page.offset
        )

    @get(
        "/{incident_id:uuid}",
        operation_id="GetIncident",
        summary="An incident with its trail of signals, state changes and actions",
        responses=problems(*OPERATOR_PROBLEMS, IncidentNotFound),
    )
    async def get_incident(
        self, incident_id: FromPath[uuid.UUID], incidents: NamedDependency[IncidentService]
    ) -> IncidentDetailOut:
        incident = await incidents.get(incident_id)
        trail = await incidents.trail(incident_id)
        return IncidentDetailOut.detail(incident, trail, await incidents.diagnostics(incident))

    @post(
        "/{incident_id:uuid}/acknowledge",
        operation_id="AcknowledgeIncident",
        summary="Someone is on it (idempotent)",
        status_code=200,
        guards=[can_operate],
        responses=problems(*OPERATOR_PROBLEMS, IncidentNotFound, IncidentAlreadyResolved),
    )
    async def acknowledge(
        self,
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        caller: NamedDependency[Caller],
    ) -> IncidentOut:
        return IncidentOut.of(await incidents.acknowledge(incident_id, by=_user_id(caller)))

    @post(
        "/{incident_id:uuid}/resolve",
        operation_id="ResolveIncident",
        summary="Close the incident by hand",
        status_code=200,
        guards=[can_operate],
        responses=problems(*OPERATOR_PROBLEMS, IncidentNotFound, IncidentAlreadyResolved),
    )
    async def resolve(
        self,
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        caller: NamedDependency[Caller],
        data: Annotated[ResolveIncidentIn | None, Body()] = None,
    ) -> IncidentOut:
        note = data.note if data is not None else None
        return IncidentOut.of(await incidents.resolve(incident_id, by=_user_id(caller), note=note))
