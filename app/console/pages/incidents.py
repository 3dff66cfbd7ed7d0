"""``/console/incidents``: the live incident feed (filtered as the API filters it) and an
incident's page (diagnosis, scope, evidence as charts, the self-healing trail, diagnostics
files, acknowledge / resolve). The reads and changes are ``IncidentService``'s, built by the
operator API's own dependency (``provide_incidents``), with the API's guard on changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.command_controllers import provide_tenant_diagnostics
from app.chargers.command_service import DiagnosticsService
from app.chargers.errors import UploadNotFound
from app.chargers.models import Location
from app.chargers.service import LocationService
from app.console.evidence import charts
from app.console.gate import signed_in_of
from app.console.i18n import add_texts
from app.console.live import ConsoleLiveHub
from app.console.pages.incidents_texts import EN, SV
from app.console.render import render, render_fragment, translator
from app.core.auth import Caller, can_operate
from app.core.errors import DomainError
from app.health.controllers import provide_incidents
from app.health.models import SCOPE_PREFIXES, Incident
from app.health.schemas import IncidentDetailOut, IncidentEventOut, IncidentOut
from app.health.service import IncidentService
from app.health.signals import KINDS

add_texts(en=EN, sv=SV)

PAGE_SIZE = 50
STATES = ("active", "open", "acknowledged", "resolved")
SEVERITIES = ("critical", "warning", "info")
SCOPES = tuple(SCOPE_PREFIXES)
# More locations than this and the location filter needs a search of its own.
MAX_LOCATIONS = 1000
MAX_NOTE = 500


@dataclass(frozen=True, slots=True)
class Filters:
    """The feed's filters from the query string; a value the API would refuse is ignored."""

    state: str | None = None
    kind: str | None = None
    severity: str | None = None
    scope: str | None = None
    location: uuid.UUID | None = None
    offset: int = 0

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        def pick(name: str, allowed: tuple[str, ...]) -> str | None:
            value = query.get(name) or None
            return value if value in allowed else None

        try:
            location = uuid.UUID(query["location"]) if query.get("location") else None
        except ValueError:
            location = None
        try:
            offset = max(0, int(query.get("offset") or 0))
        except ValueError:
            offset = 0
        return cls(
            state=pick("state", STATES),
            kind=pick("kind", KINDS),
            severity=pick("severity", SEVERITIES),
            scope=pick("scope", SCOPES),
            location=location,
            offset=offset,
        )

    def query(self, **change: Any) -> str:
        """The query string of these filters (with ``change``), for links and the stream."""
        values = {
            "state": self.state,
            "kind": self.kind,
            "severity": self.severity,
            "scope": self.scope,
            "location": self.location,
            "offset": self.offset or None,
            **change,
        }
        return "&".join(f"{k}={v}" for k, v in values.items() if v)


@dataclass
class Feed:
    filters: Filters
    items: list[IncidentOut]
    total: int
    locations: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def next_offset(self) -> int | None:
        after = self.filters.offset + PAGE_SIZE
        return after if after < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.filters.offset - PAGE_SIZE) if self.filters.offset else None


async def _locations(db: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows: list[Location] = list(await LocationService(db, tenant_id=tenant_id).list(limit=MAX_LOCATIONS))
    return {row.id: row.name for row in rows}


async def read_feed(incidents: IncidentService, db: AsyncSession, tenant_id: uuid.UUID, filters: Filters) -> Feed:
    rows, total = await incidents.find(
        state=filters.state,
        kind=filters.kind,
        severity=filters.severity,
        scope=filters.scope,  # type: ignore[arg-type]  # checked against SCOPES
        location_id=filters.location,
        limit=PAGE_SIZE,
        offset=filters.offset,
    )
    return Feed(filters, [IncidentOut.of(i) for i in rows], total, await _locations(db, tenant_id))


def wording(request: Request[Any, Any, Any]) -> Callable[[str, object], str]:
    """``word("incidents.step", name)``: the text of a known value, else the value itself
    (a detector or step newer than the texts still shows)."""
    t = translator(request)

    def word(prefix: str, value: object) -> str:
        key = f"{prefix}.{value}"
        text = t(key)
        return str(value) if text == key else text

    return word


def _user_id(caller: Caller) -> uuid.UUID | None:
    return caller.id if caller.kind == "user" else None


def _trail_actions(trail: list[IncidentEventOut]) -> list[IncidentEventOut]:
    """The self-healing steps and the state changes, oldest first (signals are evidence)."""
    return [e for e in trail if e.kind in ("action", "state", "note")]


class IncidentPagesController(Controller):
    path = "/console/incidents"
    dependencies = {"incidents": Provide(provide_incidents, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", name="console:incidents")
    async def feed(
        self,
        request: Request[Any, Any, Any],
        incidents: NamedDependency[IncidentService],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Template:
        filters = Filters.of(request.query_params)
        feed = await read_feed(incidents, db, tenant_id, filters)
        return render(
            request,
            "console/incidents/index.html",
            nav="incidents",
            word=wording(request),
            feed=feed,
            states=STATES,
            kinds=KINDS,
            severities=SEVERITIES,
            scopes=SCOPES,
        )

    @get("/live", name="console:incidents-live")
    async def live(self, request: Request[Any, Any, Any], state: State) -> ServerSentEvent:
        """A server-sent event ``feed`` (the table to swap in) after each change in the
        tenant's network, with the page's filters; the first covers what came meanwhile."""
        hub: ConsoleLiveHub = state.console_hub
        tenant_id = signed_in_of(request).caller.tenant_id
        assert tenant_id is not None  # the gate lets only an operator company's staff in
        filters = Filters.of(request.query_params)
        word = wording(request)

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            changed = True
            changes = hub.changes(tenant_id)
            try:
                while True:
                    if changed:
                        async with state.sessionmaker() as db:
                            service = IncidentService(db, state.bus, tenant_id=tenant_id)
                            feed = await read_feed(service, db, tenant_id, filters)
                        html = render_fragment(request, "console/incidents/_feed.html", feed=feed, word=word)
                        yield ServerSentEventMessage(event="feed", data=html)
                    else:
                        yield ServerSentEventMessage(comment="keepalive")
                    changed = await anext(changes)
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @get("/{incident_id:uuid}/live", name="console:incident-live")
    async def incident_live(
        self,
        request: Request[Any, Any, Any],
        state: State,
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
    ) -> ServerSentEvent:
        """Server-sent events ``state``, ``trail`` and ``diagnostics`` (HTML to swap in) after
        each change in the tenant's network: a playbook's step shows as it is taken."""
        hub: ConsoleLiveHub = state.console_hub
        tenant_id = signed_in_of(request).caller.tenant_id
        assert tenant_id is not None
        await incidents.get(incident_id)  # another tenant's: incident.not_found, before streaming
        word = wording(request)

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            sent: dict[str, str] = {}
            changed = True
            changes = hub.changes(tenant_id)
            try:
                while True:
                    if changed:
                        async with state.sessionmaker() as db:
                            service = IncidentService(db, state.bus, tenant_id=tenant_id)
                            incident = await service.get(incident_id)
                            trail = await service.trail(incident_id)
                            files = await service.diagnostics(incident)
                        detail = IncidentDetailOut.detail(incident, trail, files)
                        parts = {
                            "state": render_fragment(request, "console/incidents/_state.html", i=detail),
                            "trail": render_fragment(
                                request, "console/incidents/_trail.html", trail=_trail_actions(detail.trail), word=word
                            ),
                            "diagnostics": render_fragment(
                                request,
                                "console/incidents/_diagnostics.html",
                                diagnostics=detail.diagnostics,
                                incident_id=incident_id,
                            ),
                        }
                        for event, html in parts.items():
                            if sent.get(event) != html:
                                sent[event] = html
                                yield ServerSentEventMessage(event=event, data=html)
                    else:
                        yield ServerSentEventMessage(comment="keepalive")
                    changed = await anext(changes)
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @get(
        "/{incident_id:uuid}/diagnostics/{file_id:uuid}",
        name="console:incident-diagnostics",
        dependencies={"diagnostics": Provide(provide_tenant_diagnostics, sync_to_thread=False)},
    )
    async def diagnostics_file(
        self,
        incident_id: FromPath[uuid.UUID],
        file_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        diagnostics: NamedDependency[DiagnosticsService],
    ) -> Response[bytes]:
        """An uploaded diagnostics file of the incident, as the API's download serves it."""
        incident = await incidents.get(incident_id)  # another tenant's: incident.not_found
        attached = {f.id: f for f in await incidents.diagnostics(incident)}
        if file_id not in attached:
            raise UploadNotFound()
        upload = await diagnostics.content(attached[file_id].charge_point_id, file_id)
        safe_name = "".join(ch for ch in (upload.filename or "diagnostics.log") if ch.isalnum() or ch in "._-")
        return Response(
            upload.content or b"",
            media_type=upload.content_type or "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
        )

    @get("/{incident_id:uuid}", name="console:incident")
    async def incident(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Template:
        return await self._page(request, incident_id, incidents, db, tenant_id)

    @post(
        "/{incident_id:uuid}/acknowledge",
        name="console:incident-acknowledge",
        operation_id="AcknowledgeIncident",
        guards=[can_operate],
    )
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        caller: NamedDependency[Caller],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        change = incidents.acknowledge(incident_id, by=_user_id(caller))
        return await self._act(request, incident_id, incidents, db, tenant_id, change, "acknowledged")

    @post(
        "/{incident_id:uuid}/resolve",
        name="console:incident-resolve",
        operation_id="ResolveIncident",
        guards=[can_operate],
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[uuid.UUID],
        incidents: NamedDependency[IncidentService],
        caller: NamedDependency[Caller],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        form = await request.form()
        note = str(form.get("note") or "").strip()[:MAX_NOTE] or None
        change = incidents.resolve(incident_id, by=_user_id(caller), note=note)
        return await self._act(request, incident_id, incidents, db, tenant_id, change, "resolved")

    async def _act(
        self,
        request: Request[Any, Any, Any],
        incident_id: uuid.UUID,
        incidents: IncidentService,
        db: AsyncSession,
        tenant_id: uuid.UUID,
        change: Awaitable[object],
        done: str,
    ) -> Redirect | Template:
        """The change, then back to the incident; refused (already resolved...): the page
        with the problem. Another tenant's incident stays a 404."""
        try:
            await change
        except DomainError as exc:
            if exc.status == 404:
                raise
            await db.rollback()
            return await self._page(request, incident_id, incidents, db, tenant_id, problem=exc)
        return Redirect(f"/console/incidents/{incident_id}?done={done}", status_code=303)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        incident_id: uuid.UUID,
        incidents: IncidentService,
        db: AsyncSession,
        tenant_id: uuid.UUID,
        problem: DomainError | None = None,
    ) -> Template:
        incident: Incident = await incidents.get(incident_id)  # another tenant's: incident.not_found
        trail = await incidents.trail(incident_id)
        detail = IncidentDetailOut.detail(incident, trail, await incidents.diagnostics(incident))
        location = None
        if detail.location_id is not None:
            location = (await _locations(db, tenant_id)).get(detail.location_id)
        done = request.query_params.get("done")
        return render(
            request,
            "console/incidents/show.html",
            nav="incidents",
            word=wording(request),
            status_code=problem.status if problem else 200,
            i=detail,
            location=location,
            trail=_trail_actions(detail.trail),
            charts=charts(detail.evidence),
            diagnostics=detail.diagnostics,
            incident_id=incident_id,
            problem=problem,
            done=done if done in ("acknowledged", "resolved") else None,
        )
