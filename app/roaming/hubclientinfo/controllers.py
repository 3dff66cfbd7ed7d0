"""HTTP: GET / PUT /ocpi/2.2.1/hubclientinfo/{country_code}/{party_id} (HubClientInfo,
receiver side)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.commands.schemas import decode_as
from app.roaming.envelope import ok
from app.roaming.hubclientinfo.service import ClientInfo, ClientInfoService, client_info_out
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path


class HubClientInfoController(Controller):
    path = module_path("hubclientinfo")

    @get("/{country_code:str}/{party_id:str}")
    async def get_info(
        self,
        country_code: FromPath[str],
        party_id: FromPath[str],
        request: Request[Any, Any, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        row = await ClientInfoService(db).get(partner, country_code, party_id)
        return ok(request, client_info_out(row))

    @put("/{country_code:str}/{party_id:str}", status_code=200)
    async def put_info(
        self,
        country_code: FromPath[str],
        party_id: FromPath[str],
        request: Request[Any, Any, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        info = decode_as(ClientInfo, await request.body())
        created = await ClientInfoService(db).put(partner, country_code, party_id, info)
        return ok(request, None, status_code=201 if created else 200)
