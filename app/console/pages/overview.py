"""``/console``: the network overview."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.console.render import render


class OverviewController(Controller):
    path = "/console"

    @get("/", name="console:overview")
    async def overview(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "console/overview/index.html", nav="overview")
