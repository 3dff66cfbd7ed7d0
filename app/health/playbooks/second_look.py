"""The second look before the worst step: taking an EVSE out of service is the worst a CSMS
can do to a healthy charger, so its evidence must hold on fresh readings, never one alone."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from app.health.events import IncidentOpened
from app.health.models import Incident
from app.health.playbooks.actions import Actions
from app.health.playbooks.table import Step, evse_of
from app.sessions.models import MeterSample

NO_FRESH_DATA = "no fresh data: the charger did not send any"


async def second_look(actions: Actions, incident: IncidentOpened, resolved: asyncio.Event) -> str | None:
    """The charger is asked for fresh readings and its status (TriggerMessage MeterValues,
    StatusNotification), the detectors get ``recheck_s`` to judge them, and the incident must
    still be open, its condition not cleared, with a fresh reading from the charger behind
    it. None when it holds, else why not (the step is skipped: a technician can still take
    it out by hand)."""
    step = Step("second_look", "trigger-message")
    asked = actions.clock()
    async with actions.maker() as db:
        cp_id = await actions.charge_point_id(db, incident.identity)
        if cp_id is None:
            return "unknown charger"
        answers = [
            await actions.send(db, cp_id, "trigger-message", {"message": "MeterValues", "evse": evse_of(incident)}),
            await actions.send(db, cp_id, "trigger-message", {"message": "StatusNotification"}),
        ]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(actions.playbook.recheck_s):
            await resolved.wait()
    if resolved.is_set():
        doubt: str | None = "recovered on a second look"
    else:
        doubt = await _doubt(actions, incident, cp_id, asked, answers)
    await actions.record(incident, step, "confirmed" if doubt is None else f"doubt:{doubt}")
    return doubt


async def _doubt(
    actions: Actions, incident: IncidentOpened, cp_id: uuid.UUID, asked: datetime, answers: list[str]
) -> str | None:
    async with actions.maker() as db:
        record = await db.get(Incident, incident.incident_id)
        if record is None:
            return "incident not on record"
        if record.state == "resolved":
            return "incident resolved"
        if record.clear_since is not None:
            return "its condition has cleared"
        if not any(a == "answered:Accepted" for a in answers):
            return NO_FRESH_DATA
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
        return NO_FRESH_DATA
    return None
