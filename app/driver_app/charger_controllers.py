"""HTTP (driver app): find a charger near a point; look up the EVSE whose QR code was scanned."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import EvseNotFound
from app.core.auth import AUTH_PROBLEMS, BEARER_SECURITY, requires_user
from app.core.http import MAX_OFFSET, problems
from app.driver_app.charger_schemas import EvseDetailOut, NearbyLocationOut, NearbyLocationPageOut
from app.driver_app.finder import ChargerFinder, SearchQuery

# A page of locations with their EVSEs stays a few tens of kB; the radius keeps the
# bounding box (everything read before paging) to a city's worth of locations.
MAX_SEARCH_LIMIT = 50
MAX_RADIUS_KM = 100.0


def provide_finder(db: NamedDependency[AsyncSession]) -> ChargerFinder:
    return ChargerFinder(db)


class DriverChargerController(Controller):
    path = "/api/v1"
    tags = ("find a charger",)
    guards = (requires_user,)
    security = BEARER_SECURITY
    dependencies = {"finder": Provide(provide_finder, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/locations",
        operation_id="SearchLocations",
        summary="Locations with chargers near a point, nearest first",
        description=(
            "Locations within `radiusKm` of (`lat`, `lon`) that have an EVSE matching the filters, "
            "each with those EVSEs, their connectors, price and health."
        ),
        responses=problems(*AUTH_PROBLEMS),
    )
    async def search(
        self,
        finder: NamedDependency[ChargerFinder],
        lat: Annotated[float, QueryParameter(ge=-90, le=90, description="Latitude, WGS 84 degrees")],
        lon: Annotated[float, QueryParameter(ge=-180, le=180, description="Longitude, WGS 84 degrees")],
        radius_km: Annotated[
            float, QueryParameter(name="radiusKm", gt=0, le=MAX_RADIUS_KM, description="Search radius, km")
        ] = 5.0,
        standard: Annotated[
            str | None,
            QueryParameter(
                max_length=32,
                pattern=r"^[A-Z0-9_]+$",
                description="Only EVSEs with a connector of this OCPI standard, e.g. IEC_62196_T2_COMBO",
            ),
        ] = None,
        min_kw: Annotated[
            float | None,
            QueryParameter(
                name="minKw",
                ge=0,
                le=1000,
                description="Only EVSEs with a connector of at least this power",
                # Litestar leaves a zero bound of an optional parameter out of the OpenAPI.
                schema_extra={"minimum": 0},
            ),
        ] = None,
        available_now: Annotated[
            bool, QueryParameter(name="availableNow", description="Only EVSEs that are working and free now")
        ] = False,
        limit: Annotated[
            int,
            QueryParameter(ge=1, le=MAX_SEARCH_LIMIT, description=f"Locations per page, at most {MAX_SEARCH_LIMIT}"),
        ] = 20,
        offset: Annotated[
            int, QueryParameter(ge=0, le=MAX_OFFSET, description=f"Locations to skip, at most {MAX_OFFSET}")
        ] = 0,
    ) -> NearbyLocationPageOut:
        page = await finder.near(
            SearchQuery(
                lat=lat,
                lon=lon,
                radius_km=radius_km,
                standard=standard,
                min_kw=min_kw,
                available_now=available_now,
                limit=limit,
                offset=offset,
            )
        )
        return NearbyLocationPageOut(
            items=[NearbyLocationOut.of(hit) for hit in page.hits], total=page.total, limit=limit, offset=offset
        )

    @get(
        "/evses/{evse_id:str}",
        operation_id="GetEvseForDriver",
        summary="An EVSE by its eMI3 ID (as in its QR code): status, price, what paying needs",
        responses=problems(*AUTH_PROBLEMS, EvseNotFound),
    )
    async def get_evse(
        self,
        evse_id: Annotated[str, PathParameter(description="eMI3 EVSE ID, any case; `*` may be sent as %2A")],
        finder: NamedDependency[ChargerFinder],
    ) -> EvseDetailOut:
        return EvseDetailOut.of(await finder.evse(evse_id))
