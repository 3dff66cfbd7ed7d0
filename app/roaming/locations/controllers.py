"""The Locations sender interface (2.2.1 mod_locations "Sender Interface"): the calling
partner's tenant's published locations, a page at a time or one Location, EVSE or Connector.

Anything else — a location of another tenant, one we do not publish, an id that is no id of
ours — is an unknown location: HTTP 404 with OCPI status 2003.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.envelope import Status, UnknownObject, ok, paginated, parse_page
from app.roaming.locations.mapping import (
    LocationFacts,
    connector_object,
    evse_object,
    find_connector,
    find_evse,
    location_object,
)
from app.roaming.locations.repository import LocationReader
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path, module_url


class UnknownLocation(UnknownObject):
    def __init__(self, message: str) -> None:
        super().__init__(message, Status.UNKNOWN_LOCATION)


async def _location(db: AsyncSession, partner: OcpiPartner, location_id: str) -> LocationFacts:
    found = await LocationReader(db, partner.operator_id).one(location_id)
    if found is None:
        raise UnknownLocation(f"no location {location_id!r}")
    return found


class LocationsController(Controller):
    path = module_path("locations")

    @get("/")
    async def list_locations(
        self,
        request: Request[Any, Any, State],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        state: State,
    ) -> Response[bytes]:
        page = parse_page(request.query_params, state.settings.ocpi.max_page_limit)
        total, locations = await LocationReader(db, partner.operator_id).page(page)
        base_url = module_url(state.settings.http.public_base_url, "locations")
        return paginated(request, [location_object(loc) for loc in locations], total, page, base_url)

    @get("/{location_id:str}")
    async def get_location(
        self,
        request: Request[Any, Any, State],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        location_id: FromPath[str],
    ) -> Response[bytes]:
        return ok(request, location_object(await _location(db, partner, location_id)))

    @get("/{location_id:str}/{evse_uid:str}")
    async def get_evse(
        self,
        request: Request[Any, Any, State],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        location_id: FromPath[str],
        evse_uid: FromPath[str],
    ) -> Response[bytes]:
        evse = find_evse(await _location(db, partner, location_id), evse_uid)
        if evse is None:
            raise UnknownLocation(f"no EVSE {evse_uid!r} at location {location_id!r}")
        return ok(request, evse_object(evse))

    @get("/{location_id:str}/{evse_uid:str}/{connector_id:str}")
    async def get_connector(
        self,
        request: Request[Any, Any, State],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        location_id: FromPath[str],
        evse_uid: FromPath[str],
        connector_id: FromPath[str],
    ) -> Response[bytes]:
        evse = find_evse(await _location(db, partner, location_id), evse_uid)
        connector = find_connector(evse, connector_id) if evse is not None else None
        if evse is None or connector is None:
            raise UnknownLocation(f"no connector {connector_id!r} of EVSE {evse_uid!r} at location {location_id!r}")
        return ok(request, connector_object(connector, tariff_id=evse.tariff_id, last_updated=evse.last_updated))
