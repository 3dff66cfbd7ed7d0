"""Sessions module, sender interface: GET /ocpi/2.2.1/sessions (paginated, date_from and
date_to on last_updated): the calling partner's own sessions only."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.envelope import paginated, parse_page
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path, module_url
from app.roaming.sessions.service import RoamingSessions


class SessionSenderController(Controller):
    path = module_path("sessions")

    @get("/")
    async def list_sessions(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
    ) -> Response[bytes]:
        settings = state.settings
        page = parse_page(request.query_params, settings.ocpi.max_page_limit)
        items, total = await RoamingSessions(db, settings.ocpi).page_for(partner, page)
        return paginated(request, items, total, page, module_url(settings.http.public_base_url, "sessions"))
