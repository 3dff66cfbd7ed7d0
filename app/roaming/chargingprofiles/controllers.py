"""HTTP: GET / PUT / DELETE /ocpi/2.2.1/chargingprofiles/{session_id} (ChargingProfiles
module, CPO receiver)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.chargingprofiles.mapping import SetChargingProfile
from app.roaming.chargingprofiles.service import ProfileReceiver, duration, response_url
from app.roaming.commands.controllers import reply
from app.roaming.commands.schemas import decode_as
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path


def _receiver(request: Request[Any, State, Any], db: AsyncSession) -> ProfileReceiver:
    state = request.app.state
    return ProfileReceiver(db, state.bus, state.settings)


class ChargingProfilesController(Controller):
    path = module_path("chargingprofiles")

    @get("/{session_id:str}")
    async def active(
        self,
        session_id: FromPath[str],
        request: Request[Any, State, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        seconds = duration(request.query_params.get("duration"))
        url = response_url(request.query_params.get("response_url"))
        return reply(request, await _receiver(request, db).active(partner, session_id, seconds, url))

    @put("/{session_id:str}", status_code=200)
    async def set(
        self,
        session_id: FromPath[str],
        request: Request[Any, State, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        body = decode_as(SetChargingProfile, await request.body())
        return reply(request, await _receiver(request, db).set(partner, session_id, body))

    @delete("/{session_id:str}", status_code=200)
    async def clear(
        self,
        session_id: FromPath[str],
        request: Request[Any, State, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        url = response_url(request.query_params.get("response_url"))
        return reply(request, await _receiver(request, db).clear(partner, session_id, url))
