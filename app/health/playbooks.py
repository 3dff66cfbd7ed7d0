"""Self-healing: a playbook per cause, step by step, each step verified before the next.

First the evidence: an incident the charger itself may explain (its firmware, meter, lock,
reader, temperature, the link to the car, or what only the anomaly model saw) asks it for
its diagnostics / log upload (1.6 GetDiagnostics, 2.0.1 GetLog) and attaches the file to
the incident; the first step waits for the upload, since a reset can cut it off.

Then an open incident runs its cause's playbook: a step sends a command through
``CommandService`` (audited with origin ``health``), then waits ``verify_s`` for the
incident to resolve (the detectors close it when the charger recovers); if it does not,
the next, stronger step follows; the last step takes the connectors out of service and
asks for a technician. Resets are rate-limited per charger, and never sent while someone
is charging unless that session is already lost (its connector faulted).

A fleet incident (one model and firmware in trouble across the network) is not healed by
resetting every charger of it: it tells the operator which firmware to look at. It runs
only its cause's protective steps (``PROTECTIVE``), on each member charger still in
trouble (on opening, and on each charger that joins later), and collects the log of its
first member alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.events import DiagnosticsUploaded
from app.chargers.models import ChargePoint, CommandLog, Connector, DiagnosticsFile, Evse
from app.core.bus import Bus, Event, Leadership
from app.core.database import utcnow
from app.core.errors import DomainError
from app.core.settings import Settings
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.health.models import Incident
from app.health.service import IncidentService
from app.sessions.commands import CommandService
from app.sessions.models import MeterSample, Transaction

log = logging.getLogger("laddnat.health")

RESETS = frozenset({"soft_reset", "hard_reset"})
# Steps that protect a charger and whoever uses it without claiming to heal it (less power
# for a hot one, a driver's cable freed): a fleet incident sends these, and only these, to
# each of its members.
PROTECTIVE = frozenset({"limit_power", "unlock"})
# Causes whose evidence may be in the charger's own logs (not offline, not the grid).
DIAGNOSED_CAUSES = frozenset(
    {
        "internal_firmware",
        "metering",
        "vehicle_communication",
        "connector_lock",
        "rfid_reader",
        "overheating",
        "electrical_protection",
        "unknown",
    }
)


@dataclass(frozen=True)
class Step:
    name: str  # soft_reset | hard_reset | unlock | limit_power | stop_session | trigger_status | out_of_service
    # The command and its arguments for this incident (None: nothing to send, e.g. wait).
    command: str | None
    args: Callable[[IncidentOpened], dict[str, Any]] = field(default=lambda _: {})
    # Taken only once the trouble recurs (the incident re-opened, or its evidence says so);
    # until then the playbook waits and sends nothing.
    only_if_recurring: bool = False


def _evse(incident: IncidentOpened) -> int:
    return incident.evse or 1


PLAYBOOKS: dict[str, tuple[Step, ...]] = {
    "internal_firmware": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("hard_reset", "reset", lambda _: {"kind": "hard"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "connector_lock": (
        Step("unlock", "unlock-connector", lambda i: {"evse": _evse(i)}),
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "overheating": (
        # Half the power first (a charging profile), then stop the session, then take it out.
        Step(
            "limit_power",
            "set-charging-profile",
            lambda i: {"limit": 0.0, "unit": "W", "evse": _evse(i), "purpose": "TxDefault"},
        ),
        Step("stop_session", "remote-stop"),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "metering": (
        Step("trigger_meter_values", "trigger-message", lambda i: {"message": "MeterValues", "evse": _evse(i)}),
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "vehicle_communication": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "rfid_reader": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    # A tripped protection device (over-current, earth leakage) is never reset into: a reset
    # closes the contactor on the same fault. The first trip is left to the charger's own
    # reclosing and a technician's reading of the evidence; a recurrence takes the EVSE out.
    "electrical_protection": (
        Step(
            "out_of_service",
            "change-availability",
            lambda i: {"operative": False, "evse": i.evse or 0},
            only_if_recurring=True,
        ),
    ),
    # Nothing on the charger can heal the grid or the site's network: wait, and when the
    # charger is back (the incident resolves) ask it for its status (see _on_resolved).
    "grid_supply": (),
    "site_network": (),
    "unknown": (),
}


@dataclass(frozen=True)
class PlaybookSettings:
    verify_s: float = 90.0  # how long a step has to heal before the next
    max_resets_per_day: int = 3  # per charger: a flapping charger is not reset forever
    wait_for_idle_s: float = 600.0  # a reset waits this long for a running session to end
    heal: bool = True  # run the playbooks (off: only collect diagnostics)
    collect_diagnostics: bool = False  # ask for the charger's logs first and attach them
    diagnostics_wait_s: float = 60.0  # how long the first step waits for the upload
    recheck_s: float = 30.0  # out of service: how long fresh data has to change the verdict


class IncidentActionTaken(Event, frozen=True, kw_only=True):
    """A playbook step was sent (or skipped, and why): the incident's trail and feeds."""

    subject: ClassVar[str] = "incident.action"
    incident_id: uuid.UUID
    identity: str
    step: str
    outcome: str  # sent | answered:<status> | failed:<code> | skipped:<why>
    at: datetime


class Remediator:
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
        self.playbook = playbook or PlaybookSettings(
            verify_s=settings.health.playbook_verify_s,
            max_resets_per_day=settings.health.max_resets_per_day,
            wait_for_idle_s=settings.health.reset_wait_for_idle_s,
            heal=settings.health.self_healing,
            collect_diagnostics=settings.health.collect_diagnostics,
            diagnostics_wait_s=settings.health.diagnostics_wait_s,
            recheck_s=settings.health.out_of_service_recheck_s,
        )
        self.clock = clock
        self._resolved: dict[uuid.UUID, asyncio.Event] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Causes refined while the incident's playbook had not begun its steps yet.
        self._refined: dict[uuid.UUID, str] = {}
        # Diagnostics asked for and not uploaded yet: file id -> (incident, its arrival).
        self._uploads: dict[uuid.UUID, tuple[uuid.UUID, asyncio.Event]] = {}
        # Incidents re-opened while their playbook still ran: it runs again once it ends.
        self._rerun: set[uuid.UUID] = set()
        self._restarts: set[asyncio.Task[None]] = set()
        self._leadership: Leadership | None = None
        self._subscribed = False

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
        tasks = [*self._tasks.values(), *self._restarts]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
                self._spawn(self._protect_joiner(event.incident_id, event.change.removeprefix("joined:")))
            return
        if event.change == "reopened" and await self._fleet_targets(event.incident_id) is not None:
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
        opened = self._opened(incident)
        if self._heals(opened):
            self._start(opened, collect=not (incident.evidence or {}).get("diagnostics"))

    @staticmethod
    def _opened(incident: Incident) -> IncidentOpened:
        """The incident as its opening announced it (a playbook's input)."""
        return IncidentOpened(
            incident_id=incident.id,
            operator_id=incident.operator_id,
            identity=incident.identity,
            location_id=incident.location_id,
            evse=incident.evse,
            connectors=list(incident.connectors or []),
            kind=incident.kind,
            cause=incident.cause,
            severity=incident.severity,
            confidence=incident.confidence,
            summary=incident.summary,
            opened_at=incident.opened_at,
        )

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
                *(self._send_quietly(i, "trigger-message", {"message": "StatusNotification"}) for i in chargers),
                return_exceptions=True,  # one charger not answering must not hold up the others
            )

    async def _on_uploaded(self, event: Event) -> None:
        assert isinstance(event, DiagnosticsUploaded)
        waiting = self._uploads.pop(event.file_id, None)
        if waiting is None:
            return  # asked for by an operator, or before a restart: it is on the charger's list
        incident_id, arrived = waiting
        arrived.set()
        async with self.maker() as db:
            with contextlib.suppress(DomainError):
                await IncidentService(db, self.bus, clock=self.clock).note(
                    incident_id,
                    "note",
                    {"diagnostics": str(event.file_id), "uploaded": True, "sizeBytes": event.size_bytes},
                    change="diagnostics",
                )

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
            await self._collect(incident, resolved)
        refined = self._refined.pop(incident.incident_id, None)
        if refined is not None:
            incident = msgspec.structs.replace(incident, cause=refined)
        if not self._heals(incident):
            return
        # A fleet incident names no site (a charger's own usually does): only then a look.
        members = await self._fleet_targets(incident.incident_id) if incident.location_id is None else None
        if members is not None:
            await self._protect(incident, members)
            return
        for step in PLAYBOOKS.get(incident.cause, ()):
            if resolved.is_set():
                return
            if step.only_if_recurring and not await self._recurring(incident.incident_id):
                log.info("incident %s: %s waits for a recurrence", incident.incident_id, step.name)
                return
            # A step that waits for a recurrence already has its second look: the trouble on
            # record twice (a protection that tripped again), not one reading.
            if step.name == "out_of_service" and not step.only_if_recurring:
                doubt = await self._second_look(incident, resolved)
                if resolved.is_set():
                    return
                if doubt is not None:
                    outcome = f"skipped:{doubt}"
                    await self._note(incident, step, outcome)
                    self._announce(incident, step, outcome)
                    return
            outcome = await self._step(incident, step, resolved)
            await self._note(incident, step, outcome)
            self._announce(incident, step, outcome)
            if step.name == "out_of_service":
                log.warning(
                    "incident %s: %s out of service, a technician is needed", incident.incident_id, incident.identity
                )
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.playbook.verify_s):
                    await resolved.wait()

    # -- fleet incidents -----------------------------------------------------------------

    async def _fleet_targets(self, incident_id: uuid.UUID) -> list[tuple[str, int | None]] | None:
        """A fleet incident's members still in trouble, each (charger, EVSE) once; None when
        the incident is not a fleet's."""
        async with self.maker() as db:
            incident = await db.get(Incident, incident_id)
        if incident is None or incident.scope != "fleet":
            return None
        return _targets(incident)

    async def _protect(self, incident: IncidentOpened, targets: list[tuple[str, int | None]]) -> None:
        """The cause's protective steps, sent to each target charger (EVSE) in turn; each in
        the fleet incident's trail with the charger it went to."""
        steps = [s for s in PLAYBOOKS.get(incident.cause, ()) if s.name in PROTECTIVE]
        for step in steps:
            for identity, evse in targets:
                member = msgspec.structs.replace(incident, identity=identity, evse=evse)
                outcome = await self._step(member, step, asyncio.Event())
                await self._note(member, step, outcome, member=identity)
                self._announce(member, step, outcome)

    async def _protect_joiner(self, incident_id: uuid.UUID, identity: str) -> None:
        async with self.maker() as db:
            incident = await db.get(Incident, incident_id)
        if incident is None or incident.scope != "fleet" or incident.state == "resolved":
            return
        targets = [(i, evse) for i, evse in _targets(incident) if i == identity]
        await self._protect(self._opened(incident), targets)

    async def _second_look(self, incident: IncidentOpened, resolved: asyncio.Event) -> str | None:
        """Taking an EVSE out of service is the worst a CSMS can do to a healthy charger, so
        its evidence must hold on a second look: the charger is asked for fresh readings and
        its status (TriggerMessage MeterValues, StatusNotification), the detectors get
        ``recheck_s`` to judge them, and the incident must still be open, its condition not
        cleared, with a fresh reading from the charger behind it: never one reading alone. None when it holds, else why
        not (the step is skipped: a technician can still take it out by hand)."""
        step = Step("second_look", "trigger-message")
        asked = self.clock()
        async with self.maker() as db:
            cp_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == incident.identity))
            if cp_id is None:
                return "unknown charger"
            answers = [
                await self._send(db, cp_id, "trigger-message", {"message": "MeterValues", "evse": _evse(incident)}),
                await self._send(db, cp_id, "trigger-message", {"message": "StatusNotification"}),
            ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.playbook.recheck_s):
                await resolved.wait()
        if resolved.is_set():
            doubt: str | None = "recovered on a second look"
        else:
            doubt = await self._doubt(incident, cp_id, asked, answers)
        await self._note(incident, step, "confirmed" if doubt is None else f"doubt:{doubt}")
        self._announce(incident, step, "confirmed" if doubt is None else f"doubt:{doubt}")
        return doubt

    async def _doubt(
        self, incident: IncidentOpened, cp_id: uuid.UUID, asked: datetime, answers: list[str]
    ) -> str | None:
        async with self.maker() as db:
            record = await db.get(Incident, incident.incident_id)
            if record is None:
                return "incident not on record"
            if record.state == "resolved":
                return "incident resolved"
            if record.clear_since is not None:
                return "its condition has cleared"
            if not any(a == "answered:Accepted" for a in answers):
                return "no fresh data: the charger did not send any"
            # A reading from the charger since we asked (received, by our clock: a charger's
            # own clock may be off). sampled_at bounds it, so the index on readings serves.
            reading = await db.scalar(
                select(MeterSample.id)
                .where(
                    MeterSample.charge_point_id == cp_id,
                    MeterSample.sampled_at >= asked - timedelta(days=1),
                    MeterSample.received_at >= asked,
                )
                .limit(1)
            )
        if reading is None:
            return "no fresh data: the charger did not send any"
        return None

    async def _collect(self, incident: IncidentOpened, resolved: asyncio.Event) -> None:
        """Ask for the charger's diagnostics, attach the upload slot to the incident, and
        wait (a while) for the file before anything may reset the charger."""
        step = Step("collect_diagnostics", "get-diagnostics")
        file_id = None
        async with self.maker() as db:
            cp_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == incident.identity))
            if cp_id is None:
                return
            commands = CommandService.of(db, self.bus, self.settings, clock=self.clock)
            try:
                entry = await commands.send(cp_id, "get-diagnostics", {}, origin="health")
            except DomainError as err:
                outcome = f"failed:{err.code}"
            else:
                status = entry.answer_status or "NoStatus"  # 1.6's file name is Accepted by then
                outcome = f"answered:{status}"
                if status in ("Accepted", "AcceptedCanceled"):
                    file_id = await db.scalar(select(DiagnosticsFile.id).where(DiagnosticsFile.command_id == entry.id))
        arrived = asyncio.Event()
        if file_id is not None:
            self._uploads[file_id] = (incident.incident_id, arrived)
        await self._note(incident, step, outcome, file_id=file_id)
        self._announce(incident, step, outcome)
        if file_id is None:
            return
        waits = [asyncio.create_task(arrived.wait()), asyncio.create_task(resolved.wait())]
        try:
            await asyncio.wait(waits, timeout=self.playbook.diagnostics_wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            # A late upload is still listed with the incident (its slot is); only the note is missed.
            self._uploads.pop(file_id, None)

    def _announce(self, incident: IncidentOpened, step: Step, outcome: str) -> None:
        self.bus.publish(
            IncidentActionTaken(
                incident_id=incident.incident_id,
                identity=incident.identity,
                step=step.name,
                outcome=outcome,
                at=self.clock(),
            )
        )

    async def _note(
        self,
        incident: IncidentOpened,
        step: Step,
        outcome: str,
        *,
        file_id: uuid.UUID | None = None,
        member: str | None = None,
    ) -> None:
        """The step in the incident's trail (and IncidentChanged for feeds and webhooks);
        ``member``: the fleet incident's charger it went to."""
        async with self.maker() as db:
            try:
                service = IncidentService(db, self.bus, clock=self.clock)
                data: dict[str, Any] = {"step": step.name, "command": step.command, "outcome": outcome}
                if member is not None:
                    data["identity"] = member
                if file_id is not None:
                    data["fileId"] = str(file_id)
                    await service.attach_diagnostics(incident.incident_id, file_id)
                await service.note(incident.incident_id, "action", data, change=f"action:{step.name}")
            except DomainError:
                pass  # an incident that is not (or no longer) on record: nothing to annotate

    async def _step(self, incident: IncidentOpened, step: Step, resolved: asyncio.Event) -> str:
        async with self.maker() as db:
            cp_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == incident.identity))
            if cp_id is None:
                return "skipped:unknown charger"
            if step.name in RESETS:
                if await self._resets_today(db, cp_id) >= self.playbook.max_resets_per_day:
                    return "skipped:reset limit reached"
                if not await self._wait_until_resettable(db, cp_id, resolved):
                    return "skipped:a session is charging"
            args = step.args(incident)
            if step.name == "limit_power":
                # Half the connector's rated power (at least the 1.4 kW a car still accepts).
                max_kw = await db.scalar(
                    select(func.max(Connector.max_kw))
                    .join(Evse, Evse.id == Connector.evse_pk)
                    .where(Evse.charge_point_id == cp_id, Evse.evse_number == _evse(incident))
                )
                args = {**args, "limit": max(1_400.0, (max_kw or 11.0) * 500)}
            if step.name == "stop_session":
                tx_id = await self._active_transaction(db, cp_id, incident.evse)
                if tx_id is None:
                    return "skipped:no session"
                args = {"transactionId": str(tx_id)}
            if step.command is None:
                return "skipped:nothing to send"
            return await self._send(db, cp_id, step.command, args)

    async def _send(self, db: AsyncSession, cp_id: uuid.UUID, name: str, args: dict[str, Any]) -> str:
        commands = CommandService.of(db, self.bus, self.settings, clock=self.clock)
        try:
            entry = await commands.send(cp_id, name, args, origin="health")
        except DomainError as err:
            return f"failed:{err.code}"
        return f"answered:{(entry.answer or {}).get('status', 'ok')}"

    async def _send_quietly(self, identity: str, name: str, args: dict[str, Any]) -> None:
        async with self.maker() as db:
            cp_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
            if cp_id is not None:
                await self._send(db, cp_id, name, args)

    async def _resets_today(self, db: AsyncSession, cp_id: uuid.UUID) -> int:
        since = self.clock() - timedelta(days=1)
        count = await db.scalar(
            select(func.count()).where(
                CommandLog.charge_point_id == cp_id,
                CommandLog.origin == "health",
                CommandLog.name == "reset",
                CommandLog.requested_at >= since,
            )
        )
        return int(count or 0)

    async def _wait_until_resettable(self, db: AsyncSession, cp_id: uuid.UUID, resolved: asyncio.Event) -> bool:
        """True once no session is charging on the charger, or every running one is already
        lost (its connector faulted); False if that does not happen in time."""
        deadline = asyncio.get_running_loop().time() + self.playbook.wait_for_idle_s
        while True:
            resettable = await self._resettable(db, cp_id)
            await db.rollback()  # the connection back between looks (SQLite has one)
            if resettable:
                return True
            if resolved.is_set() or asyncio.get_running_loop().time() >= deadline:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(5.0, self.playbook.wait_for_idle_s)):
                    await resolved.wait()

    async def _recurring(self, incident_id: uuid.UUID) -> bool:
        """Has the incident's trouble come back: re-opened, or a signal in its evidence
        counting more than one occurrence (a protection trip's ``electrical.recurring``)."""
        async with self.maker() as db:
            incident = await db.get(Incident, incident_id)
        if incident is None:
            return False
        if incident.flaps > 0:
            return True
        chain = (incident.evidence or {}).get("chain") or []
        return any(((link.get("evidence") or {}).get("electrical") or {}).get("recurring") for link in chain)

    @staticmethod
    async def _resettable(db: AsyncSession, cp_id: uuid.UUID) -> bool:
        running = list(
            await db.scalars(
                select(Transaction.evse_number).where(
                    Transaction.charge_point_id == cp_id, Transaction.status == "active"
                )
            )
        )
        if not running:
            return True
        faulted = set(
            await db.scalars(
                select(Evse.evse_number)
                .join(Connector, Connector.evse_pk == Evse.id)
                .where(Evse.charge_point_id == cp_id, Connector.status == "Faulted")
            )
        )
        return all(evse in faulted for evse in running)

    @staticmethod
    async def _active_transaction(db: AsyncSession, cp_id: uuid.UUID, evse: int | None) -> uuid.UUID | None:
        stmt = select(Transaction.id).where(Transaction.charge_point_id == cp_id, Transaction.status == "active")
        if evse is not None:
            stmt = stmt.where(Transaction.evse_number == evse)
        return await db.scalar(stmt.limit(1))


def _targets(incident: Incident) -> list[tuple[str, int | None]]:
    """The (charger, EVSE) pairs of a fleet incident's members still in trouble."""
    members = ((incident.evidence or {}).get("fleet") or {}).get("members") or []
    out: list[tuple[str, int | None]] = []
    for m in members:
        if m.get("raised"):
            for evse in sorted({e for e in (m.get("conditions") or {}).values()}, key=lambda e: e or 0):
                out.append((m["identity"], evse))
    return out
