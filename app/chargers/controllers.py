"""HTTP (operator): chargers and locations. Mounted under the operator router."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import (
    ChargerAlreadyExists,
    ChargerNotFound,
    EvseNotFound,
    InvalidChargerIdentity,
    LocationNotFound,
    PredictableChargerPassword,
    WeakChargerPassword,
)
from app.chargers.evse_ids import EvseIds
from app.chargers.qr import qr_png, qr_sheet_pdf, qr_svg, qr_url
from app.chargers.schemas import (
    ChargerIn,
    ChargerOut,
    ChargerPageOut,
    LocationIn,
    LocationOut,
    LocationPageOut,
)
from app.chargers.service import ChargerService, LocationService
from app.core.auth import OPERATOR_PROBLEMS, can_operate
from app.core.http import PageParams, problems


# The services of an operator request act for the caller's tenant (the ``tenant_id``
# dependency): another operator company's chargers, locations and EVSEs are not found.
def provide_chargers(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> ChargerService:
    return ChargerService(db, state.bus, tenant_id=tenant_id)


def provide_locations(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> LocationService:
    return LocationService(db, tenant_id=tenant_id, bus=state.bus)


class ChargerController(Controller):
    path = "/chargers"
    tags = ("chargers",)
    dependencies = {"chargers": Provide(provide_chargers, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/",
        operation_id="RegisterCharger",
        summary="Register a charger so it may connect over OCPP",
        description="The charger is the caller's operator company's; a location must be one of its own.",
        guards=[can_operate],
        responses=problems(
            *OPERATOR_PROBLEMS,
            InvalidChargerIdentity,
            WeakChargerPassword,
            PredictableChargerPassword,
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

    @post("/", operation_id="CreateLocation", guards=[can_operate], responses=problems(*OPERATOR_PROBLEMS))
    async def create_location(
        self, data: JSONBody[LocationIn], locations: NamedDependency[LocationService]
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


def provide_evses(db: NamedDependency[AsyncSession], tenant_id: uuid.UUID) -> EvseIds:
    return EvseIds(db, tenant_id=tenant_id)


EvseIdParam = Annotated[str, PathParameter(description="eMI3 EVSE ID, any case; `*` may be sent as %2A")]


class QrCodeController(Controller):
    """The QR codes stuck on the chargers (see app/chargers/qr.py for what they encode)."""

    path = "/"
    tags = ("qr codes",)
    dependencies = {"evses": Provide(provide_evses, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/evses/{evse_id:str}/qr.svg",
        operation_id="GetEvseQrSvg",
        summary="The EVSE's QR code as SVG, its EVSE ID printed under it",
        media_type="image/svg+xml",
        response_description="SVG (sizes in mm: one module is 1 mm)",
        responses=problems(*OPERATOR_PROBLEMS, EvseNotFound),
    )
    async def evse_svg(self, evse_id: EvseIdParam, evses: NamedDependency[EvseIds], state: State) -> Response[bytes]:
        label = await evses.canonical(evse_id)
        body = await asyncio.to_thread(qr_svg, qr_url(state.settings.http.public_base_url, label), label)
        return Response(body, media_type="image/svg+xml")

    @get(
        "/evses/{evse_id:str}/qr.png",
        operation_id="GetEvseQrPng",
        summary="The EVSE's QR code as PNG, its EVSE ID printed under it",
        media_type="image/png",
        response_description="PNG, 10 px per module",
        responses=problems(*OPERATOR_PROBLEMS, EvseNotFound),
    )
    async def evse_png(self, evse_id: EvseIdParam, evses: NamedDependency[EvseIds], state: State) -> Response[bytes]:
        label = await evses.canonical(evse_id)
        body = await asyncio.to_thread(qr_png, qr_url(state.settings.http.public_base_url, label), label)
        return Response(body, media_type="image/png")

    @get(
        "/locations/{location_id:uuid}/qr-sheet.pdf",
        operation_id="GetLocationQrSheet",
        summary="A printable A4 sheet of the QR codes of every EVSE at a location",
        media_type="application/pdf",
        response_description="PDF, A4, 12 codes a page",
        responses=problems(*OPERATOR_PROBLEMS, LocationNotFound),
    )
    async def location_sheet(
        self, location_id: FromPath[uuid.UUID], evses: NamedDependency[EvseIds], state: State
    ) -> Response[bytes]:
        location, evse_ids = await evses.at_location(location_id)
        base = state.settings.http.public_base_url
        subtitle = ", ".join(part for part in (location.address, location.postal_code, location.city) if part)
        body = await asyncio.to_thread(
            qr_sheet_pdf, location.name, subtitle, [(evse_id, qr_url(base, evse_id)) for evse_id in evse_ids]
        )
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="qr-codes-{location.id}.pdf"'},
        )
