"""HTTP (operator): chargers and locations. Mounted under the operator router."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import (
    ChargerAlreadyExists,
    ChargerNotFound,
    InvalidChargerIdentity,
    LocationNotFound,
    WeakChargerPassword,
)
from app.chargers.schemas import (
    ChargerIn,
    ChargerOut,
    ChargerPageOut,
    LocationIn,
    LocationOut,
    LocationPageOut,
)
from app.chargers.service import ChargerService, LocationService
from app.core.auth import OPERATOR_PROBLEMS
from app.core.http import PageParams, problems
from app.drivers.models import User


def provide_chargers(db: NamedDependency[AsyncSession], state: State) -> ChargerService:
    return ChargerService(db, state.bus)


def provide_locations(db: NamedDependency[AsyncSession]) -> LocationService:
    return LocationService(db)


class ChargerController(Controller):
    path = "/chargers"
    tags = ("chargers",)
    dependencies = {"chargers": Provide(provide_chargers, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/",
        operation_id="RegisterCharger",
        summary="Register a charger so it may connect over OCPP",
        responses=problems(
            *OPERATOR_PROBLEMS,
            InvalidChargerIdentity,
            WeakChargerPassword,
            LocationNotFound,
            ChargerAlreadyExists,
        ),
    )
    async def register(self, data: JSONBody[ChargerIn], chargers: NamedDependency[ChargerService]) -> ChargerOut:
        cp = await chargers.register(
            data.identity,
            data.password,
            location_id=data.location_id,
            evse_count=data.evse_count,
            max_kw=data.max_kw,
        )
        # Read back with its EVSEs and connectors loaded, as every ChargerOut is.
        return ChargerOut.of(await chargers.get(cp.id))

    @get("/", operation_id="ListChargers", responses=problems(*OPERATOR_PROBLEMS))
    async def list_chargers(
        self, page: NamedDependency[PageParams], chargers: NamedDependency[ChargerService]
    ) -> ChargerPageOut:
        rows = await chargers.list(limit=page.limit, offset=page.offset)
        return ChargerPageOut(
            items=[ChargerOut.of(cp) for cp in rows],
            total=await chargers.count(),
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/{charger_id:uuid}",
        operation_id="GetCharger",
        responses=problems(*OPERATOR_PROBLEMS, ChargerNotFound),
    )
    async def get_charger(
        self, charger_id: FromPath[uuid.UUID], chargers: NamedDependency[ChargerService]
    ) -> ChargerOut:
        return ChargerOut.of(await chargers.get(charger_id))


class LocationController(Controller):
    path = "/locations"
    tags = ("locations",)
    dependencies = {"locations": Provide(provide_locations, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post("/", operation_id="CreateLocation", responses=problems(*OPERATOR_PROBLEMS))
    async def create_location(
        self,
        data: JSONBody[LocationIn],
        locations: NamedDependency[LocationService],
        current_user: NamedDependency[User],
    ) -> LocationOut:
        location = await locations.create(
            name=data.name,
            address=data.address,
            city=data.city,
            postal_code=data.postal_code,
            country=data.country,
            latitude=data.latitude,
            longitude=data.longitude,
            time_zone=data.time_zone,
            # The site belongs to the operator company of whoever creates it.
            operator_id=current_user.operator_id,
        )
        return LocationOut.of(location)

    @get("/", operation_id="ListLocations", responses=problems(*OPERATOR_PROBLEMS))
    async def list_locations(
        self, page: NamedDependency[PageParams], locations: NamedDependency[LocationService]
    ) -> LocationPageOut:
        rows = await locations.list(limit=page.limit, offset=page.offset)
        return LocationPageOut(
            items=[LocationOut.of(loc) for loc in rows],
            total=await locations.count(),
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/{location_id:uuid}",
        operation_id="GetLocation",
        responses=problems(*OPERATOR_PROBLEMS, LocationNotFound),
    )
    async def get_location(
        self, location_id: FromPath[uuid.UUID], locations: NamedDependency[LocationService]
    ) -> LocationOut:
        return LocationOut.of(await locations.get(location_id))
