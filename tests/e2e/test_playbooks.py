"""Self-healing playbooks against the real bridge and simulator chargers: each step is a real
OCPP command the charger answers; the next step comes only if the incident is still open;
resets are rate-limited and never interrupt a session that is still charging."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.core.bus import Event
from app.health.events import IncidentOpened, IncidentResolved
from app.health.models import Incident
from app.health.playbooks import IncidentActionTaken, PlaybookSettings, Remediator
from devtools.simulator import SimConfig, SimulatedCharger
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, add_token, register

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database

FAST = PlaybookSettings(verify_s=0.3, max_resets_per_day=2, wait_for_idle_s=0.5, recheck_s=0.5)


@pytest.fixture(scope="module")
async def remediator(system: System) -> AsyncIterator[tuple[Remediator, list[IncidentActionTaken]]]:
    settings = dataclasses.replace(system.settings, ocpp=dataclasses.replace(system.settings.ocpp, command_timeout_s=5))
    actions: list[IncidentActionTaken] = []

    async def record(event: Event) -> None:
        assert isinstance(event, IncidentActionTaken)
        actions.append(event)

    system.bus.subscribe(IncidentActionTaken.subject, record)
    healer = Remediator(system.maker, system.bus, settings, FAST)
    healer.subscribe()
    yield healer, actions
    await healer.close()


async def charger(system: System) -> tuple[str, SimulatedCharger]:
    identity = await register(system, evses=1)
    sim = SimulatedCharger(SimConfig(url=system.ocpp_url, identity=identity, password=PASSWORD, auto_heartbeat=False))
    await sim.connect()
    await sim.boot()
    await sim.status(1, "Available")
    return identity, sim


def incident(identity: str, cause: str) -> IncidentOpened:
    return IncidentOpened(
        incident_id=uuid.uuid4(),
        operator_id=None,
        identity=identity,
        location_id=None,
        evse=1,
        connectors=[1],
        kind="reported_error",
        cause=cause,
        severity="critical",
        confidence=0.9,
        summary="test incident",
        opened_at=datetime.now(UTC),
    )


async def stored(system: System, opened: IncidentOpened, **fields: object) -> None:
    """The incident on record, as the monitor would have opened it (the second look before
    out of service reads it)."""
    async with system.maker() as db:
        db.add(
            Incident(
                id=opened.incident_id,
                dedupe_key=f"{opened.identity}:{opened.evse}:{opened.kind}:{opened.incident_id}",
                identity=opened.identity,
                evse=opened.evse,
                connectors=opened.connectors,
                kind=opened.kind,
                cause=opened.cause,
                confidence=opened.confidence,
                severity=opened.severity,
                summary=opened.summary,
                evidence={},
                opened_at=opened.opened_at,
                last_signal_at=opened.opened_at,
                **fields,
            )
        )
        await db.commit()


def steps(actions: list[IncidentActionTaken], opened: IncidentOpened) -> list[tuple[str, str]]:
    return [(a.step, a.outcome) for a in actions if a.incident_id == opened.incident_id]


async def until(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_internal_error_escalates_soft_reset_hard_reset_then_out_of_service(
    system: System, remediator: tuple[Remediator, list[IncidentActionTaken]]
) -> None:
    _, actions = remediator
    identity, sim = await charger(system)
    try:
        opened = incident(identity, "internal_firmware")
        await stored(system, opened)
        system.bus.publish(opened)
        await until(lambda: len(steps(actions, opened)) == 4)
        assert steps(actions, opened) == [
            ("soft_reset", "answered:Accepted"),
            ("hard_reset", "answered:Accepted"),
            ("second_look", "confirmed"),  # fresh readings, and the incident still open
            ("out_of_service", "answered:Accepted"),
        ]
        resets = [p["type"] for action, p in sim.received if action == "Reset"]
        assert resets == ["Soft", "Hard"]
        triggers = [p["requestedMessage"] for action, p in sim.received if action == "TriggerMessage"]
        assert triggers == ["MeterValues", "StatusNotification"]
        assert any(action == "ChangeAvailability" and p["type"] == "Inoperative" for action, p in sim.received)
    finally:
        await sim.close()


@pytest.mark.parametrize(
    ("record", "doubt"),
    [
        ({"clear_since": datetime.now(UTC)}, "its condition has cleared"),
        ({"state": "resolved"}, "incident resolved"),
        (None, "incident not on record"),
    ],
    ids=["cleared", "resolved", "unrecorded"],
)
async def test_out_of_service_needs_evidence_that_survives_a_second_look(
    system: System, remediator: tuple[Remediator, list[IncidentActionTaken]], record: dict | None, doubt: str
) -> None:
    """Issue 14: a healthy charger was set Inoperative on one stale reading. Whatever the
    playbook did before, the EVSE stays in service when its incident does not hold up."""
    _, actions = remediator
    identity, sim = await charger(system)
    try:
        opened = incident(identity, "metering")
        if record is not None:
            await stored(system, opened, **record)
        system.bus.publish(opened)
        await until(lambda: len(steps(actions, opened)) == 4)
        assert steps(actions, opened)[2:] == [("second_look", f"doubt:{doubt}"), ("out_of_service", f"skipped:{doubt}")]
        assert not [a for a, _ in sim.received if a == "ChangeAvailability"]
    finally:
        await sim.close()


async def test_a_healed_charger_gets_no_further_step(
    system: System, remediator: tuple[Remediator, list[IncidentActionTaken]]
) -> None:
    healer, actions = remediator
    healer.playbook = dataclasses.replace(FAST, verify_s=10.0)
    identity, sim = await charger(system)
    try:
        opened = incident(identity, "connector_lock")
        system.bus.publish(opened)
        await until(lambda: len(steps(actions, opened)) == 1)
        assert steps(actions, opened) == [("unlock", "answered:Unlocked")]
        system.bus.publish(
            IncidentResolved(
                incident_id=opened.incident_id,
                operator_id=None,
                identity=identity,
                cause="connector_lock",
                summary="recovered",
                resolved_at=datetime.now(UTC),
                automatic=True,
            )
        )
        await until(lambda: opened.incident_id not in healer._tasks)
        assert steps(actions, opened) == [("unlock", "answered:Unlocked")]
    finally:
        healer.playbook = FAST
        await sim.close()


async def test_no_reset_while_someone_is_charging_and_a_rate_limit_per_charger(
    system: System, remediator: tuple[Remediator, list[IncidentActionTaken]]
) -> None:
    _, actions = remediator
    identity, sim = await charger(system)
    await add_token(system, f"TAG-{identity}")
    try:
        await sim.start_transaction(1, f"TAG-{identity}")
        charging = incident(identity, "rfid_reader")
        system.bus.publish(charging)
        # soft reset, then the second look before out of service (this incident is not on
        # record, so it does not hold up and the EVSE stays in service).
        await until(lambda: len(steps(actions, charging)) == 3)
        assert steps(actions, charging)[0] == ("soft_reset", "skipped:a session is charging")
        assert not [a for a, _ in sim.received if a == "Reset"]
        await sim.stop_transaction(1)
        await sim.status(1, "Available")

        for _ in range(3):  # at most two resets a day (FAST); the third incident is refused one
            again = incident(identity, "vehicle_communication")
            system.bus.publish(again)
            await until(lambda again=again: len(steps(actions, again)) == 3)
        outcomes = [s for a in actions if a.identity == identity and a.step == "soft_reset" for s in [a.outcome]]
        assert outcomes.count("answered:Accepted") == 2
        assert outcomes[-1] == "skipped:reset limit reached"
    finally:
        await sim.close()


async def test_overheating_lowers_the_power_then_stops_the_session(
    system: System, remediator: tuple[Remediator, list[IncidentActionTaken]]
) -> None:
    _, actions = remediator
    identity, sim = await charger(system)
    await add_token(system, f"TAG-{identity}")
    try:
        await sim.start_transaction(1, f"TAG-{identity}")
        await until(lambda: bool(sim.transactions))
        hot = incident(identity, "overheating")
        system.bus.publish(hot)
        await until(lambda: len(steps(actions, hot)) >= 2)
        assert steps(actions, hot)[:2] == [("limit_power", "answered:Accepted"), ("stop_session", "answered:Accepted")]
        limit = next(p for a, p in sim.received if a == "SetChargingProfile")
        periods = limit["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
        assert periods[0]["limit"] == 11_000  # half the 22 kW connector
    finally:
        await sim.close()
