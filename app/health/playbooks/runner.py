"""The remediator: runs an open incident's playbook, step by step, each step verified before
the next (see the package's docstring). Only the leader of ``playbooks`` runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.events import DiagnosticsUploaded
from app.core.bus import Bus, Event, Leadership
from app.core.database import utcnow
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.health.models import Incident
from app.health.playbooks import fleet, guards
from app.health.playbooks.actions import Actions
from app.health.playbooks.diagnostics import Diagnostics
from app.health.playbooks.events import as_opened
from app.health.playbooks.second_look import second_look
from app.health.playbooks.table import DIAGNOSED_CAUSES, PLAYBOOKS, PlaybookSettings

log = logging.getLogger("laddnat.health")


class Remediator:
    """Runs each open incident's playbook in a task of its own; ``playbook`` may be replaced
    while running, and every part takes the new settings."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: Settings,
        playbook: PlaybookSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.actions = Actions(maker, bus, settings, playbook or PlaybookSettings.of(settings), clock)
        self.diagnostics = Diagnostics(self.actions)
        self._resolved: dict[uuid.UUID, asyncio.Event] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Causes refined while the incident's playbook had not begun its steps yet.
        self._refined: dict[uuid.UUID, str] = {}
        # Incidents re-opened while their playbook still ran: it runs again once it ends.
        self._rerun: set[uuid.UUID] = set()
        self._restarts: set[asyncio.Task[None]] = set()
        self._leadership: Leadership | None = None
        self._subscribed = False

    @property
    def playbook(self) -> PlaybookSettings:
        return self.actions.playbook

    @playbook.setter
    def playbook(self, playbook: PlaybookSettings) -> None:
        self.actions.playbook = playbook

    def subscribe(self) -> None:
        """Campaign for the lead of ``playbooks``: only the leader runs playbooks, so a
        command is sent by one process. In one process it leads from the start and
        subscribes now; on NATS once elected. A playbook under way on a leader that dies is
        not resumed: its incident stays open, and its next change (re-opened, a refined
        diagnosis) restarts the playbook on the new leader as the incident stands then."""
        self._leadership = self.bus.lead("playbooks", on_elected=self._elected, on_deposed=self._deposed)
        if self._leadership.is_leader:
            self._subscribe()

    def _subscribe(self) -> None:
        self.bus.subscribe(IncidentOpened.subject, self._on_opened, group="playbooks")
        self.bus.subscribe(IncidentResolved.subject, self._on_resolved, group="playbooks")
        self.bus.subscribe(IncidentChanged.subject, self._on_changed, group="playbooks")
        self.bus.subscribe(DiagnosticsUploaded.subject, self._on_uploaded, group="playbooks")
        self._subscribed = True

    @property
    def is_leader(self) -> bool:
        return self._leadership is not None and self._leadership.is_leader

    async def start(self) -> None:
        if self._leadership is not None:
            await self._leadership.start()

    async def _elected(self) -> None:
        if not self._subscribed:
            self._subscribe()

    async def _deposed(self) -> None:
        """Another process leads: no further command from here."""
        self.bus.unsubscribe("playbooks")
        self._subscribed = False
        await self._stop()

    async def _stop(self) -> None:
        # The playbooks, and the restarts and fleet members' protective steps begun beside them.
        await stop_tasks([*self._tasks.values(), *self._restarts])

    async def close(self) -> None:
        await self._stop()
        if self._leadership is not None:
            await self._leadership.close()

    async def _on_opened(self, event: Event) -> None:
        assert isinstance(event, IncidentOpened)
        if event.incident_id in self._tasks or not (self._heals(event) or self._collects(event)):
            return
        self._start(event)

    def _start(self, event: IncidentOpened, *, collect: bool = True) -> None:
        self._resolved[event.incident_id] = asyncio.Event()
        task = asyncio.create_task(self.run(event, collect=collect), name=f"playbook-{event.incident_id}")
        self._tasks[event.incident_id] = task
        task.add_done_callback(lambda done: self._finished(event.incident_id, done))

    async def _on_changed(self, event: Event) -> None:
        """A diagnosis refined after opening (a 2.0.1 charger reports Faulted, then the Problem
        event that names it): a playbook that has not begun its steps takes the new cause; with
        none running, the new cause's playbook starts (its diagnostics collected once)."""
        assert isinstance(event, IncidentChanged)
        if event.change.startswith("joined:"):
            # A charger joined a fleet incident: its own protective steps, now.
            if self.playbook.heal:
                self._spawn(fleet.protect_joiner(self.actions, event.incident_id, event.change.removeprefix("joined:")))
            return
        if event.change == "reopened" and await fleet.fleet_targets(self.actions, event.incident_id) is not None:
            await self._restart(event.incident_id)  # a fleet in trouble again: protect its members
            return
        if event.change == "reopened" and any(s.only_if_recurring for s in PLAYBOOKS.get(event.cause, ())):
            # The trouble came back: the steps that wait for a recurrence may act now.
            if self._running(event.incident_id):
                self._rerun.add(event.incident_id)
            else:
                await self._restart(event.incident_id)
            return
        if event.change != "diagnosis" or event.state == "resolved":
            return
        self._refined[event.incident_id] = event.cause
        if self._running(event.incident_id):
            return
        async with self.maker() as db:
            incident = await db.get(Incident, event.incident_id)
        if self._running(event.incident_id):
            return  # a playbook started meanwhile picks the refined cause up
        self._refined.pop(event.incident_id, None)
        await self._restart(event.incident_id, incident)

    async def _restart(self, incident_id: uuid.UUID, incident: Incident | None = None) -> None:
        """Start the incident's playbook again as it stands now (its diagnostics collected once)."""
        if incident is None:
            async with self.maker() as db:
                incident = await db.get(Incident, incident_id)
        if incident is None or incident.state == "resolved" or self._running(incident_id):
            return
        opened = as_opened(incident)
        if self._heals(opened):
            self._start(opened, collect=not (incident.evidence or {}).get("diagnostics"))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            task = asyncio.get_running_loop().create_task(work)
            self._restarts.add(task)  # held until done: a bare task may be collected
            task.add_done_callback(self._restarts.discard)

    def _running(self, incident_id: uuid.UUID) -> bool:
        task = self._tasks.get(incident_id)
        return task is not None and not task.done()

    async def _on_resolved(self, event: Event) -> None:
        assert isinstance(event, IncidentResolved)
        waiting = self._resolved.get(event.incident_id)
        if waiting is not None:
            waiting.set()
        if event.resolution == "automatic" and event.cause in {"site_network", "grid_supply"}:
            # Back from an outage: ask every charger it held for a fresh status of every
            # connector (a site incident names its chargers in its evidence).
            async with self.maker() as db:
                incident = await db.get(Incident, event.incident_id)
            site = ((incident.evidence or {}).get("site") or {}) if incident is not None else {}
            chargers = site.get("chargers") or [event.identity]
            await asyncio.gather(
                *(self.actions.send_quietly(i, "trigger-message", {"message": "StatusNotification"}) for i in chargers),
                return_exceptions=True,  # one charger not answering must not hold up the others
            )

    async def _on_uploaded(self, event: Event) -> None:
        assert isinstance(event, DiagnosticsUploaded)
        await self.diagnostics.uploaded(event)

    def _heals(self, incident: IncidentOpened) -> bool:
        return self.playbook.heal and bool(PLAYBOOKS.get(incident.cause))

    def _collects(self, incident: IncidentOpened) -> bool:
        return self.playbook.collect_diagnostics and incident.cause in DIAGNOSED_CAUSES

    def _finished(self, incident_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._tasks.get(incident_id) is task:  # not a refined diagnosis's playbook started since
            self._tasks.pop(incident_id, None)
            self._resolved.pop(incident_id, None)
            self._refined.pop(incident_id, None)
            if incident_id in self._rerun:
                self._rerun.discard(incident_id)
                self._spawn(self._restart(incident_id))
        if not task.cancelled() and task.exception() is not None:
            log.error("playbook of incident %s failed", incident_id, exc_info=task.exception())

    async def run(self, incident: IncidentOpened, *, collect: bool = True) -> None:
        """The cause's playbook, step by step, until the incident resolves."""
        resolved = self._resolved.setdefault(incident.incident_id, asyncio.Event())
        if collect and self._collects(incident):
            await self.diagnostics.collect(incident, resolved)
        refined = self._refined.pop(incident.incident_id, None)
        if refined is not None:
            incident = msgspec.structs.replace(incident, cause=refined)
        if not self._heals(incident):
            return
        # A fleet incident names no site (a charger's own usually does): only then a look.
        members = None
        if incident.location_id is None:
            members = await fleet.fleet_targets(self.actions, incident.incident_id)
        if members is not None:
            await fleet.protect(self.actions, incident, members)
            return
        for step in PLAYBOOKS.get(incident.cause, ()):
            if resolved.is_set():
                return
            if step.only_if_recurring and not await guards.recurring(self.maker, incident.incident_id):
                log.info("incident %s: %s waits for a recurrence", incident.incident_id, step.name)
                return
            # A step that waits for a recurrence already has its second look: the trouble on
            # record twice (a protection that tripped again), not one reading.
            if step.name == "out_of_service" and not step.only_if_recurring:
                doubt = await second_look(self.actions, incident, resolved)
                if resolved.is_set():
                    return
                if doubt is not None:
                    await self.actions.record(incident, step, f"skipped:{doubt}")
                    return
            outcome = await self.actions.step(incident, step, resolved)
            await self.actions.record(incident, step, outcome)
            if step.name == "out_of_service":
                log.warning(
                    "incident %s: %s out of service, a technician is needed", incident.incident_id, incident.identity
                )
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.playbook.verify_s):
                    await resolved.wait()
