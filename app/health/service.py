"""Incidents: open, update, re-open (flaps), acknowledge and resolve; events after commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import DiagnosticsFile
from app.core.bus import Bus, Event
from app.core.database import SelectT, scoped, utcnow
from app.health.diagnosis import Placement
from app.health.errors import IncidentAlreadyResolved, IncidentNotFound
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.health.models import SCOPE_PREFIXES, Incident, IncidentEvent, Scope

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# The incident keeps the newest links of its evidence chain; the trail keeps them all.
CHAIN_LIMIT = 20


class IncidentService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        flap_window_s: float = 600.0,
        clear_hold_s: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        """``tenant_id``: an operator request's tenant, whose incidents alone it finds
        (another's is IncidentNotFound); None is the monitor's and playbooks' view."""
        self.db = db
        self.bus = bus
        self.flap_window = timedelta(seconds=flap_window_s)
        self.clear_hold = timedelta(seconds=clear_hold_s)
        self.clock = clock
        self.tenant_id = tenant_id

    # -- from the monitor -----------------------------------------------------------------

    async def apply(self, placement: Placement) -> Incident | None:
        """Open, update or clear the incident the placement names; None when a clear finds
        nothing open. Commits, then publishes."""
        if placement.signal.clears:
            return await self._clear(placement)
        for attempt in range(2):
            try:
                return await self._raise(placement)
            except IntegrityError:
                # Someone else opened the same condition meanwhile: update theirs.
                await self.db.rollback()
                if attempt:
                    raise
        return None  # pragma: no cover

    async def _open(self, key: str) -> Incident | None:
        return await self.db.scalar(select(Incident).where(Incident.open_key == key).with_for_update())

    async def _raise(self, p: Placement) -> Incident:
        now, s, d = self.clock(), p.signal, p.diagnosis
        events: list[Event] = []
        incident = await self._open(p.key)
        if incident is None:
            incident = await self.db.scalar(
                select(Incident)
                .where(
                    Incident.dedupe_key == p.key,
                    Incident.resolution == "automatic",
                    Incident.resolved_at >= now - self.flap_window,
                )
                .order_by(Incident.resolved_at.desc())
                .limit(1)
                .with_for_update()
            )
            if incident is not None:
                incident.state, incident.open_key = "open", p.key
                incident.resolved_at = incident.resolution = incident.clear_since = None
                incident.flaps += 1
                self._trail(incident, now, "state", {"state": "open", "reopened": True, "flaps": incident.flaps})
                events += await self._absorb(incident, p.absorbs, now)
                events.append(self._changed(incident, "reopened", now))
        if incident is None:
            incident = Incident(
                id=uuid.uuid4(),
                operator_id=p.operator_id,
                location_id=p.location_id,
                charge_point_id=None if p.site or p.fleet or p.charger is None else p.charger.id,
                identity=s.identity,
                evse=s.evse,
                connectors=[s.connector] if s.connector is not None else [],
                kind=s.kind,
                topic="" if p.site else s.topic,
                cause=d.cause,
                confidence=d.confidence,
                severity=s.severity,
                state="open",
                summary=d.summary[:500],
                evidence={"chain": d.chain[-CHAIN_LIMIT:], **self._scope_evidence(p)},
                opened_at=now,
                last_signal_at=now,
                flaps=0,
                dedupe_key=p.key,
                open_key=p.key,
            )
            self.db.add(incident)
            await self.db.flush()
            self._trail(incident, now, "state", {"state": "open"})
            self._trail(incident, now, "signal", {"chain": d.chain})
            events += await self._absorb(incident, p.absorbs, now)
            events.append(
                IncidentOpened(
                    incident_id=incident.id,
                    operator_id=incident.operator_id,
                    identity=incident.identity,
                    location_id=incident.location_id,
                    evse=incident.evse,
                    connectors=list(incident.connectors),
                    kind=incident.kind,
                    cause=incident.cause,
                    severity=incident.severity,
                    confidence=incident.confidence,
                    summary=incident.summary,
                    opened_at=now,
                )
            )
        elif not events:
            changed = self._update(incident, p, now)
            if changed:
                events.append(self._changed(incident, changed, now))
        else:
            self._update(incident, p, now)
        if p.joined and not any(isinstance(e, IncidentOpened) for e in events):
            # A charger joined the open fleet incident: the scope grew, its protective steps
            # follow. (Opened by it, e.g. after an operator closed the last one, it is no join:
            # the opening's playbook protects every member.)
            self._trail(incident, now, "note", {"joined": p.joined})
            events.append(self._changed(incident, f"joined:{p.joined}", now))
        await self.db.commit()
        self._publish(events)
        return incident

    async def _absorb(self, site: Incident, keys: tuple[str, ...], now: datetime) -> list[Event]:
        """Fold the chargers' own open incidents into the new site (or fleet) incident: each
        is resolved as ``merged``, and both trails say where it went."""
        if not keys:
            return []
        events: list[Event] = []
        absorbed = (await self.db.scalars(select(Incident).where(Incident.open_key.in_(keys)).with_for_update())).all()
        for incident in absorbed:
            note = f"merged into {site.scope} incident {site.id}"
            events += self._resolve(incident, now, by=None, note=note, resolution="merged")
            self._trail(site, now, "note", {"absorbed": str(incident.id), "identity": incident.identity})
        if absorbed:
            earlier = list((site.evidence or {}).get("absorbed", []))
            site.evidence = {**(site.evidence or {}), "absorbed": [*earlier, *(str(i.id) for i in absorbed)]}
        return events

    def _update(self, incident: Incident, p: Placement, now: datetime) -> str | None:
        """Fold a new signal in; what an observer should hear about ("diagnosis",
        "severity") or None."""
        s, d = p.signal, p.diagnosis
        incident.last_signal_at = now
        incident.clear_since = None
        if s.connector is not None and s.connector not in incident.connectors:
            incident.connectors = sorted([*incident.connectors, s.connector])
        evidence = dict(incident.evidence or {})
        evidence["chain"] = [*evidence.get("chain", []), *d.chain][-CHAIN_LIMIT:]
        evidence.update(self._scope_evidence(p))
        incident.evidence = evidence
        self._trail(incident, now, "signal", {"chain": d.chain})
        change = None
        if SEVERITY_RANK.get(s.severity, 1) > SEVERITY_RANK.get(incident.severity, 1):
            incident.severity, change = s.severity, "severity"
        if d.cause != incident.cause and d.confidence >= incident.confidence:
            incident.cause, incident.confidence, change = d.cause, d.confidence, "diagnosis"
        if p.site or p.fleet or change:
            incident.summary = d.summary[:500]
        return change

    @staticmethod
    def _scope_evidence(p: Placement) -> dict[str, Any]:
        """A site or fleet incident's scope (its chargers, ...) as its signal states it now."""
        if p.site:
            return {"site": p.signal.evidence}
        if p.fleet:
            return {"fleet": p.signal.evidence}
        return {}

    async def _clear(self, p: Placement) -> Incident | None:
        now = self.clock()
        incident = await self._open(p.key)
        if incident is None:
            await self.db.rollback()
            return None
        self._trail(incident, now, "signal", {"chain": p.diagnosis.chain})
        if self.clear_hold > timedelta(0):
            if incident.clear_since is None:
                incident.clear_since = now
            await self.db.commit()
            return incident
        events = self._resolve(incident, now, by=None, note=p.signal.summary)
        await self.db.commit()
        self._publish(events)
        return incident

    async def resolve_cleared(self) -> int:
        """Resolve the incidents whose condition has stayed clear for the hold time."""
        now = self.clock()
        due = (
            await self.db.scalars(
                select(Incident)
                .where(Incident.open_key.is_not(None), Incident.clear_since <= now - self.clear_hold)
                .with_for_update()
            )
        ).all()
        events: list[Event] = []
        for incident in due:
            events += self._resolve(incident, now, by=None, note="clear for the hold time")
        await self.db.commit()
        self._publish(events)
        return len(due)

    # -- operators -------------------------------------------------------------------------

    async def acknowledge(self, incident_id: uuid.UUID, by: uuid.UUID | None) -> Incident:
        incident = await self._get_for_update(incident_id)
        if incident.state == "resolved":
            raise IncidentAlreadyResolved(f"incident {incident_id} was resolved at {incident.resolved_at}")
        if incident.state == "acknowledged":
            await self.db.rollback()
            return incident
        now = self.clock()
        incident.state, incident.acknowledged_at, incident.acknowledged_by = "acknowledged", now, by
        self._trail(incident, now, "state", {"state": "acknowledged", "by": str(by) if by else None})
        await self.db.commit()
        self._publish([self._changed(incident, "acknowledged", now)])
        return incident

    async def resolve(self, incident_id: uuid.UUID, by: uuid.UUID | None, note: str | None = None) -> Incident:
        incident = await self._get_for_update(incident_id)
        if incident.state == "resolved":
            raise IncidentAlreadyResolved(f"incident {incident_id} was resolved at {incident.resolved_at}")
        events = self._resolve(incident, self.clock(), by=by, note=note)
        await self.db.commit()
        self._publish(events)
        return incident

    async def note(
        self, incident_id: uuid.UUID, kind: str, data: dict[str, Any], *, change: str | None = None
    ) -> Incident:
        """Add an ``action`` or ``note`` to the trail (a playbook's reset, a technician's
        remark); with ``change``, IncidentChanged tells the others."""
        incident = await self._get_for_update(incident_id)
        now = self.clock()
        self._trail(incident, now, kind, data)
        await self.db.commit()
        if change:
            self._publish([self._changed(incident, change, now)])
        return incident

    async def attach_diagnostics(self, incident_id: uuid.UUID, file_id: uuid.UUID) -> None:
        """Attach a diagnostics upload slot (its file once the charger sends it)."""
        incident = await self._get_for_update(incident_id)
        evidence = dict(incident.evidence or {})
        evidence["diagnostics"] = [*evidence.get("diagnostics", []), str(file_id)]
        incident.evidence = evidence
        await self.db.commit()

    async def diagnostics(self, incident: Incident) -> Sequence[DiagnosticsFile]:
        """The diagnostics files attached to the incident (uploaded or still awaited)."""
        ids = [uuid.UUID(i) for i in (incident.evidence or {}).get("diagnostics", [])]
        if not ids:
            return []
        rows = (await self.db.scalars(select(DiagnosticsFile).where(DiagnosticsFile.id.in_(ids)))).all()
        return sorted(rows, key=lambda f: f.created_at)

    async def get(self, incident_id: uuid.UUID) -> Incident:
        incident = await self.db.scalar(self._scoped(select(Incident).where(Incident.id == incident_id)))
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return incident

    async def trail(self, incident_id: uuid.UUID) -> Sequence[IncidentEvent]:
        return (
            await self.db.scalars(
                select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id)
            )
        ).all()

    async def find(
        self,
        *,
        state: str | None = None,
        cause: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        location_id: uuid.UUID | None = None,
        charge_point_id: uuid.UUID | None = None,
        scope: Scope | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[Incident], int]:
        """Newest first, and the total matching."""
        query = self._scoped(select(Incident))
        if state == "active":
            query = query.where(Incident.state != "resolved")
        elif state is not None:
            query = query.where(Incident.state == state)
        if cause is not None:
            query = query.where(Incident.cause == cause)
        if kind is not None:
            query = query.where(Incident.kind == kind)
        if severity is not None:
            query = query.where(Incident.severity == severity)
        if location_id is not None:
            query = query.where(Incident.location_id == location_id)
        if charge_point_id is not None:
            query = query.where(Incident.charge_point_id == charge_point_id)
        if scope is not None:
            query = query.where(Incident.dedupe_key.startswith(SCOPE_PREFIXES[scope], autoescape=True))
        total = await self.db.scalar(select(func.count()).select_from(query.subquery()))
        rows = (
            await self.db.scalars(query.order_by(Incident.opened_at.desc(), Incident.id).limit(limit).offset(offset))
        ).all()
        return rows, int(total or 0)

    async def open_incidents(self) -> Sequence[Incident]:
        return (await self.db.scalars(select(Incident).where(Incident.open_key.is_not(None)))).all()

    # -- helpers -----------------------------------------------------------------------------

    def _scoped(self, stmt: SelectT) -> SelectT:
        return scoped(stmt, Incident.operator_id, self.tenant_id)

    async def _get_for_update(self, incident_id: uuid.UUID) -> Incident:
        stmt = self._scoped(select(Incident).where(Incident.id == incident_id)).with_for_update()
        incident = await self.db.scalar(stmt)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return incident

    def _resolve(
        self,
        incident: Incident,
        now: datetime,
        *,
        by: uuid.UUID | None,
        note: str | None,
        resolution: str | None = None,
    ) -> list[Event]:
        automatic = by is None
        incident.state, incident.open_key, incident.clear_since = "resolved", None, None
        incident.resolved_at, incident.resolved_by = now, by
        incident.resolution = resolution or ("automatic" if automatic else "operator")
        self._trail(
            incident,
            now,
            "state",
            {"state": "resolved", "resolution": incident.resolution, "by": str(by) if by else None, "note": note},
        )
        return [
            IncidentResolved(
                incident_id=incident.id,
                operator_id=incident.operator_id,
                identity=incident.identity,
                cause=incident.cause,
                summary=incident.summary,
                resolved_at=now,
                automatic=automatic,
                resolution=incident.resolution,
            )
        ]

    def _trail(self, incident: Incident, at: datetime, kind: str, data: dict[str, Any]) -> None:
        self.db.add(IncidentEvent(incident_id=incident.id, at=at, kind=kind, data=data))

    @staticmethod
    def _changed(incident: Incident, change: str, at: datetime) -> IncidentChanged:
        return IncidentChanged(
            incident_id=incident.id,
            operator_id=incident.operator_id,
            identity=incident.identity,
            state=incident.state,
            cause=incident.cause,
            severity=incident.severity,
            summary=incident.summary,
            change=change,
            at=at,
        )

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            self.bus.publish(event)
