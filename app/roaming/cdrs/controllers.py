"""OCPI 2.2.1 CDRs module, sender interface: GET {cdrs}?date_from&date_to&offset&limit."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.cdrs.service import cdr_page
from app.roaming.envelope import paginated, parse_page
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path, module_url


class OcpiCdrController(Controller):
    path = module_path("cdrs")

    @get("/", name="ocpi-cdrs")
    async def list_cdrs(
        self, request: Request[Any, State, Any], db: AsyncSession, partner: OcpiPartner, state: State
    ) -> Response[bytes]:
        # Only the CDRs of this partner's sessions (2.2.1 lets a CPO return just those).
        page = parse_page(request.query_params, state.settings.ocpi.max_page_limit)
        items, total = await cdr_page(db, partner, page)
        return paginated(request, items, total, page, module_url(state.settings.http.public_base_url, "cdrs"))
