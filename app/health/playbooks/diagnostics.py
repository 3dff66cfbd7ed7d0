"""The evidence first: an incident the charger itself may explain asks it for its diagnostics
/ log upload (1.6 GetDiagnostics, 2.0.1 GetLog) and attaches the file to the incident; the
playbook's first step waits for the upload, since a reset can cut it off."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sqlalchemy import select

from app.chargers.events import DiagnosticsUploaded
from app.chargers.models import DiagnosticsFile
from app.core.errors import DomainError
from app.health.events import IncidentOpened
from app.health.playbooks.actions import Actions
from app.health.playbooks.table import Step
from app.health.service import IncidentService
from app.sessions.commands import CommandService


class Diagnostics:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        # Diagnostics asked for and not uploaded yet: file id -> (incident, its arrival).
        self._uploads: dict[uuid.UUID, tuple[uuid.UUID, asyncio.Event]] = {}

    async def collect(self, incident: IncidentOpened, resolved: asyncio.Event) -> None:
        """Ask for the charger's diagnostics, attach the upload slot to the incident, and
        wait (a while) for the file before anything may reset the charger."""
        a = self.actions
        step = Step("collect_diagnostics", "get-diagnostics")
        file_id = None
        async with a.maker() as db:
            cp_id = await a.charge_point_id(db, incident.identity)
            if cp_id is None:
                return
            commands = CommandService.of(db, a.bus, a.settings, clock=a.clock)
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
        await a.record(incident, step, outcome, file_id=file_id)
        if file_id is None:
            return
        waits = [asyncio.create_task(arrived.wait()), asyncio.create_task(resolved.wait())]
        try:
            await asyncio.wait(waits, timeout=a.playbook.diagnostics_wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            # A late upload is still listed with the incident (its slot is); only the note is missed.
            self._uploads.pop(file_id, None)

    async def uploaded(self, event: DiagnosticsUploaded) -> None:
        """A file arrived: the playbook waiting for it goes on, and the incident notes it."""
        waiting = self._uploads.pop(event.file_id, None)
        if waiting is None:
            return  # asked for by an operator, or before a restart: it is on the charger's list
        incident_id, arrived = waiting
        arrived.set()
        async with self.actions.maker() as db:
            with contextlib.suppress(DomainError):
                await IncidentService(db, self.actions.bus, clock=self.actions.clock).note(
                    incident_id,
                    "note",
                    {"diagnostics": str(event.file_id), "uploaded": True, "sizeBytes": event.size_bytes},
                    change="diagnostics",
                )
