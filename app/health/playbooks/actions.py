"""One step sent to one charger, through ``CommandService`` (audited with origin ``health``),
held back by its guards; then written in the incident's trail and announced on the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, Connector, Evse
from app.core.bus import Bus
from app.core.errors import DomainError
from app.core.settings import Settings
from app.health.events import IncidentOpened
from app.health.playbooks import guards
from app.health.playbooks.events import IncidentActionTaken
from app.health.playbooks.table import RESETS, PlaybookSettings, Step, evse_of
from app.health.service import IncidentService
from app.sessions.commands import CommandService


class Actions:
    """What every part of a playbook shares: the database, the bus, the settings, the
    playbook settings (``playbook`` may be replaced while running) and the clock."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: Settings,
        playbook: PlaybookSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.settings = settings
        self.playbook = playbook
        self.clock = clock

    @staticmethod
    async def charge_point_id(db: AsyncSession, identity: str) -> uuid.UUID | None:
        return await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))

    async def step(self, incident: IncidentOpened, step: Step, resolved: asyncio.Event) -> str:
        """Send the step for the incident unless a guard holds it back; its outcome."""
        async with self.maker() as db:
            cp_id = await self.charge_point_id(db, incident.identity)
            if cp_id is None:
                return "skipped:unknown charger"
            if step.name in RESETS:
                if await guards.resets_today(db, cp_id, self.clock()) >= self.playbook.max_resets_per_day:
                    return "skipped:reset limit reached"
                if not await guards.wait_until_resettable(db, cp_id, resolved, self.playbook.wait_for_idle_s):
                    return "skipped:a session is charging"
            args = step.args(incident)
            if step.name == "limit_power":
                # Half the connector's rated power (at least the 1.4 kW a car still accepts).
                max_kw = await db.scalar(
                    select(func.max(Connector.max_kw))
                    .join(Evse, Evse.id == Connector.evse_pk)
                    .where(Evse.charge_point_id == cp_id, Evse.evse_number == evse_of(incident))
                )
                args = {**args, "limit": max(1_400.0, (max_kw or 11.0) * 500)}
            if step.name == "stop_session":
                tx_id = await guards.active_transaction(db, cp_id, incident.evse)
                if tx_id is None:
                    return "skipped:no session"
                args = {"transactionId": str(tx_id)}
            if step.command is None:
                return "skipped:nothing to send"
            return await self.send(db, cp_id, step.command, args)

    async def send(self, db: AsyncSession, cp_id: uuid.UUID, name: str, args: dict[str, Any]) -> str:
        """Send a command and wait for the answer: ``answered:<status>`` or ``failed:<code>``."""
        commands = CommandService.of(db, self.bus, self.settings, clock=self.clock)
        try:
            entry = await commands.send(cp_id, name, args, origin="health")
        except DomainError as err:
            return f"failed:{err.code}"
        return f"answered:{(entry.answer or {}).get('status', 'ok')}"

    async def send_quietly(self, identity: str, name: str, args: dict[str, Any]) -> None:
        """Send a command to a charger, in no incident's trail."""
        async with self.maker() as db:
            cp_id = await self.charge_point_id(db, identity)
            if cp_id is not None:
                await self.send(db, cp_id, name, args)

    def announce(self, incident: IncidentOpened, step: Step, outcome: str) -> None:
        self.bus.publish(
            IncidentActionTaken(
                incident_id=incident.incident_id,
                identity=incident.identity,
                step=step.name,
                outcome=outcome,
                at=self.clock(),
            )
        )

    async def note(
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

    async def record(
        self,
        incident: IncidentOpened,
        step: Step,
        outcome: str,
        *,
        file_id: uuid.UUID | None = None,
        member: str | None = None,
    ) -> None:
        """Note the step's outcome in the trail, then announce it."""
        await self.note(incident, step, outcome, file_id=file_id, member=member)
        self.announce(incident, step, outcome)
