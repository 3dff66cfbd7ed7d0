"""Fleet correlation: a charger compared with its own model and firmware across its
operator's network. When enough of one tenant's chargers of one vendor, model and firmware
have the same trouble (the same detector, topic and cause), it is one fleet incident with
its scope ("4 of 5 Acme X1 chargers on firmware 2.3 run hot; on other firmware 0 of 3 do"),
not one incident per charger.

Pure, like the site correlator beside it (app/health/diagnosis.py): the monitor tells it each
charger's tenant, place, vendor, model and firmware, and hands it the charger-level
placements the site correlator lets through; it answers where each goes.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.settings import HealthSettings
from app.health.diagnosis import Diagnosis, Placement, link
from app.health.signals import Severity, Signal

# A charger's network trouble is its site's, and a platform-wide outage is ours: never a
# model's or a firmware's.
NOT_GROUPED = frozenset({"offline"})
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
KEY_LIMIT = 160  # Incident.open_key
# What the affected chargers do, in the summary's words.
TROUBLE_WORDS = {
    "overheating": "run hot",
    "grid_supply": "see supply trouble",
    "site_network": "lose their network",
    "vehicle_communication": "lose the link to cars",
    "metering": "meter wrongly",
    "connector_lock": "have their connector lock fail",
    "internal_firmware": "fail internally",
    "rfid_reader": "have their card reader fail",
    "electrical_protection": "trip their electrical protection",
}


@dataclass(frozen=True)
class FleetModel:
    """What makes chargers twins: vendor, model and firmware ("" when not reported)."""

    vendor: str
    model: str
    firmware: str

    @classmethod
    def of(cls, vendor: str | None, model: str | None, firmware: str | None) -> FleetModel | None:
        """None when the charger has not said what it is (it has not booted yet)."""
        if not vendor or not model:
            return None
        return cls(vendor, model, firmware or "")

    @property
    def name(self) -> str:
        return f"{self.vendor}|{self.model}|{self.firmware}"


@dataclass(frozen=True)
class FleetCharger:
    operator_id: uuid.UUID | None
    location_id: uuid.UUID | None
    model: FleetModel | None


@dataclass(frozen=True)
class FleetGroup:
    """One tenant's chargers of one model and firmware with one trouble: the same detector
    (``kind``), the same ``topic`` (for a reported error: the code reported) and cause."""

    operator_id: uuid.UUID
    model: FleetModel
    kind: str
    topic: str
    cause: str

    @property
    def key(self) -> str:
        key = f"fleet:{self.operator_id}:{self.model.name}:{self.kind}:{self.topic}:{self.cause}"
        if len(key) <= KEY_LIMIT:
            return key
        # Vendors' names can be long (50 characters each): the model's digest then.
        digest = hashlib.sha256(self.model.name.encode()).hexdigest()[:24]
        return f"fleet:{self.operator_id}:{digest}:{self.kind}:{self.topic}:{self.cause}"


@dataclass
class Member:
    """One charger of a group: its raised conditions (dedupe key -> EVSE) and when it last
    went into trouble; it counts while raised and for the window after that."""

    identity: str
    opened_at: datetime
    raised: dict[str, int | None] = field(default_factory=dict)
    location_id: uuid.UUID | None = None
    severity: Severity = "warning"
    confidence: float = 0.5

    def affected(self, now: datetime, window: timedelta) -> bool:
        return bool(self.raised) or now - self.opened_at < window


@dataclass
class _Group:
    members: dict[str, Member] = field(default_factory=dict)
    open: bool = False  # its fleet incident is open


class FleetCorrelator:
    def __init__(self, settings: HealthSettings) -> None:
        self.s = settings
        self.window = timedelta(seconds=settings.fleet_window_s)
        self.chargers: dict[str, FleetCharger] = {}
        # What each charger said it is at its last boot since start: fresher than any row
        # read meanwhile (a read started before the boot was written returns the old one).
        self.booted_as: dict[str, FleetModel | None] = {}
        # (tenant, model) -> its chargers: the population a share is taken of.
        self.population: dict[tuple[uuid.UUID, FleetModel], set[str]] = {}
        self.groups: dict[FleetGroup, _Group] = {}
        # A raised condition (its dedupe key) -> the group it counts in: where its clear goes.
        self.conditions: dict[str, FleetGroup] = {}

    # -- the map ------------------------------------------------------------------------

    def know(self, identity: str, charger: FleetCharger) -> None:
        if identity in self.booted_as:
            charger = FleetCharger(charger.operator_id, charger.location_id, self.booted_as[identity])
        old = self.chargers.get(identity)
        if old is not None and old.operator_id is not None and old.model is not None:
            self.population.get((old.operator_id, old.model), set()).discard(identity)
        self.chargers[identity] = charger
        if charger.operator_id is not None and charger.model is not None:
            self.population.setdefault((charger.operator_id, charger.model), set()).add(identity)

    def booted(self, identity: str, model: FleetModel | None) -> None:
        """The charger said what it is (a firmware update shows here): its population moves."""
        self.booted_as[identity] = model
        old = self.chargers.get(identity)
        if old is not None:
            self.know(identity, FleetCharger(old.operator_id, old.location_id, model))

    def restore(self, operator_id: uuid.UUID, scope: dict[str, Any], opened_at: datetime) -> None:
        """An open fleet incident (its evidence's ``fleet``) after a restart."""
        group = FleetGroup(
            operator_id,
            FleetModel(scope["vendor"], scope["model"], scope["firmware"]),
            scope["kind"],
            scope["topic"],
            scope["cause"],
        )
        state = self.groups.setdefault(group, _Group())
        state.open = True
        for m in scope.get("members", []):
            member = Member(
                identity=m["identity"],
                opened_at=datetime.fromisoformat(m.get("openedAt") or opened_at.isoformat()),
                raised={k: e for k, e in (m.get("conditions") or {}).items()} if m.get("raised") else {},
                location_id=uuid.UUID(m["locationId"]) if m.get("locationId") else None,
            )
            state.members[member.identity] = member
            for key in member.raised:
                self.conditions[key] = group

    # -- placing ------------------------------------------------------------------------

    def place(self, placement: Placement, now: datetime) -> list[Placement]:
        """Where a charger-level placement goes: on (its own incident, counted), into the
        group's fleet incident (opening it, or joining it), or nowhere (a member's clear
        while others in the fleet are still in trouble)."""
        signal = placement.signal
        if placement.site or signal.kind in NOT_GROUPED:
            return [placement]
        if signal.clears:
            return self._clear(placement, now)
        charger = self.chargers.get(signal.identity)
        if charger is None or charger.operator_id is None or charger.model is None:
            return [placement]
        group = FleetGroup(charger.operator_id, charger.model, signal.kind, topic_of(signal), signal.cause)
        earlier = self.conditions.get(signal.key)
        if earlier is not None and earlier != group:
            self._leave(earlier, signal.identity, signal.key)  # the same condition, a new trouble
        self.conditions[signal.key] = group
        state = self.groups.setdefault(group, _Group())
        member = state.members.get(signal.identity)
        joined = member is None or not member.raised
        if member is None:
            member = state.members[signal.identity] = Member(signal.identity, now)
        elif joined:
            member.opened_at = now
        member.raised[signal.key] = signal.evse
        member.location_id = charger.location_id
        if SEVERITY_RANK[signal.severity] > SEVERITY_RANK[member.severity]:
            member.severity = signal.severity
        member.confidence = max(member.confidence, signal.confidence)
        if state.open:
            return [self._fleet(group, signal, now, joined=signal.identity if joined else None)]
        if not self._enough(group, now):
            return [placement]
        state.open = True
        # The members' own incidents (opened before the group was large enough) fold in.
        absorbs = tuple(sorted({k for m in state.members.values() for k in m.raised} - {signal.key}))
        return [self._fleet(group, signal, now, absorbs=absorbs)]

    def expire(self, now: datetime) -> list[Placement]:
        """Forget the members whose window has passed and who are not in trouble; an open
        fleet incident left with no member raised (restored so after a restart) resolves."""
        out: list[Placement] = []
        for group, state in list(self.groups.items()):
            for identity, member in list(state.members.items()):
                if not member.affected(now, self.window):
                    del state.members[identity]
            if state.open and not any(m.raised for m in state.members.values()):
                state.open = False
                out.append(self._fleet_clear(group, None, now))
            if not state.members and not state.open:
                del self.groups[group]
        return out

    def _clear(self, placement: Placement, now: datetime) -> list[Placement]:
        signal = placement.signal
        group = self.conditions.get(signal.key)
        if group is None:
            return [placement]
        del self.conditions[signal.key]
        state = self.groups[group]
        member = state.members.get(signal.identity)
        if member is not None:
            member.raised.pop(signal.key, None)
        if not state.open:
            return [placement]  # counted, but its own incident: it clears
        if any(m.raised for m in state.members.values()):
            # The others are still in trouble: the fleet incident shows this one recovered.
            return [self._fleet(group, signal, now)]
        state.open = False
        return [self._fleet_clear(group, signal, now)]

    def _leave(self, group: FleetGroup, identity: str, key: str) -> None:
        state = self.groups.get(group)
        member = state.members.get(identity) if state is not None else None
        if member is not None:
            member.raised.pop(key, None)

    def _enough(self, group: FleetGroup, now: datetime) -> bool:
        affected = self._affected(group, now)
        population = len(self.population.get((group.operator_id, group.model), ()))
        # Faults that each charger's own playbook healed one after another (a reset cured
        # them) stay theirs: a fleet incident would stop those resets.
        raised = [m for m in affected if m.raised]
        # Trouble confined to one site is the site's (its supply, its weather), not the model's.
        sites = {m.location_id or m.identity for m in affected}
        return (
            len(sites) >= 2
            and len(affected) >= max(2, self.s.fleet_min_chargers)
            and len(affected) / max(1, population) >= self.s.fleet_min_share
            and len(raised) >= min(self.s.fleet_min_raised, self.s.fleet_min_chargers)
        )

    def _affected(self, group: FleetGroup, now: datetime) -> list[Member]:
        state = self.groups.get(group)
        if state is None:
            return []
        return [m for m in state.members.values() if m.affected(now, self.window)]

    # -- the fleet incident ---------------------------------------------------------------

    def scope(self, group: FleetGroup, now: datetime) -> dict[str, Any]:
        """The fleet incident's evidence: who is affected, of how many, where, and the same
        model on other firmware."""
        affected = sorted(self._affected(group, now), key=lambda m: (m.opened_at, m.identity))
        population = self.population.get((group.operator_id, group.model), set())
        others: list[dict[str, Any]] = []
        for (operator_id, model), chargers in sorted(self.population.items(), key=lambda kv: kv[0][1].firmware):
            if operator_id != group.operator_id or model.firmware == group.model.firmware:
                continue
            if (model.vendor, model.model) != (group.model.vendor, group.model.model) or not chargers:
                continue
            twin = FleetGroup(operator_id, model, group.kind, group.topic, group.cause)
            affected_there = len(self._affected(twin, now))
            others.append({"firmware": model.firmware, "chargers": len(chargers), "affected": affected_there})
        clean = sum(o["chargers"] for o in others)
        suspected = clean >= 2 and not any(o["affected"] for o in others)
        return {
            "vendor": group.model.vendor,
            "model": group.model.model,
            "firmware": group.model.firmware,
            "kind": group.kind,
            "topic": group.topic,
            "cause": group.cause,
            "chargers": [m.identity for m in affected],
            "population": len(population),
            "sites": sorted({str(m.location_id) for m in affected if m.location_id is not None}),
            "members": [
                {
                    "identity": m.identity,
                    "raised": bool(m.raised),
                    "conditions": dict(m.raised),
                    "openedAt": m.opened_at.isoformat(),
                    "locationId": str(m.location_id) if m.location_id else None,
                }
                for m in affected
            ],
            "otherFirmware": others,
            "firmwareSuspected": suspected,
        }

    def summary(self, scope: dict[str, Any]) -> str:
        firmware = scope["firmware"] or "(unreported)"
        words = TROUBLE_WORDS.get(scope["cause"], "have the same trouble")
        text = (
            f"{len(scope['chargers'])} of {scope['population']} {scope['vendor']} {scope['model']} chargers "
            f"on firmware {firmware} {words} ({scope['cause'].replace('_', ' ')})"
        )
        others = scope["otherFirmware"]
        if others:
            affected = sum(o["affected"] for o in others)
            text += f"; on other firmware {affected} of {sum(o['chargers'] for o in others)} do"
        if scope["firmwareSuspected"]:
            text += f": firmware {firmware} suspected"
        return text + "."

    def _fleet(
        self,
        group: FleetGroup,
        trigger: Signal,
        now: datetime,
        *,
        joined: str | None = None,
        absorbs: tuple[str, ...] = (),
    ) -> Placement:
        scope = self.scope(group, now)
        members = self._affected(group, now)
        summary = self.summary(scope)
        severity: Severity = max((m.severity for m in members), key=SEVERITY_RANK.__getitem__, default="warning")
        confidence = max((m.confidence for m in members), default=trigger.confidence)
        first = scope["chargers"][0] if scope["chargers"] else trigger.identity
        fleet_signal = Signal(
            kind=group.kind,
            identity=first,
            at=trigger.at,
            topic=group.topic,
            severity=severity,
            cause=group.cause,
            confidence=confidence,
            summary=summary,
            evidence=scope,
        )
        return Placement(
            signal=fleet_signal,
            key=group.key,
            diagnosis=Diagnosis(cause=group.cause, confidence=confidence, summary=summary, chain=[link(trigger)]),
            charger=None,
            location_id=None,
            operator_id=group.operator_id,
            fleet=True,
            joined=joined,
            absorbs=absorbs,
        )

    def _fleet_clear(self, group: FleetGroup, trigger: Signal | None, now: datetime) -> Placement:
        """The last member recovered (``trigger``, its clear), or none is raised any more."""
        summary = (
            f"Every {group.model.vendor} {group.model.model} charger on firmware "
            f"{group.model.firmware or '(unreported)'} has recovered."
        )
        clear = Signal(
            kind=group.kind,
            identity=trigger.identity if trigger else "",
            at=trigger.at if trigger else now,
            topic=group.topic,
            clears=True,
            summary=summary,
        )
        return Placement(
            signal=clear,
            key=group.key,
            diagnosis=Diagnosis(cause=group.cause, confidence=0.0, summary=summary, chain=[link(trigger or clear)]),
            charger=None,
            location_id=None,
            operator_id=group.operator_id,
            fleet=True,
        )


def topic_of(signal: Signal) -> str:
    """What makes two chargers' trouble the same: the detector's topic, or, where it has none
    (reported errors), the code the charger reported: an InternalError here and a
    ResetFailure there are two troubles, even of one cause."""
    if signal.topic:
        return signal.topic
    reported = signal.evidence.get("twin16") or signal.evidence.get("errorCode")
    return str(reported)[:32] if reported else ""
