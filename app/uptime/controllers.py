"""HTTP (operator): uptime per port (NEVI), monthly availability per site, exclusions.
Mounted under the operator router (``/api/v1/operator``, bearer, operator role).

As with the owner reports, a report is JSON at its path and a file at a last segment that
reads like a file name: ``/uptime/ports`` and ``/uptime/ports.csv``;
``/locations/{id}/availability`` and ``.../availability.csv`` / ``.../availability.svg``.
The caller sees its tenant's locations and chargers only; another's location is
``location.not_found`` (``UptimeService`` is scoped by the ``tenant_id`` dependency).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import LocationNotFound
from app.core.auth import OPERATOR_PROBLEMS, Caller, can_operate
from app.core.http import PageParams, problems
from app.uptime.errors import (
    ExclusionNoteRequired,
    ExclusionNotFound,
    InvalidExclusionPeriod,
    InvalidMonth,
    InvalidMonthRange,
    UnknownExclusionTarget,
)
from app.uptime.render import availability_csv, availability_svg, ports_csv
from app.uptime.schemas import (
    ExclusionScope,
    LocationAvailabilityOut,
    PortUptimeReportOut,
    UptimeExclusionIn,
    UptimeExclusionOut,
    UptimeExclusionPageOut,
)
from app.uptime.service import UptimeService

CSV = "text/csv; charset=utf-8"
SVG = "image/svg+xml"


def provide_uptime(db: NamedDependency[AsyncSession], tenant_id: uuid.UUID) -> UptimeService:
    return UptimeService(db, tenant_id=tenant_id)


def _file(content: str, media_type: str, filename: str, *, attachment: bool) -> Response[bytes]:
    disposition = "attachment" if attachment else "inline"
    return Response(
        content.encode(),
        media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


Month = Annotated[
    str | None,
    QueryParameter(description="The reported month, YYYY-MM (UTC); default the last full month"),
]
LocationFilter = Annotated[uuid.UUID | None, QueryParameter(name="locationId", description="Only this location's")]
FromMonth = Annotated[
    str | None,
    QueryParameter(name="from", description="First month, YYYY-MM; default 11 before to"),
]
ToMonth = Annotated[
    str | None,
    QueryParameter(name="to", description="Last month, YYYY-MM; default the last full one"),
]
# ``scope`` is Litestar's reserved name for the ASGI scope: the parameter is renamed.
ScopeFilter = Annotated[
    ExclusionScope | None, QueryParameter(name="scope", description="Only exclusions of this scope")
]
TargetFilter = Annotated[uuid.UUID | None, QueryParameter(name="targetId", description="Only this target's")]

_NEVI_PROBLEMS = problems(*OPERATOR_PROBLEMS, InvalidMonth, LocationNotFound)
_AVAILABILITY_PROBLEMS = problems(*OPERATOR_PROBLEMS, InvalidMonth, InvalidMonthRange, LocationNotFound)


class UptimeController(Controller):
    path = "/uptime"
    tags = ("uptime",)
    dependencies = {"uptime": Provide(provide_uptime, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/ports",
        operation_id="PortUptimeReport",
        summary="NEVI uptime per port over the 12 months ending with a month, with its inputs",
        responses=_NEVI_PROBLEMS,
    )
    async def ports(
        self,
        uptime: NamedDependency[UptimeService],
        month: Month = None,
        location_id: LocationFilter = None,
    ) -> PortUptimeReportOut:
        return await uptime.nevi(month=month, location_id=location_id)

    @get(
        "/ports.csv",
        operation_id="PortUptimeReportCsv",
        summary="The NEVI uptime per port as CSV (a header row, then one row per port)",
        media_type=CSV,
        responses=_NEVI_PROBLEMS,
    )
    async def ports_csv(
        self,
        uptime: NamedDependency[UptimeService],
        month: Month = None,
        location_id: LocationFilter = None,
    ) -> Response[bytes]:
        report = await uptime.nevi(month=month, location_id=location_id)
        return _file(ports_csv(report), CSV, f"uptime-ports-{report.month}.csv", attachment=True)

    @post(
        "/exclusions",
        operation_id="CreateUptimeExclusion",
        summary="Mark an outage cause (grid failure, vandalism, ...) as excluded from uptime",
        status_code=201,
        guards=[can_operate],
        responses=problems(*OPERATOR_PROBLEMS, InvalidExclusionPeriod, UnknownExclusionTarget, ExclusionNoteRequired),
    )
    async def create_exclusion(
        self, data: UptimeExclusionIn, uptime: NamedDependency[UptimeService], caller: NamedDependency[Caller]
    ) -> UptimeExclusionOut:
        by = caller.id if caller.kind == "user" else None  # an API key is no user
        return UptimeExclusionOut.of(await uptime.create_exclusion(data, by=by))

    @get(
        "/exclusions",
        operation_id="ListUptimeExclusions",
        summary="Uptime exclusions, latest start first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_exclusions(
        self,
        page: NamedDependency[PageParams],
        uptime: NamedDependency[UptimeService],
        only_scope: ScopeFilter = None,
        target_id: TargetFilter = None,
    ) -> UptimeExclusionPageOut:
        rows, total = await uptime.exclusions(
            limit=page.limit, offset=page.offset, scope=only_scope, target_id=target_id
        )
        return UptimeExclusionPageOut(
            items=[UptimeExclusionOut.of(e) for e in rows], total=total, limit=page.limit, offset=page.offset
        )

    @delete(
        "/exclusions/{exclusion_id:uuid}",
        operation_id="DeleteUptimeExclusion",
        summary="Remove an exclusion: its outage counts again",
        guards=[can_operate],
        responses=problems(*OPERATOR_PROBLEMS, ExclusionNotFound),
    )
    async def delete_exclusion(
        self,
        exclusion_id: FromPath[uuid.UUID],
        uptime: NamedDependency[UptimeService],
    ) -> None:
        await uptime.delete_exclusion(exclusion_id)


class AvailabilityController(Controller):
    path = "/locations"
    tags = ("uptime",)
    dependencies = {"uptime": Provide(provide_uptime, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/{location_id:uuid}/availability",
        operation_id="LocationAvailability",
        summary="Availability and uptime per month, for the site and each port",
        responses=_AVAILABILITY_PROBLEMS,
    )
    async def availability(
        self,
        location_id: FromPath[uuid.UUID],
        uptime: NamedDependency[UptimeService],
        since: FromMonth = None,
        until: ToMonth = None,
    ) -> LocationAvailabilityOut:
        return await uptime.availability(location_id, since=since, until=until)

    @get(
        "/{location_id:uuid}/availability.csv",
        operation_id="LocationAvailabilityCsv",
        summary="The availability report as CSV: site rows, then one row per port and month",
        media_type=CSV,
        responses=_AVAILABILITY_PROBLEMS,
    )
    async def availability_csv(
        self,
        location_id: FromPath[uuid.UUID],
        uptime: NamedDependency[UptimeService],
        since: FromMonth = None,
        until: ToMonth = None,
    ) -> Response[bytes]:
        report = await uptime.availability(location_id, since=since, until=until)
        name = f"availability-{location_id}-{report.since}-{report.until}.csv"
        return _file(availability_csv(report), CSV, name, attachment=True)

    @get(
        "/{location_id:uuid}/availability.svg",
        operation_id="LocationAvailabilitySvg",
        summary="The site's uptime per month as an SVG bar chart, with the NEVI 97 % line",
        media_type=SVG,
        responses=_AVAILABILITY_PROBLEMS,
    )
    async def availability_svg(
        self,
        location_id: FromPath[uuid.UUID],
        uptime: NamedDependency[UptimeService],
        since: FromMonth = None,
        until: ToMonth = None,
    ) -> Response[bytes]:
        report = await uptime.availability(location_id, since=since, until=until)
        name = f"availability-{location_id}-{report.since}-{report.until}.svg"
        return _file(availability_svg(report), SVG, name, attachment=False)


UPTIME_CONTROLLERS = [UptimeController, AvailabilityController]
