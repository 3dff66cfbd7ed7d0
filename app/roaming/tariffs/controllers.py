"""OCPI 2.2.1 Tariffs module, sender interface: GET {tariffs}?date_from&date_to&offset&limit."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.envelope import paginated, parse_page
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path, module_url
from app.roaming.tariffs.service import tariff_page


class OcpiTariffController(Controller):
    path = module_path("tariffs")

    @get("/", name="ocpi-tariffs")
    async def list_tariffs(
        self, request: Request[Any, State, Any], db: AsyncSession, partner: OcpiPartner, state: State
    ) -> Response[bytes]:
        page = parse_page(request.query_params, state.settings.ocpi.max_page_limit)
        items, total = await tariff_page(db, partner, page)
        return paginated(request, items, total, page, module_url(state.settings.http.public_base_url, "tariffs"))
