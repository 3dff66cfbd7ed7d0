"""The command worker: sends each accepted partner command to its charger and turns the
charger's answer into the result object POSTed to the partner's ``response_url``.

A command is claimed (``accepted`` -> ``sent``) before it is sent, so of several API
processes exactly one sends it, and finished (``sent`` -> ``done``) together with its
result push, in one transaction. A command nobody finished by the timeout we promised (the
process sending it died) ends as TIMEOUT: the partner always hears something.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.errors import (
    ChargerCallError,
    ChargerOffline,
    ChargerTimeout,
    CommandNotSupported,
    CommandsUnavailable,
)
from app.chargers.models import Evse
from app.core.bus import Bus
from app.core.database import claim, utcnow
from app.core.errors import DomainError
from app.core.settings import Settings
from app.core.tasks import stop_tasks
from app.core.workers import PollingWorker
from app.roaming.chargingprofiles.mapping import active_profile
from app.roaming.commands.models import OcpiCommand
from app.roaming.commands.results import command_result, profile_result, refused_start
from app.roaming.commands.schemas import ACCEPTED, TIMEOUT
from app.roaming.commands.schemas import command_result as result_object
from app.roaming.commands.service import COMMAND_KINDS, enqueue_result, origin_of
from app.roaming.models import OcpiPartner, OcpiSession
from app.sessions.commands import CommandService

log = logging.getLogger("laddnat.roaming")

BATCH = 100


class Outcome:
    """How a command ended, in the audit log's terms (see results.py)."""

    def __init__(
        self,
        outcome: str,
        status: str | None = None,
        answer: dict[str, Any] | None = None,
        error_code: str | None = None,
        message: str | None = None,
        evse_status: str | None = None,
    ) -> None:
        self.outcome = outcome
        self.evse_status = evse_status
        self.status = status
        self.answer = answer or {}
        self.error_code = error_code
        self.message = message


def result_body(command: OcpiCommand, ended: Outcome, now: datetime) -> dict[str, Any]:
    """The CommandResult / ChargingProfileResult / ClearProfileResult /
    ActiveChargingProfileResult for the command's response_url."""
    if command.kind in COMMAND_KINDS:
        result = command_result(command.kind, ended.outcome, ended.status, ended.error_code)
        if command.kind == "START_SESSION":
            result = refused_start(result, ended.evse_status)
        return result_object(result, None if result == ACCEPTED else ended.message)
    result = profile_result(ended.outcome, ended.status)
    if command.kind != "GET_PROFILE":
        return {"result": result}
    profile = active_profile(ended.answer, now) if result == ACCEPTED else None
    if result == ACCEPTED and profile is None:
        result = "REJECTED"  # the charger accepted but sent no schedule we can read
    return {"result": result, "profile": profile} if profile is not None else {"result": result}


class CommandWorker(PollingWorker):
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: Settings,
        *,
        on_result: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = 2.0,
    ) -> None:
        super().__init__("ocpi-command-worker", interval_s=interval_s, log=log)
        self.maker = maker
        self.bus = bus
        self.settings = settings
        # Called once a result is in the outbox (the API pokes the push worker with it).
        self.on_result = on_result
        self.clock = clock
        self.running: set[asyncio.Task[None]] = set()

    async def pass_once(self) -> None:
        await self.send_due()
        await self.expire_overdue()

    async def send_due(self) -> list[asyncio.Task[None]]:
        """Claim the accepted commands and send each in its own task (a charger's answer
        may take the whole command timeout); the tasks, for a test to await."""
        async with self.maker() as db:
            ids = (
                await db.scalars(
                    select(OcpiCommand.id)
                    .where(OcpiCommand.state == "accepted")
                    .order_by(OcpiCommand.created_at)
                    .limit(BATCH)
                )
            ).all()
            claimed = []
            for command_id in ids:
                stmt = (
                    update(OcpiCommand)
                    .where(OcpiCommand.id == command_id, OcpiCommand.state == "accepted")
                    .values(state="sent")
                )
                if await claim(db, stmt):
                    claimed.append(command_id)
            await db.commit()
        tasks = [asyncio.create_task(self.run(command_id), name=f"ocpi-command-{command_id}") for command_id in claimed]
        for task in tasks:
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        return tasks

    async def run(self, command_id: uuid.UUID) -> None:
        """Send one claimed command and record its result; never raises."""
        try:
            ended = await self._send(command_id)
        except Exception as exc:  # the partner must still hear something
            log.exception("OCPI command %s failed", command_id)
            ended = Outcome("error", message=f"internal error: {type(exc).__name__}")
        await self.finish(command_id, ended, expect="sent")

    async def _send(self, command_id: uuid.UUID) -> Outcome:
        async with self.maker() as db:
            command = await db.get(OcpiCommand, command_id)
            partner = await db.get(OcpiPartner, command.partner_id) if command is not None else None
            if command is None or partner is None or command.charge_point_id is None or command.command is None:
                return Outcome("invalid", message="nothing to send")
            commands = CommandService.of(db, self.bus, self.settings, tenant_id=command.operator_id)
            try:
                entry = await commands.send(
                    command.charge_point_id, command.command, command.args, origin=origin_of(partner)
                )
            except ChargerOffline:
                return Outcome("offline", message="the charge point is not connected")
            except CommandsUnavailable:
                return Outcome("timeout", message="the charge point could not be reached")
            except ChargerTimeout:
                return Outcome("timeout", message="no answer from the charge point")
            except ChargerCallError as err:
                return Outcome("call_error", error_code=err.extra.get("ocpp_error_code"), message=err.detail)
            except CommandNotSupported as err:
                return Outcome("unsupported", message=err.detail)
            except DomainError as err:  # the charger or transaction is gone, a refused argument
                return Outcome("invalid", message=err.detail)
            evse_status = None
            if command.kind == "START_SESSION" and entry.answer_status != "Accepted":
                evse_status = await db.scalar(
                    select(Evse.status).where(
                        Evse.charge_point_id == command.charge_point_id, Evse.evse_number == command.evse_number
                    )
                )
            return Outcome("answered", entry.answer_status, entry.answer, evse_status=evse_status)

    async def expire_overdue(self) -> int:
        """End the commands still open past their promised timeout as TIMEOUT."""
        now = self.clock()
        async with self.maker() as db:
            rows = (
                await db.execute(
                    select(OcpiCommand.id, OcpiCommand.state)
                    .where(OcpiCommand.state.in_(("accepted", "sent")), OcpiCommand.due_at < now)
                    .limit(BATCH)
                )
            ).all()
        for row in rows:
            await self.finish(row.id, Outcome("timeout", message="no answer in time"), expect=row.state)
        return len(rows)

    async def finish(self, command_id: uuid.UUID, ended: Outcome, *, expect: str) -> bool:
        """Record the result and put it (and its retries' copies) in the push outbox."""
        now = self.clock()
        async with self.maker() as db:
            if not await claim(
                db,
                update(OcpiCommand)
                .where(OcpiCommand.id == command_id, OcpiCommand.state == expect)
                .values(state="done", answered_at=now),
            ):
                await db.rollback()
                return False
            command = await db.get(OcpiCommand, command_id)
            partner = await db.get(OcpiPartner, command.partner_id) if command is not None else None
            if command is None or partner is None:
                await db.rollback()
                return False
            body = result_body(command, ended, now)
            command.result, command.result_body = body["result"], body
            await enqueue_result(db, partner, command, body, now)
            copies = (
                await db.scalars(
                    select(OcpiCommand).where(OcpiCommand.duplicate_of == command.id, OcpiCommand.result_body.is_(None))
                )
            ).all()
            for copy in copies:
                copy.result, copy.result_body, copy.answered_at = body["result"], body, now
                await enqueue_result(db, partner, copy, body, now)
            if command.kind == "START_SESSION" and body["result"] not in (ACCEPTED, TIMEOUT):
                await self._never_started(db, command.ocpi_session_id, now)
            await db.commit()
        if ended.outcome != "answered":
            log.info("OCPI command %s %s: %s", command.kind, body["result"], ended.message or ended.outcome)
        if self.on_result is not None:
            self.on_result()
        return True

    @staticmethod
    async def _never_started(db: AsyncSession, session_id: uuid.UUID | None, now: datetime) -> None:
        # The charger refused the start: the PENDING session will never charge (2.2.1
        # SessionStatus INVALID: "declared invalid and will not be billed").
        if session_id is None:
            return
        await db.execute(
            update(OcpiSession)
            .where(OcpiSession.id == session_id, OcpiSession.status == "PENDING", OcpiSession.transaction_id.is_(None))
            .values(status="INVALID", last_updated=now)
        )

    async def close(self) -> None:
        await stop_tasks(list(self.running))
        await super().close()
