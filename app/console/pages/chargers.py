"""``/console/chargers``: the tenant's chargers, searchable, with a live status column; an
operations user or admin registers a new one here (the API's RegisterCharger)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from app.chargers.service import ChargerService, LocationService
from app.console.fleet import ChargerRow, FleetView
from app.console.gate import clock_of, signed_in_of, still_signed_in
from app.console.live import ConsoleLiveHub
from app.console.render import render, render_fragment, translator
from app.core.auth import can_operate
from app.core.errors import DomainError

MAX_QUERY = 100
MAX_EVSES = 32
# The register form's errors in the page's language; another code shows the service's text.
REGISTER_ERRORS = {
    "charger.invalid_identity": "chargers.error.identity",
    "charger.weak_password": "chargers.error.password",
    "charger.predictable_password": "chargers.error.password",
    "charger.already_exists": "chargers.error.exists",
    "location.not_found": "chargers.error.location",
}


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
        return await self._page(request, state, query)

    @post("/", name="console:register-charger", operation_id="RegisterCharger", guards=[can_operate], status_code=303)
    async def register(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),
    ) -> Template | Redirect:
        """The same service call as the API's RegisterCharger; back to the list, showing it."""
        tenant_id = signed_in_of(request).caller.tenant_id
        identity = (data.get("identity") or "").strip()
        form = {
            "identity": identity,
            "location_id": data.get("location_id") or "",
            "evse_count": data.get("evse_count") or "1",
        }
        try:
            location_id = uuid.UUID(form["location_id"]) if form["location_id"] else None
            evse_count = min(max(int(form["evse_count"]), 0), MAX_EVSES)
        except ValueError:
            return await self._page(request, state, "", form=form, error=translator(request)("chargers.error.form"))
        async with state.sessionmaker() as db:
            try:
                await ChargerService(db, state.bus, tenant_id=tenant_id).register(
                    identity, data.get("password") or "", location_id=location_id, evse_count=evse_count
                )
            except DomainError as err:
                key = REGISTER_ERRORS.get(err.code)
                error = translator(request)(key) if key else err.detail
                return await self._page(request, state, "", form=form, error=error)
        return Redirect(f"/console/chargers?q={quote(identity)}&registered=1", status_code=303)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        query: str,
        *,
        form: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Template:
        tenant_id = signed_in_of(request).caller.tenant_id
        rows = await read_chargers(request, state, query or None)
        async with state.sessionmaker() as db:
            locations = await LocationService(db, tenant_id=tenant_id).list(limit=1000)
        return render(
            request,
            "console/chargers/index.html",
            nav="chargers",
            status_code=422 if error else 200,
            rows=rows,
            query=query,
            locations=locations,
            form=form or {"identity": "", "location_id": "", "evse_count": "1"},
            error=error,
            registered=request.query_params.get("registered") == "1",
        )

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
                    try:
                        changed = await anext(changes)
                    except StopAsyncIteration:  # the hub closed: the process is stopping
                        return
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
