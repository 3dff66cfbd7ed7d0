"""``/console/chargers``: the tenant's chargers, searchable, with a live status column."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template

from app.console.fleet import ChargerRow, FleetView
from app.console.gate import clock_of, signed_in_of, still_signed_in
from app.console.live import ConsoleLiveHub
from app.console.render import render, render_fragment

MAX_QUERY = 100


async def read_chargers(request: Request[Any, Any, Any], state: State, query: str | None = None) -> list[ChargerRow]:
    tenant_id = signed_in_of(request).caller.tenant_id
    assert tenant_id is not None  # the gate lets only an operator company's staff in
    async with state.sessionmaker() as db:
        return await FleetView(db, state.bus, tenant_id, clock=clock_of(request)).chargers(query)


class ChargerListController(Controller):
    path = "/console/chargers"

    @get("/", name="console:chargers")
    async def chargers(self, request: Request[Any, Any, Any], state: State) -> Template:
        query = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
        rows = await read_chargers(request, state, query or None)
        return render(request, "console/chargers/index.html", nav="chargers", rows=rows, query=query)

    @get("/live", name="console:chargers-live")
    async def live(self, request: Request[Any, Any, Any], state: State) -> ServerSentEvent:
        """A server-sent event ``cp-<identity>`` (the status badge) whenever a charger's status
        changes; the first message brings every charger's, in case one changed meanwhile."""
        hub: ConsoleLiveHub = state.console_hub
        tenant_id = signed_in_of(request).caller.tenant_id
        assert tenant_id is not None

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            sent: dict[str, str] = {}
            changed = True
            changes = hub.changes(tenant_id)
            try:
                while await still_signed_in(request):
                    if changed:
                        for row in await read_chargers(request, state):
                            if sent.get(row.identity) != row.status:
                                sent[row.identity] = row.status
                                badge = render_fragment(request, "console/chargers/_status.html", row=row)
                                yield ServerSentEventMessage(event=f"cp-{row.identity}", data=badge)
                    else:
                        yield ServerSentEventMessage(comment="keepalive")
                    changed = await anext(changes)
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
