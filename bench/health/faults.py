"""The faults the health phase injects, one script per kind, on ``devtools.simulator`` chargers.

Each script takes the faulty charger (connected, booted, Available) and the other chargers
of its site, does whatever a realistic lead-up needs (a session, normal meter values), and
returns the onset: the moment the charger put the fault on the wire (the first sample out
of band, the error status, the socket closing) or, for silence, its last message. Time to
detect is counted from there. Meter values of a script are ``SAMPLE_S`` apart, and a
script stops at the message that completes its fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ocpp.v201 import call as call201

from app.core.settings import HealthSettings
from devtools.simulator import SimulatedCharger

SAMPLE_S = 1.0
FAULT_TAG = "BENCH-FAULT-TAG"
# 1.6 error codes the reported-error runs cycle through, each with the root cause it means
# (a tripped RCD is electrical protection, not the charger's firmware).
ERROR_CODES_16 = {
    "GroundFailure": "electrical_protection",
    "ConnectorLockFailure": "connector_lock",
    "HighTemperature": "overheating",
    "PowerMeterFailure": "metering",
    "ReaderFailure": "rfid_reader",
}


@dataclass
class Onset:
    mono: float
    wall: float
    #: When the bridge answered the message that completes the fault (the error status, the
    #: sample that makes the streak): what is left after it is the monitor's own time.
    answered: float | None = None
    note: str = ""  # what the table should say about this run


def onset() -> Onset:
    return Onset(time.monotonic(), time.time())


Script = Callable[[SimulatedCharger, list[SimulatedCharger], int, HealthSettings], Awaitable[Onset]]


def error_code_16(rep: int) -> str:
    """The error code the ``rep``-th 1.6 reported-error run sends."""
    codes = list(ERROR_CODES_16)
    return codes[rep % len(codes)]


@dataclass(frozen=True)
class FaultKind:
    key: str
    label: str
    kind: str  # the incident kind that must open
    #: The root cause its diagnosis must name: one, or one per run (error_16 cycles codes).
    cause: str | Callable[[int], str]
    version: str  # the faulty charger's OCPP version
    script: Script
    target: str = ""  # "error": within 1 s; "offline": within 2 heartbeat intervals + 10 s
    site_size: int = 2  # chargers on the faulty charger's site, itself included
    whole_site: bool = False  # every charger of the site fails: one site incident must open

    def cause_of(self, rep: int) -> str:
        """The right cause for the ``rep``-th run of this kind."""
        return self.cause(rep) if callable(self.cause) else self.cause


async def _charging(sim: SimulatedCharger) -> None:
    """A session and one normal meter value: the detectors know the charger's normal."""
    await sim.start_transaction(1, FAULT_TAG)
    await asyncio.sleep(SAMPLE_S)
    await sim.send_meter_values(1, seconds=SAMPLE_S)


async def error_16(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    at = onset()
    await sim.fault(1, error_code_16(n), info="bench")
    at.answered = time.monotonic()
    return at


async def faulted_201(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    at = onset()
    # The simulator sends StatusNotification Faulted, then NotifyEvent Problem with the techCode.
    await sim.status(1, "Faulted", "OverCurrentFailure", info="bench")
    at.answered = time.monotonic()
    return at


async def problem_201(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """A Problem monitor alone, the connector status untouched."""
    at = onset()
    await sim.call(
        call201.NotifyEvent(
            generated_at=sim.now(),
            seq_no=0,
            event_data=[
                {
                    "event_id": 1000 + n,
                    "timestamp": sim.now(),
                    "trigger": "Alerting",
                    "actual_value": "true",
                    "tech_code": "ConnectorLockFailure",
                    "tech_info": "bench",
                    "event_notification_type": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                    "variable": {"name": "Problem"},
                }
            ],
        )
    )
    at.answered = time.monotonic()
    return at


async def socket_closed(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    at = onset()
    await sim.go_offline()
    return at


async def silent(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """Connected, but the heartbeats stop: the last one sent is the onset."""
    sim.config.auto_heartbeat = False
    sim.set_heartbeat_interval(sim.heartbeat_interval_s or 1)  # stops the running heartbeat loop
    at = onset()
    await sim.heartbeat()
    return at


async def _heat(sim: SimulatedCharger, h: HealthSettings) -> Onset:
    """While charging, the temperature climbs past the limit, a sample a second."""
    await _charging(sim)
    conn = sim.connector(1)
    conn.hold_temperature = True
    conn.temperature_c = h.temperature_limit_c - 10
    await sim.send_meter_values(1, seconds=SAMPLE_S)
    await asyncio.sleep(SAMPLE_S)
    conn.temperature_c = h.temperature_limit_c + 5
    at = onset()
    # 2.0.1: the meter value, then (the temperature moved 5 degC or more) a TemperatureSensor NotifyEvent.
    await sim.send_meter_values(1, seconds=SAMPLE_S)
    at.answered = time.monotonic()
    return at


async def hot_16(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """Reported as the Temperature measurand, if the charger still samples it."""
    at = await _heat(sim, h)
    sampled = sim.settings["MeterValuesSampledData"].value
    if "Temperature" not in sampled.split(","):
        # The charger samples what the bridge's boot configuration told it to.
        at.note = f"the charger was configured (MeterValuesSampledData) to sample {sampled}: no Temperature"
    return at


async def hot_201(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """2.0.1 has no Temperature measurand: the TemperatureSensor monitor sends a NotifyEvent."""
    return await _heat(sim, h)


async def voltage(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """While charging, the supply sags under the band, a sample a second."""
    await _charging(sim)
    sim.connector(1).voltage_v = h.voltage_min_v - 15.0
    at = onset()
    for i in range(h.supply_samples):
        if i:
            await asyncio.sleep(SAMPLE_S)
        await sim.send_meter_values(1, seconds=SAMPLE_S)
    at.answered = time.monotonic()
    return at


async def stuck(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """While charging at full power, the energy register stops moving, a sample a second."""
    await _charging(sim)
    await asyncio.sleep(SAMPLE_S)
    at = onset()
    for i in range(h.stuck_samples):
        if i:
            await asyncio.sleep(SAMPLE_S)
        await sim.send_meter_values(1, seconds=0.0)  # power reported, no energy counted
    at.answered = time.monotonic()
    return at


async def boot_loop(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """Reboots right after booting: the boot that makes ``boot_loop_count`` is the onset."""
    for _ in range(2, h.boot_loop_count):
        await sim.go_offline()
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        await asyncio.sleep(SAMPLE_S)
    await sim.go_offline()
    await sim.connect()
    at = onset()
    await sim.boot()
    at.answered = time.monotonic()
    await sim.status(1, "Available")
    return at


async def site_dark(sim: SimulatedCharger, site: list[SimulatedCharger], n: int, h: HealthSettings) -> Onset:
    """The site's network goes: every charger's socket closes at once."""
    at = onset()
    await asyncio.gather(*(s.go_offline() for s in [sim, *site]))
    return at


# A charger gone dark, alone or with its whole site: its network (the offline detector's
# diagnosis; nothing on the wire tells a dead router from a dead charger).
KINDS: tuple[FaultKind, ...] = (
    # The slow ones first, so the whole run waits least.
    FaultKind(
        "silent",
        "offline: connected, heartbeats stop",
        "offline",
        "site_network",
        "1.6",
        silent,
        target="offline",
    ),
    FaultKind(
        "silent_lone",
        "offline: heartbeats stop, a site's only charger",
        "offline",
        "site_network",
        "1.6",
        silent,
        target="offline",
        site_size=1,
    ),
    FaultKind("closed", "offline: socket closed", "offline", "site_network", "1.6", socket_closed, target="offline"),
    FaultKind(
        "site_dark",
        "site_network: all 3 chargers of a site close their sockets",
        "offline",
        "site_network",
        "1.6",
        site_dark,
        target="offline",
        site_size=3,
        whole_site=True,
    ),
    # Waited for longest when it is not detected: early, so it ends with the rest.
    FaultKind("hot_16", "overheating: 1.6 Temperature measurand", "overheating", "overheating", "1.6", hot_16),
    FaultKind(
        "error_16",
        "reported_error: 1.6 StatusNotification errorCode",
        "reported_error",
        lambda rep: ERROR_CODES_16[error_code_16(rep)],
        "1.6",
        error_16,
        "error",
    ),
    FaultKind(
        "faulted_201",
        "reported_error: 2.0.1 StatusNotification Faulted",
        "reported_error",
        "electrical_protection",  # techCode OverCurrentFailure: a protection device tripped
        "2.0.1",
        faulted_201,
        "error",
    ),
    FaultKind(
        "problem_201",
        "reported_error: 2.0.1 NotifyEvent Problem",
        "reported_error",
        "connector_lock",  # techCode ConnectorLockFailure
        "2.0.1",
        problem_201,
        "error",
    ),
    FaultKind("hot_201", "overheating: 2.0.1 TemperatureSensor event", "overheating", "overheating", "2.0.1", hot_201),
    FaultKind("voltage", "power_supply: voltage under the band", "power_supply", "grid_supply", "1.6", voltage),
    FaultKind("stuck", "metering: register stuck while charging", "metering", "metering", "1.6", stuck),
    FaultKind("boot_loop", "boot_loop: boots again and again", "boot_loop", "internal_firmware", "1.6", boot_loop),
)

# The order of the table: by what an operator sees (the incident's kind), not by injection.
TABLE_ORDER = (
    "error_16",
    "faulted_201",
    "problem_201",
    "closed",
    "silent",
    "silent_lone",
    "site_dark",
    "hot_16",
    "hot_201",
    "voltage",
    "stuck",
    "boot_loop",
)
