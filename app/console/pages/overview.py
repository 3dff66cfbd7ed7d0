"""``/console``: the network overview (map, counts) and its live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template

from app.console.fleet import FleetView, Overview
from app.console.gate import clock_of, signed_in_of, still_signed_in
from app.console.live import ConsoleLiveHub
from app.console.render import render, render_fragment


async def read_overview(request: Request[Any, Any, Any], state: State) -> Overview:
    tenant_id = signed_in_of(request).caller.tenant_id
    assert tenant_id is not None  # the gate lets only an operator company's staff in
    async with state.sessionmaker() as db:
        return await FleetView(db, state.bus, tenant_id, clock=clock_of(request)).overview()


class OverviewController(Controller):
    path = "/console"

    @get("/", name="console:overview")
    async def overview(self, request: Request[Any, Any, Any], state: State) -> Template:
        return render(request, "console/overview/index.html", nav="overview", view=await read_overview(request, state))

    @get("/live/overview", name="console:overview-live")
    async def live(self, request: Request[Any, Any, Any], state: State) -> ServerSentEvent:
        """Server-sent events ``counts`` and ``locations`` (HTML to swap in) after each change."""
        hub: ConsoleLiveHub = state.console_hub
        tenant_id = signed_in_of(request).caller.tenant_id
        assert tenant_id is not None

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            changed = True  # the first snapshot covers what happened since the page was read
            changes = hub.changes(tenant_id)
            try:
                while await still_signed_in(request):
                    if changed:
                        view = await read_overview(request, state)
                        counts = render_fragment(request, "console/overview/_counts.html", view=view)
                        places = render_fragment(request, "console/overview/_locations.html", view=view)
                        yield ServerSentEventMessage(event="counts", data=counts)
                        yield ServerSentEventMessage(event="locations", data=places)
                    else:
                        yield ServerSentEventMessage(comment="keepalive")
                    try:
                        changed = await anext(changes)
                    except StopAsyncIteration:  # the hub closed: the process is stopping
                        return
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
