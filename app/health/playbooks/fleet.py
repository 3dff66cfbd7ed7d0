"""A fleet incident (one model and firmware in trouble across the network) is not healed by
resetting every charger of it: it runs only its cause's protective steps (``PROTECTIVE``),
on each member charger still in trouble (on opening, and on each charger that joins later)."""

from __future__ import annotations

import asyncio
import uuid

import msgspec

from app.health.events import IncidentOpened
from app.health.models import Incident
from app.health.playbooks.actions import Actions
from app.health.playbooks.events import as_opened
from app.health.playbooks.table import PLAYBOOKS, PROTECTIVE

Target = tuple[str, int | None]  # a member charger's identity and its EVSE in trouble


async def fleet_targets(actions: Actions, incident_id: uuid.UUID) -> list[Target] | None:
    """A fleet incident's members still in trouble, each (charger, EVSE) once; None when
    the incident is not a fleet's."""
    async with actions.maker() as db:
        incident = await db.get(Incident, incident_id)
    if incident is None or incident.scope != "fleet":
        return None
    return targets_of(incident)


async def protect(actions: Actions, incident: IncidentOpened, targets: list[Target]) -> None:
    """The cause's protective steps, sent to each target charger (EVSE) in turn; each in
    the fleet incident's trail with the charger it went to."""
    steps = [s for s in PLAYBOOKS.get(incident.cause, ()) if s.name in PROTECTIVE]
    for step in steps:
        for identity, evse in targets:
            member = msgspec.structs.replace(incident, identity=identity, evse=evse)
            outcome = await actions.step(member, step, asyncio.Event())
            await actions.record(member, step, outcome, member=identity)


async def protect_joiner(actions: Actions, incident_id: uuid.UUID, identity: str) -> None:
    """A charger joined an open fleet incident: its own protective steps."""
    async with actions.maker() as db:
        incident = await db.get(Incident, incident_id)
    if incident is None or incident.scope != "fleet" or incident.state == "resolved":
        return
    targets = [(i, evse) for i, evse in targets_of(incident) if i == identity]
    await protect(actions, as_opened(incident), targets)


def targets_of(incident: Incident) -> list[Target]:
    """The (charger, EVSE) pairs of a fleet incident's members still in trouble."""
    members = ((incident.evidence or {}).get("fleet") or {}).get("members") or []
    out: list[Target] = []
    for m in members:
        if m.get("raised"):
            for evse in sorted({e for e in (m.get("conditions") or {}).values()}, key=lambda e: e or 0):
                out.append((m["identity"], evse))
    return out
