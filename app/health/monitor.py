"""The health monitor: bus events -> detectors -> diagnosis -> incidents.

Runs beside the API like the payment worker. Events arrive on one ``*`` subscription so
they are seen in the order they were published (a transaction's end before the idle
meter values that follow it). The hot path (MeterSampled) touches memory only; the
database is written when a signal arises. A tick each second judges what time alone
reveals (offline, boot loops ending, site correlation windows, clear hold times).

One leader across processes (``Bus.lead("health")``): on NATS only the elected monitor
consumes the ``health`` group; a standby takes over when the leader's key expires, loads
the state below and resumes the durable consumer where the old leader stopped.

Restart-safe: ``start`` loads the open incidents (their conditions count as raised, so
recovery still resolves them and nothing opens twice; a site's or fleet's members count as
they did), every charger's location, model and firmware and the
anomaly detector's baselines, which the tick saves every ``anomaly_save_interval_s`` (the
changed ones, in one statement) and ``close`` saves once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ChargerEventRecorded,
    CommandAnswered,
    ConnectorStatusChanged,
)
from app.chargers.models import ChargePoint, Connector, Evse, Location, charger_owner
from app.core.bus import Bus, Event, Leadership
from app.core.database import utcnow
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.health import detectors
from app.health.baselines import load_baselines, save_baselines
from app.health.diagnosis import ChargerInfo, Placement, SiteCorrelator
from app.health.fleet import FleetCharger, FleetCorrelator, FleetModel
from app.health.models import Incident
from app.health.service import IncidentService
from app.health.signals import Signal
from app.sessions.events import MeterSampled, TokenChecked, TransactionEnded, TransactionStarted, TransactionUpdated

log = logging.getLogger("laddnat.health")

# Chargers whose places one query reads again after they connected or booted.
PLACE_BATCH = 500

WATCHED = (
    CommandAnswered,
    ChargerConnected,
    ChargerDisconnected,
    ChargerBooted,
    ConnectorStatusChanged,
    ChargerEventRecorded,
    MeterSampled,
    TransactionStarted,
    TransactionUpdated,
    TransactionEnded,
    TokenChecked,
)


class HealthMonitor:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.settings = settings
        self.h = settings.health
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # signals from events and from the tick apply in order
        # Reads that need not hold up the detectors (a known charger's place, ratings).
        self._reads: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._leadership: Leadership | None = None
        self._subscribed = False
        self._forget()

    def _forget(self) -> None:
        """Fresh detectors and correlators: nothing known until ``_load`` reads the database."""
        self.offline, self.detectors = detectors.build(self.h, self.settings.ocpp.heartbeat_interval_s, self.clock)
        self.low_power = next(d for d in self.detectors if isinstance(d, detectors.LowPowerDetector))
        self.anomaly = next((d for d in self.detectors if isinstance(d, detectors.AnomalyDetector)), None)
        # None until the saved baselines are loaded: saving before would overwrite them.
        self._baselines_saved_at: datetime | None = None
        self.correlator = SiteCorrelator(self.h)
        # Behind the site correlator: the charger-level placements it lets through.
        self.fleet = FleetCorrelator(self.h)
        # Identities the database does not know (yet): not asked again on every event.
        self._unknown: set[str] = set()
        # Known chargers that connected or booted: their places are read again (_relearn).
        self._stale_places: set[str] = set()

    @property
    def is_leader(self) -> bool:
        return self._leadership is not None and self._leadership.is_leader

    def subscribe(self) -> None:
        """Campaign for the lead of ``health``: only the leader's detectors see events (their
        state is per charger, so two monitors would each see half of a charger's story). In
        one process it leads from the start and subscribes now, before the bus starts; on
        NATS it subscribes once elected, after loading its state."""
        if not self.h.enabled:
            return
        self._leadership = self.bus.lead("health", on_elected=self._elected, on_deposed=self._deposed)
        if self._leadership.is_leader:
            self.bus.subscribe("*", self._on_event, group="health")
            self._subscribed = True

    async def start(self) -> None:
        if self._leadership is not None:
            await self._leadership.start()

    async def _elected(self) -> None:
        # Loaded in the task: an unreachable database must not stop the API from starting
        # (readiness reports it); the monitor catches up once it answers.
        self._task = asyncio.create_task(self._ticks(), name="health-monitor")

    async def _deposed(self) -> None:
        """Another monitor leads now: stop at once (no incident written after this) and
        forget; the new leader loads what matters from the database."""
        self.bus.unsubscribe("health")
        self._subscribed = False
        await self._stop()
        self._forget()

    async def _stop(self) -> None:
        await stop_tasks(list(self._reads.values()))
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def close(self) -> None:
        leading = self._task is not None
        await self._stop()
        if leading:
            await self._save_baselines(force=True)
        if self._leadership is not None:
            await self._leadership.close()

    # -- state ------------------------------------------------------------------------------

    async def _load(self) -> None:
        async with self.maker() as db:
            rows = (
                await db.execute(
                    select(
                        ChargePoint.identity,
                        ChargePoint.id,
                        ChargePoint.location_id,
                        ChargePoint.last_seen_at,
                        # The charger's owner; a charger from before owners: its location's.
                        charger_owner().label("operator_id"),
                        Location.name,
                        ChargePoint.vendor,
                        ChargePoint.model,
                        ChargePoint.firmware_version,
                    ).outerjoin(Location, Location.id == ChargePoint.location_id)
                )
            ).all()
            incidents = await IncidentService(db, self.bus).open_incidents()
            baselines = await load_baselines(db) if self.anomaly is not None else []
        if self.anomaly is not None:
            for identity, evse, model in baselines:
                self.anomaly.restore(identity, evse, model)
        self._baselines_saved_at = self.clock()
        offline_now = {i.identity for i in incidents if i.kind == "offline" and i.charge_point_id is not None}
        for row in rows:
            self._know(row.identity, row)
        raised = detectors.raised_sets(self.detectors)
        for incident in incidents:
            if incident.scope == "fleet":
                self._restore_fleet(incident, raised)
            elif incident.charge_point_id is None and incident.location_id is not None:
                members = list((incident.evidence or {}).get("site", {}).get("chargers", []))
                self.correlator.restore_site(incident.location_id, incident.kind, members)
                if incident.kind == "offline":
                    offline_now.update(members)
            elif (conditions := raised.get(f"{incident.kind}:{incident.topic}", raised.get(incident.kind))) is not None:
                conditions.add((incident.identity, incident.evse, incident.topic))
        for row in rows:
            self.offline.restore(row.identity, row.last_seen_at, offline=row.identity in offline_now)

    def _restore_fleet(self, incident: Incident, raised: dict[str, set[detectors.Where]]) -> None:
        """An open fleet incident: its group, and its raised members' conditions as raised
        in their detector, so their recovery still reaches it."""
        scope = (incident.evidence or {}).get("fleet") or {}
        if incident.operator_id is None or not scope:
            return
        self.fleet.restore(incident.operator_id, scope, incident.opened_at)
        conditions = raised.get(f"{incident.kind}:{incident.topic}", raised.get(incident.kind))
        if conditions is None:
            return
        for member in scope.get("members", []):
            if member.get("raised"):
                # A condition's dedupe key ends in its detector's topic (app/health/signals.py).
                raised_now = (member.get("conditions") or {}).items()
                conditions.update((member["identity"], evse, key.rsplit(":", 1)[1]) for key, evse in raised_now)

    async def _learn(self, identities: list[str]) -> None:
        """Chargers registered (or moved) since start: read their places, one query."""
        async with self.maker() as db:
            rows = (
                await db.execute(
                    select(
                        ChargePoint.identity,
                        ChargePoint.id,
                        ChargePoint.location_id,
                        charger_owner().label("operator_id"),
                        Location.name,
                        ChargePoint.vendor,
                        ChargePoint.model,
                        ChargePoint.firmware_version,
                    )
                    .outerjoin(Location, Location.id == ChargePoint.location_id)
                    .where(ChargePoint.identity.in_(identities))
                )
            ).all()
        found = {row.identity for row in rows}
        for row in rows:
            self._unknown.discard(row.identity)
            self._know(row.identity, row)
        self._unknown.update(identity for identity in identities if identity not in found)

    async def _relearn(self, _: str) -> None:
        """The places of the chargers that connected, PLACE_BATCH to a query: in a
        reconnect storm a query for every connect and every boot held the leader up (and
        the database), behind tens of thousands of events."""
        while self._stale_places:
            await self._learn([self._stale_places.pop() for _ in range(min(PLACE_BATCH, len(self._stale_places)))])

    def _know(self, identity: str, row: Any) -> None:
        """A charger's place, tenant, model and firmware, as the database row has them."""
        self.correlator.know(identity, ChargerInfo(row.id, row.location_id, row.operator_id), row.name)
        model = FleetModel.of(row.vendor, row.model, row.firmware_version)
        self.fleet.know(identity, FleetCharger(row.operator_id, row.location_id, model))

    def _read_later(self, what: str, identity: str, read: Callable[[str], Awaitable[None]]) -> None:
        """Run a read beside the event stream (one at a time per charger and kind): under a
        reconnect storm the detectors must not queue behind a query per connect."""
        key = (what, identity)
        if key in self._reads:
            return

        async def run() -> None:
            try:
                await read(identity)
            except Exception:
                log.exception("health monitor could not read %s of %s", what, identity)
            finally:
                self._reads.pop(key, None)

        self._reads[key] = asyncio.create_task(run(), name=f"health-{what}-{identity}")

    async def _rate(self, identity: str) -> None:
        """The charger's EVSE ratings, read at its first session (its EVSEs exist by then)."""
        async with self.maker() as db:
            rows = (
                await db.execute(
                    select(Evse.evse_number, func.max(Connector.max_kw))
                    .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                    .join(Connector, Connector.evse_pk == Evse.id)
                    .where(ChargePoint.identity == identity)
                    .group_by(Evse.evse_number)
                )
            ).all()
        for evse, max_kw in rows:
            self.low_power.know_rating(identity, evse, max_kw)

    # -- events and ticks ------------------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        if not isinstance(event, WATCHED):
            return
        identity = event.identity
        if identity not in self.correlator.chargers and identity not in self._unknown:
            await self._learn([identity])  # its place is needed to place its signals
        elif isinstance(event, ChargerConnected):
            # It may have moved, or registered since. Its boot comes on the same socket, so a
            # connect is when to read (a read per boot too doubled a reconnect storm's reads).
            self._stale_places.add(identity)
            self._read_later("places", "*", self._relearn)
        if isinstance(event, ChargerBooted):
            # What it is, as it says at boot (a firmware update shows here first).
            self.fleet.booted(identity, FleetModel.of(event.vendor, event.model, event.firmware_version))
        if isinstance(event, TransactionStarted) and (identity, event.evse) not in self.low_power.rated_w:
            self._read_later("ratings", identity, self._rate)
        signals: list[Signal] = []
        for detector in self.detectors:
            signals += detector.feed(event)
        if signals:
            await self._apply(signals)

    async def _ticks(self) -> None:
        while True:
            try:
                await self._load()
                break
            except Exception:
                log.exception("health monitor could not load its state; retrying")
                await asyncio.sleep(max(5.0, self.h.tick_interval_s))
        if not self._subscribed:
            # Elected on NATS: the durable consumer resumes where the last leader stopped.
            self.bus.subscribe("*", self._on_event, group="health")
            self._subscribed = True
        while True:
            await asyncio.sleep(self.h.tick_interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("health tick failed")

    async def tick(self) -> None:
        now = self.clock()
        signals: list[Signal] = []
        suspects = self.offline.suspects(now)
        if suspects:
            async with self.maker() as db:
                seen = (
                    await db.execute(
                        select(ChargePoint.identity, ChargePoint.last_seen_at).where(ChargePoint.identity.in_(suspects))
                    )
                ).all()
            for identity, at in seen:
                signals += self.offline.seen(identity, at)
        for detector in self.detectors:
            signals += detector.tick(now)
        async with self._lock:
            placements = self._place(signals, now)
            flushed = self.correlator.flush(now, lambda i: self.offline.is_dark(i, now), self.offline.is_down)
            placements += [f for p in flushed for f in self.fleet.place(p, now)]
            placements += self.fleet.expire(now)
            await self._store(placements)
            if self.h.clear_hold_s > 0:
                async with self.maker() as db:
                    await self._service(db).resolve_cleared()
        await self._save_baselines()

    async def _save_baselines(self, *, force: bool = False) -> None:
        """The anomaly baselines changed since the last save, when it is time (or ``force``)."""
        now, last = self.clock(), self._baselines_saved_at
        if self.anomaly is None or last is None:
            return
        if not force and (now - last).total_seconds() < self.h.anomaly_save_interval_s:
            return
        self._baselines_saved_at = now
        rows = self.anomaly.take_dirty()
        try:
            async with self.maker() as db:
                await save_baselines(db, rows, now)
        except Exception:
            self.anomaly.mark_dirty((identity, evse) for identity, evse, _ in rows)
            log.exception("saving the anomaly baselines failed; retrying at the next interval")

    async def _apply(self, signals: list[Signal]) -> None:
        async with self._lock:
            await self._store(self._place(signals, self.clock()))

    def _place(self, signals: list[Signal], now: datetime) -> list[Placement]:
        out: list[Placement] = []
        for signal in signals:
            for placement in self.correlator.place(
                signal, now, lambda i: self.offline.is_dark(i, now), self.offline.is_down
            ):
                out += self.fleet.place(placement, now)
        return out

    async def _store(self, placements: list[Placement]) -> None:
        for placement in placements:
            try:
                async with self.maker() as db:
                    await self._service(db).apply(placement)
            except Exception:
                log.exception("applying a health signal failed", extra={"key": placement.key})

    def _service(self, db: AsyncSession) -> IncidentService:
        return IncidentService(
            db, self.bus, flap_window_s=self.h.flap_window_s, clear_hold_s=self.h.clear_hold_s, clock=self.clock
        )
