"""``/console/settings/partners``: the tenant's OCPI roaming partners with how their pushes
stand, suspend and resume (admins, as the operator API's RoamingPartnerController)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.console.render import render
from app.core.auth import can_administer
from app.roaming.operator.controllers import provide_partners
from app.roaming.operator.errors import PartnerNotRegistered
from app.roaming.operator.schemas import PartnerOut
from app.roaming.operator.service import PartnerService

BASE = "/console/settings/partners"


class PartnerPagesController(Controller):
    path = BASE
    dependencies = {"partners": Provide(provide_partners, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", name="console:partners")
    async def index(self, request: Request[Any, Any, Any], partners: NamedDependency[PartnerService]) -> Template:
        return await self._index(request, partners)

    async def _index(
        self,
        request: Request[Any, Any, Any],
        partners: PartnerService,
        *,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        rows, total = await partners.list(limit=100, offset=0)
        stats = await partners.push_stats([p.id for p in rows])
        return render(
            request,
            "console/settings/partners.html",
            nav="settings",
            sub="partners",
            partners=[PartnerOut.of(p, stats.get(p.id)) for p in rows],
            total=total,
            notice=request.query_params.get("done"),
            error=error,
            status_code=status_code,
        )

    @post(
        "/{partner_id:uuid}/suspension", guards=[can_administer], status_code=303, operation_id="SuspendRoamingPartner"
    )
    async def suspend(
        self,
        request: Request[Any, Any, Any],
        partner_id: FromPath[uuid.UUID],
        partners: NamedDependency[PartnerService],
    ) -> Redirect | Template:
        try:
            await partners.suspend(partner_id)
        except PartnerNotRegistered as exc:  # only a registered partner: said on the page, nothing changed
            return await self._index(request, partners, error=exc.detail, status_code=exc.status)
        return Redirect(f"{BASE}?done=suspended", status_code=303)

    @post("/{partner_id:uuid}/resume", guards=[can_administer], status_code=303, operation_id="ResumeRoamingPartner")
    async def resume(self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]) -> Redirect:
        await partners.resume(partner_id)
        return Redirect(f"{BASE}?done=resumed", status_code=303)
