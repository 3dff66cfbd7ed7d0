"""Scripted faults: the ways real chargers go wrong, one named entry each, and healthy runs
that must not look like trouble. tests/e2e/health/test_scenarios.py runs them all against
the health monitor; ``laddnat simulate --scenario scripted --fault NAME`` runs one.

A fault acts on connector 1 of a connected, booted charger. ``inject`` makes the trouble;
``recover`` ends it the way a real charger does (it reports Available again, the voltage
comes back, the meter moves again). A fault with ``healed_by`` also ends when the CSMS's
remediation reaches the charger: a Reset reboots it clean, an UnlockConnector frees a
jammed lock. ``chargers`` > 1: the fault hits that many chargers of one site at once.

Hours pass in seconds: :func:`elapse` moves the charger's clock ahead (never back) and
reports the energy of that time in meter values, so the detectors that compare timestamps
(a temperature rise per minute, energy against power, a session's length) see real spans.

    fault = FAULTS["stuck-meter"]
    await fault.inject(sim)   # the CSMS opens an incident, its playbook acts
    await fault.recover(sim)  # the incident resolves
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from devtools.simulator.charger import SimulatedCharger
from devtools.simulator.model import NOMINAL_FREQUENCY_HZ, NOMINAL_VOLTAGE_V, utc_now

Script = Callable[[SimulatedCharger], Awaitable[None]]


@dataclass(frozen=True)
class Fault:
    """One way a charger goes wrong, scripted: see the module docstring."""

    name: str
    summary: str  # what goes wrong, as a technician would put it
    inject: Script
    recover: Script
    #: The truth, as the scenario's writer knows it: the incident that must open (its kind,
    #: its topic where the detector has several) and the root cause the diagnosis must name.
    #: tests/e2e/health/test_scenarios.py asserts them; `make bench` scores against them.
    kind: str
    cause: str
    topic: str = ""
    version: str = "1.6"
    #: The OCPP call from the CSMS that heals it (the charger's answer ends the fault).
    healed_by: str | None = None
    #: This many chargers of one site, all at once (a site's network or grid).
    chargers: int = 1
    #: Different cars (id tags from :func:`car_tags`) the script presents.
    cars: int = 0
    #: SimConfig overrides the fault needs (e.g. a start register, fast firmware steps).
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Routine:
    """A healthy run: normal operation that must open no incident."""

    name: str
    summary: str
    run: Script
    version: str = "1.6"
    cars: int = 0
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def car_tags(identity: str, cars: int) -> list[str]:
    """The id tags of the different cars a script presents at ``identity``."""
    return [f"{identity}-EV{n}" for n in range(1, cars + 1)]


# ------------------------------------------------------------------------------ time


class AheadClock:
    """A charger clock that scripts move forward (never back: the CSMS orders statuses and
    meter values by the charger's timestamps)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=max(0.0, seconds))


def clock_of(sim: SimulatedCharger) -> AheadClock:
    if not isinstance(sim.clock, AheadClock):
        sim.clock = AheadClock()
    return sim.clock


async def elapse(sim: SimulatedCharger, seconds: float, *, steps: int = 1, connector: int = 1) -> None:
    """Let ``seconds`` of charger time pass, reported in ``steps`` meter values."""
    clock = clock_of(sim)
    for _ in range(max(1, steps)):
        clock.advance(seconds / max(1, steps))
        await sim.send_meter_values(connector, seconds=seconds / max(1, steps))


async def session(
    sim: SimulatedCharger, seconds: float, *, steps: int = 2, reason: str = "Local", id_tag: str | None = None
) -> None:
    """A whole session: start, ``seconds`` of charging, stop with ``reason``."""
    await sim.start_transaction(1, id_tag)
    await elapse(sim, seconds, steps=steps)
    await sim.stop_transaction(1, reason=reason)


async def temperatures(sim: SimulatedCharger, celsius: Sequence[float], *, every_s: float = 60.0) -> None:
    """The housing reaches each of ``celsius`` in turn, one meter value ``every_s`` apart
    (1.6: a Temperature measurand; 2.0.1: the temperature monitor's NotifyEvent)."""
    conn = sim.connector(1)
    conn.hold_temperature = True
    for value in celsius:
        conn.temperature_c = value
        await elapse(sim, every_s)


async def _release_temperature(sim: SimulatedCharger, celsius: Sequence[float]) -> None:
    await temperatures(sim, celsius)
    sim.connector(1).hold_temperature = False


# ------------------------------------------------------------------------------ faults


def _reported(code: str, status: str = "Faulted", info: str | None = None) -> tuple[Script, Script]:
    async def inject(sim: SimulatedCharger) -> None:
        await sim.status(1, status, code, info=info, vendor_error_code=f"SIM-{code[:20]}")

    async def recover(sim: SimulatedCharger) -> None:
        await sim.status(1, "Available")

    return inject, recover


def reported_error(
    code: str,
    *,
    cause: str,
    status: str = "Faulted",
    info: str | None = None,
    version: str = "1.6",
    healed_by: str | None = None,
) -> Fault:
    """The charger reports ``code`` (1.6 StatusNotification errorCode; 2.0.1 a Problem
    NotifyEvent with techCode beside the status); recovery reports Available without error."""
    inject, recover = _reported(code, status, info)
    prefix = "v201-" if version == "2.0.1" else ""
    where = "" if status == "Faulted" else f" while {status}"
    # EVCommunicationError -> ev-communication-error; a 2.0.1 Problem alone: ...-problem
    kebab = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", code).lower()
    suffix = "-problem" if version != "1.6" and status != "Faulted" else ""
    return Fault(
        name=f"{prefix}{kebab}{suffix}",
        summary=f"connector 1 reports {code}{where}" + (f" ({info})" if info else ""),
        inject=inject,
        recover=recover,
        kind="reported_error",
        cause=cause,
        version=version,
        healed_by=healed_by,
    )


async def _go_offline(sim: SimulatedCharger) -> None:
    await sim.go_offline()


async def _come_online(sim: SimulatedCharger) -> None:
    await sim.come_online()


async def _hang(sim: SimulatedCharger) -> None:
    sim.pause_heartbeats()


async def _wake(sim: SimulatedCharger) -> None:
    await sim.heartbeat()
    sim.resume_heartbeats()


async def _overheat_charging(sim: SimulatedCharger) -> None:
    await sim.start_transaction(1)
    await temperatures(sim, [45.0, 62.0, 78.0, 86.0])


async def _cool_charging(sim: SimulatedCharger) -> None:
    await _release_temperature(sim, [58.0, 46.0])


async def _heat_idle(sim: SimulatedCharger) -> None:
    # 8 °C a minute with no load: the heat is not the charging (a failing fan, a short).
    await temperatures(sim, [24.0, 32.0, 40.0])


async def _steady_idle(sim: SimulatedCharger) -> None:
    await _release_temperature(sim, [40.0, 39.5, 39.0])


async def _overheat_v201(sim: SimulatedCharger) -> None:
    await temperatures(sim, [22.0, 50.0, 85.0])


async def _cool_v201(sim: SimulatedCharger) -> None:
    await _release_temperature(sim, [40.0])


def _supply(
    *, volts: float | None = None, phases: tuple[float, ...] | None = None, hz: float | None = None, samples: int = 3
) -> tuple[Script, Script]:
    """The supply goes out of band for ``samples`` meter values; recovery is as many in band."""

    async def inject(sim: SimulatedCharger) -> None:
        conn = sim.connector(1)
        if volts is not None:
            conn.voltage_v = volts
        conn.phase_voltage_v = phases
        if hz is not None:
            conn.frequency_hz = hz
        await elapse(sim, 60.0, steps=samples)

    async def recover(sim: SimulatedCharger) -> None:
        conn = sim.connector(1)
        conn.voltage_v, conn.phase_voltage_v, conn.frequency_hz = NOMINAL_VOLTAGE_V, None, NOMINAL_FREQUENCY_HZ
        await elapse(sim, 60.0, steps=samples)

    return inject, recover


async def _measure_frequency_v16(sim: SimulatedCharger) -> None:
    setting = sim.settings["MeterValuesSampledData"]
    if "Frequency" not in setting.value:
        setting.value += ",Frequency"  # as a CSMS's ChangeConfiguration would


def _frequency_v16() -> tuple[Script, Script]:
    inject, recover = _supply(hz=49.1)

    async def configured(sim: SimulatedCharger) -> None:
        await _measure_frequency_v16(sim)
        await inject(sim)

    return configured, recover


async def _stick_meter(sim: SimulatedCharger) -> None:
    await sim.start_transaction(1)
    await elapse(sim, 60.0)
    sim.connector(1).meter_stuck = True
    await elapse(sim, 60.0, steps=4)


async def _unstick_meter(sim: SimulatedCharger) -> None:
    sim.connector(1).meter_stuck = False
    await elapse(sim, 60.0, steps=2)


async def _meter_back(sim: SimulatedCharger) -> None:
    # A meter swapped or reset mid-session: its register starts lower than the last one.
    await sim.start_transaction(1)
    await elapse(sim, 60.0)
    sim.connector(1).energy_wh -= 2_000.0
    await elapse(sim, 60.0)


async def _meter_forward(sim: SimulatedCharger) -> None:
    await elapse(sim, 60.0, steps=2)


async def _idle_draw(sim: SimulatedCharger) -> None:
    sim.connector(1).idle_draw_w = 600.0
    await elapse(sim, 900.0, steps=3)


async def _no_idle_draw(sim: SimulatedCharger) -> None:
    sim.connector(1).idle_draw_w = 0.0
    await elapse(sim, 900.0, steps=3)


async def _meter_overcounts(sim: SimulatedCharger) -> None:
    # A wrong current-transformer ratio: the register counts three times what flows.
    await sim.start_transaction(1)
    await elapse(sim, 60.0)
    sim.connector(1).meter_factor = 3.0
    await elapse(sim, 60.0, steps=4)


async def _meter_calibrated(sim: SimulatedCharger) -> None:
    sim.connector(1).meter_factor = 1.0
    await elapse(sim, 60.0, steps=2)


async def _ev_unseen(sim: SimulatedCharger) -> None:
    """Remote starts are accepted but the pilot never sees the car; the CSMS's remote starts
    then time out (the charger gives up after a 1 s connection timeout)."""
    sim.connector(1).ev_unseen = True
    if sim.v16:
        sim.settings["ConnectionTimeOut"].value = "1"
    else:
        sim.variables[("TxCtrlr", "EVConnectionTimeOut")].value = "1"


async def _ev_seen(sim: SimulatedCharger) -> None:
    sim.connector(1).ev_unseen = False


async def _short_sessions(sim: SimulatedCharger) -> None:
    # The contactor drops right after closing: three sessions in a row end at once, empty.
    for _ in range(3):
        await sim.start_transaction(1)
        await sim.stop_transaction(1, reason="Other")


async def _normal_session(sim: SimulatedCharger) -> None:
    await session(sim, 600.0)


async def _ev_side_stops(sim: SimulatedCharger) -> None:
    # Three different cars each lose the link to the charger a couple of minutes in.
    for tag in car_tags(sim.identity, 3):
        await session(sim, 120.0, steps=1, reason="EVDisconnected", id_tag=tag)


async def _long_session(sim: SimulatedCharger) -> None:
    await session(sim, 1_200.0, steps=4)


async def _boot_loop(sim: SimulatedCharger) -> None:
    for _ in range(3):
        await sim.reboot()


async def _stay_up(sim: SimulatedCharger) -> None:
    """Nothing to do: a loop ends when the charger stays up for the detector's window."""


def _firmware(failure: str) -> tuple[Script, Script]:
    async def inject(sim: SimulatedCharger) -> None:
        # As if an UpdateFirmware had arrived (the bridge's path is tested elsewhere).
        sim.firmware_failure = failure
        await sim.update_firmware("https://firmware.example/sim-2.0.bin", None, request_id=7)

    async def recover(sim: SimulatedCharger) -> None:
        # The retry (the image fixed, or the signature right) installs and reboots.
        sim.firmware_failure = None
        await sim.update_firmware("https://firmware.example/sim-2.0.1.bin", None, request_id=8)

    return inject, recover


async def _thermal_runaway(sim: SimulatedCharger) -> None:
    """Settled near 38 °C at 11 kW, then a steady climb with the load unchanged (a failing
    fan): 1.6 samples it each minute, 2.0.1's monitor reports each 5 °C or more."""
    await sim.start_transaction(1)
    await temperatures(sim, [38.0, 38.5, 38.4, 40.0, 43.0, 46.0, 49.0, 52.0, 55.0, 58.0, 61.0][: 7 if sim.v16 else 11])


async def _thermal_runaway_cools(sim: SimulatedCharger) -> None:
    # Derated, the housing cools (2.0.1's monitor reports each 5 °C step).
    now = sim.connector(1).temperature_c
    await _release_temperature(sim, [now - 5.0, now - 10.0, now - 15.0])


async def _protection_trips(sim: SimulatedCharger) -> None:
    """Two cars, one after the other, each session ended by the over-current protection
    tripping at a current within the rating: what they share is the charger's power stage."""
    for tag in car_tags(sim.identity, 2):
        await sim.start_transaction(1, tag)
        await elapse(sim, 120.0, steps=2)
        await sim.status(1, "Faulted", "OverCurrentFailure", info="MCB tripped", vendor_error_code="SIM-OC")
        await sim.stop_transaction(1, reason="OvercurrentFault")
        await sim.status(1, "Available")


async def _protection_fixed(sim: SimulatedCharger) -> None:
    # The technician replaced the power stage and put the EVSE back in service.
    await sim.status(1, "Available")


def _fault(
    name: str, summary: str, scripts: tuple[Script, Script], *, kind: str, cause: str, topic: str = "", **extra: Any
) -> Fault:
    return Fault(
        name=name,
        summary=summary,
        inject=scripts[0],
        recover=scripts[1],
        kind=kind,
        cause=cause,
        topic=topic,
        **extra,
    )


def component_problem(
    name: str,
    component: str,
    variable: str,
    twin: str,
    *,
    cause: str,
    status: str = "Faulted",
    info: str | None = None,
    healed_by: str | None = None,
) -> Fault:
    """2.0.1: the device model names the failed part (``component``.``variable`` true, no
    techCode) beside the status; ``twin`` is the 1.6 error code of the same failure (what a
    reset or an unlock heals). Recovery reports Available and clears the problem."""

    async def inject(sim: SimulatedCharger) -> None:
        sim.connector(1).problem_part = (component, variable)
        await sim.status(1, status, twin, info=info)

    async def recover(sim: SimulatedCharger) -> None:
        await sim.status(1, "Available")

    where = "" if status == "Faulted" else f" while {status}"
    suffix = "" if status == "Faulted" else "-problem"  # a Problem alone, as reported_error names it
    return Fault(
        name=f"v201-{name}{suffix}",
        summary=f"the {component} reports {variable}{where} (1.6: {twin})",
        inject=inject,
        recover=recover,
        kind="reported_error",
        cause=cause,
        version="2.0.1",
        healed_by=healed_by,
    )


async def _fault_unexplained(sim: SimulatedCharger) -> None:
    # Faulted with no error code (1.6 NoError) and, in 2.0.1, no event naming the part.
    await sim.status(1, "Faulted")


async def _available(sim: SimulatedCharger) -> None:
    await sim.status(1, "Available")


async def _ground_fault_stop(sim: SimulatedCharger) -> None:
    # The RCD trips mid-session: the transaction ends with stoppedReason GroundFault and the
    # connector goes Faulted, with no NotifyEvent naming the part.
    await sim.start_transaction(1)
    await elapse(sim, 60.0)
    await sim.stop_transaction(1, reason="GroundFault")
    await sim.status(1, "Faulted")


_FAULTS: list[Fault] = [
    # Every OCPP 1.6 ChargePointErrorCode. A reset clears what a reboot clears.
    reported_error(
        "ConnectorLockFailure", cause="connector_lock", info="lock motor jammed", healed_by="UnlockConnector"
    ),
    reported_error("EVCommunicationError", cause="vehicle_communication", info="control pilot lost", healed_by="Reset"),
    # A tripped protection device is electrical (the car, the cable, the supply or the power stage).
    reported_error("GroundFailure", cause="electrical_protection", info="RCD tripped"),
    reported_error("HighTemperature", cause="overheating", info="thermal cut-out"),
    reported_error("InternalError", cause="internal_firmware", info="watchdog", healed_by="Reset"),
    reported_error("LocalListConflict", cause="internal_firmware", status="Available", healed_by="Reset"),
    # A door open says nothing the vocabulary has a word for.
    reported_error("OtherError", cause="unknown", info="door open"),
    reported_error("OverCurrentFailure", cause="electrical_protection"),
    reported_error("OverVoltage", cause="grid_supply", info="264 V"),
    reported_error("PowerMeterFailure", cause="metering", info="no answer on Modbus"),
    # A welded contactor is the charger's own control: what a reboot of its firmware retries.
    reported_error("PowerSwitchFailure", cause="internal_firmware", info="contactor welded", healed_by="Reset"),
    reported_error("ReaderFailure", cause="rfid_reader", info="no RF field", healed_by="Reset"),
    reported_error("ResetFailure", cause="internal_firmware", healed_by="Reset"),
    reported_error("UnderVoltage", cause="grid_supply", info="188 V"),
    reported_error("WeakSignal", cause="site_network", status="Available"),
    # 2.0.1: a Faulted status with a Problem event, and a Problem alone.
    reported_error("InternalError", cause="internal_firmware", version="2.0.1", healed_by="Reset"),
    reported_error("ConnectorLockFailure", cause="connector_lock", version="2.0.1", healed_by="UnlockConnector"),
    reported_error("ReaderFailure", cause="rfid_reader", status="Available", version="2.0.1", healed_by="Reset"),
    # A charger that is gone: from here nobody can tell its network from its power, and the
    # network is by far the likelier.
    _fault(
        "offline",
        "the connection drops and stays down",
        (_go_offline, _come_online),
        kind="offline",
        cause="site_network",
    ),
    _fault("silent", "connected but hung: no heartbeat, nothing", (_hang, _wake), kind="offline", cause="site_network"),
    _fault(
        "site-offline",
        "the site's router dies: every charger drops",
        (_go_offline, _come_online),
        kind="offline",
        cause="site_network",
        chargers=3,
    ),
    _fault(
        "overheat-charging",
        "the housing climbs past 70 °C while charging",
        (_overheat_charging, _cool_charging),
        kind="overheating",
        cause="overheating",
        topic="limit",
    ),
    _fault(
        "heat-idle",
        "8 °C a minute with no load",
        (_heat_idle, _steady_idle),
        kind="overheating",
        cause="overheating",
        topic="rise",
    ),
    _fault(
        "v201-overheat",
        "the temperature monitor reports 85 °C",
        (_overheat_v201, _cool_v201),
        kind="overheating",
        cause="overheating",
        topic="limit",
        version="2.0.1",
    ),
    _fault(
        "undervoltage",
        "all phases sag to 195 V",
        _supply(volts=195.0),
        kind="power_supply",
        cause="grid_supply",
        topic="voltage",
    ),
    _fault(
        "overvoltage-phase",
        "phase L2 rises to 262 V",
        _supply(phases=(231.0, 262.0, 229.0)),
        kind="power_supply",
        cause="grid_supply",
        topic="voltage",
    ),
    _fault(
        "lost-phase",
        "phase L3 is gone (a blown fuse)",
        _supply(phases=(230.0, 229.0, 0.0)),
        kind="power_supply",
        cause="grid_supply",
        topic="phase_loss",
    ),
    _fault(
        "frequency",
        "the grid runs at 49.1 Hz (1.6, Frequency configured)",
        _frequency_v16(),
        kind="power_supply",
        cause="grid_supply",
        topic="frequency",
    ),
    _fault(
        "v201-frequency",
        "the grid runs at 50.9 Hz",
        _supply(hz=50.9),
        kind="power_supply",
        cause="grid_supply",
        topic="frequency",
        version="2.0.1",
    ),
    # A site incident has no topic of its own.
    _fault(
        "site-undervoltage",
        "the site's supply sags to 190 V",
        _supply(volts=190.0),
        kind="power_supply",
        cause="grid_supply",
        chargers=2,
    ),
    _fault(
        "stuck-meter",
        "the register stops while 11 kW flows",
        (_stick_meter, _unstick_meter),
        kind="metering",
        cause="metering",
        topic="stuck",
    ),
    _fault(
        "meter-backwards",
        "the register jumps 2 kWh back mid-session",
        (_meter_back, _meter_forward),
        kind="metering",
        cause="metering",
        topic="backwards",
        config=MappingProxyType({"meter_start_wh": 50_000}),
    ),
    _fault(
        "idle-energy",
        "the register counts 600 W with no session",
        (_idle_draw, _no_idle_draw),
        kind="metering",
        cause="metering",
        topic="idle_energy",
    ),
    _fault(
        "meter-overcounts",
        "the register counts three times the power",
        (_meter_overcounts, _meter_calibrated),
        kind="metering",
        cause="metering",
        topic="power_energy",
    ),
    # Accepted, and no car ever seen: the charger cannot sense the car (its control pilot).
    _fault(
        "remote-starts-unseen",
        "remote starts accepted, the car never seen (the CSMS sends them)",
        (_ev_unseen, _ev_seen),
        kind="failed_starts",
        cause="vehicle_communication",
        topic="remote_starts",
    ),
    _fault(
        "v201-remote-starts-unseen",
        "RequestStartTransaction accepted, the car never seen (the CSMS sends them)",
        (_ev_unseen, _ev_seen),
        kind="failed_starts",
        cause="vehicle_communication",
        topic="remote_starts",
        version="2.0.1",
    ),
    # Sessions that end at once, empty, say nothing about why: the cause is not known.
    _fault(
        "short-sessions",
        "three sessions in a row end at once, empty",
        (_short_sessions, _normal_session),
        kind="failed_starts",
        cause="unknown",
        topic="short_sessions",
    ),
    _fault(
        "ev-side-stops",
        "three different cars unplug early",
        (_ev_side_stops, _long_session),
        kind="vehicle_communication",
        cause="vehicle_communication",
        topic="ev_side_stops",
        cars=3,
    ),
    _fault(
        "v201-ev-side-stops",
        "three different cars unplug early",
        (_ev_side_stops, _long_session),
        kind="vehicle_communication",
        cause="vehicle_communication",
        topic="ev_side_stops",
        cars=3,
        version="2.0.1",
    ),
    _fault(
        "boot-loop",
        "it reboots three times in a row",
        (_boot_loop, _stay_up),
        kind="boot_loop",
        cause="internal_firmware",
        topic="boot_loop",
    ),
    _fault(
        "firmware-download-failed",
        "the firmware download fails",
        _firmware("DownloadFailed"),
        kind="firmware",
        cause="internal_firmware",
        topic="firmware",
        config=MappingProxyType({"firmware_step_s": 0.02}),
    ),
    _fault(
        "v201-firmware-invalid-signature",
        "the firmware image's signature is invalid",
        _firmware("InvalidSignature"),
        kind="firmware",
        cause="internal_firmware",
        topic="firmware",
        version="2.0.1",
        config=MappingProxyType({"firmware_step_s": 0.02}),
    ),
    _fault(
        "firmware-installation-failed",
        "the firmware installs, then fails",
        _firmware("InstallationFailed"),
        kind="firmware",
        cause="internal_firmware",
        topic="firmware",
        config=MappingProxyType({"firmware_step_s": 0.02}),
    ),
    # Overheating that never reports itself: a climb the unchanged load does not explain.
    _fault(
        "thermal-runaway",
        "the housing climbs 3 °C a minute at an unchanged 11 kW, no error code",
        (_thermal_runaway, _thermal_runaway_cools),
        kind="overheating",
        cause="overheating",
        topic="trend",
    ),
    _fault(
        "v201-thermal-runaway",
        "the housing climbs 3 °C a minute at an unchanged 11 kW, no error code",
        (_thermal_runaway, _thermal_runaway_cools),
        kind="overheating",
        cause="overheating",
        topic="trend",
        version="2.0.1",
    ),
    # A protection device that trips again with another car: out of service, never reset.
    _fault(
        "over-current-recurring",
        "the over-current protection trips twice, with two different cars",
        (_protection_trips, _protection_fixed),
        kind="reported_error",
        cause="electrical_protection",
        cars=2,
    ),
    _fault(
        "v201-over-current-recurring",
        "the over-current protection trips twice, with two different cars",
        (_protection_trips, _protection_fixed),
        kind="reported_error",
        cause="electrical_protection",
        cars=2,
        version="2.0.1",
    ),
    # 2.0.1 device-model components: each the twin of a 1.6 error code above, named by
    # its component and problem variable alone (no techCode), with its twin's cause.
    component_problem(
        "plug-retention-lock",
        "ConnectorPlugRetentionLock",
        "Problem",
        "ConnectorLockFailure",
        cause="connector_lock",
        healed_by="UnlockConnector",
    ),
    component_problem(
        "connected-ev",
        "ConnectedEV",
        "Problem",
        "EVCommunicationError",
        cause="vehicle_communication",
        healed_by="Reset",
    ),
    component_problem("rcd-tripped", "RCD", "Tripped", "GroundFailure", cause="electrical_protection"),
    component_problem(
        "temperature-sensor-tripped", "TemperatureSensor", "Tripped", "HighTemperature", cause="overheating"
    ),
    component_problem(
        "over-current-protection",
        "OverCurrentProtection",
        "Tripped",
        "OverCurrentFailure",
        cause="electrical_protection",
    ),
    component_problem(
        "electrical-feed", "ElectricalFeed", "Problem", "UnderVoltage", cause="grid_supply", info="188 V"
    ),
    component_problem("fiscal-metering", "FiscalMetering", "Problem", "PowerMeterFailure", cause="metering"),
    component_problem(
        "power-contactor",
        "PowerContactor",
        "Problem",
        "PowerSwitchFailure",
        cause="internal_firmware",
        healed_by="Reset",
    ),
    component_problem(
        "token-reader",
        "TokenReader",
        "Problem",
        "ReaderFailure",
        cause="rfid_reader",
        status="Available",
        healed_by="Reset",
    ),
    component_problem("data-link", "DataLink", "Problem", "WeakSignal", cause="site_network", status="Available"),
    # Faulted, and nothing says why: most of these are the charger's own software, which
    # the log and then a soft reset address (both versions).
    _fault(
        "faulted-unexplained",
        "Faulted with no error code",
        (_fault_unexplained, _available),
        kind="reported_error",
        cause="internal_firmware",
        healed_by="Reset",
    ),
    _fault(
        "v201-faulted-unexplained",
        "Faulted with no NotifyEvent naming the part",
        (_fault_unexplained, _available),
        kind="reported_error",
        cause="internal_firmware",
        version="2.0.1",
        healed_by="Reset",
    ),
    # The RCD tripped, said by the transaction's end: the twin of GroundFailure.
    _fault(
        "v201-ground-fault-stop",
        "a session ends with stoppedReason GroundFault and the connector goes Faulted",
        (_ground_fault_stop, _available),
        kind="reported_error",
        cause="electrical_protection",
        version="2.0.1",
    ),
    _fault(
        "v201-offline",
        "the connection drops and stays down",
        (_go_offline, _come_online),
        kind="offline",
        cause="site_network",
        version="2.0.1",
    ),
]
FAULTS: dict[str, Fault] = {f.name: f for f in _FAULTS}
assert len(FAULTS) == len(_FAULTS), "fault names are unique"


# ------------------------------------------------------------------------------ healthy runs


def _noise(sim: SimulatedCharger) -> random.Random:
    return random.Random(sim.identity)  # the same noise for the same charger, run after run


async def _noisy_long_session(sim: SimulatedCharger) -> None:
    """Two hours at 11 kW with the grid's ordinary noise (±8 V per phase, ±0.1 Hz), the
    housing warming to ~40 °C and wobbling, and the driver unplugging at the end."""
    rng = _noise(sim)
    if sim.v16:
        await _measure_frequency_v16(sim)
    conn = sim.connector(1)
    await sim.start_transaction(1)
    conn.hold_temperature = True
    for minute in range(0, 120, 3):
        conn.phase_voltage_v = tuple(230.0 + rng.uniform(-8.0, 8.0) for _ in range(3))
        conn.frequency_hz = 50.0 + rng.uniform(-0.1, 0.1)
        conn.temperature_c = min(40.0, 22.0 + minute * 0.9) + rng.uniform(-1.0, 1.0)
        await elapse(sim, 180.0)
    conn.hold_temperature = False
    conn.phase_voltage_v = None
    await sim.stop_transaction(1, reason="EVDisconnected")


async def _car_pauses(sim: SimulatedCharger) -> None:
    """The car stops drawing for ten minutes mid-session (its battery management:
    SuspendedEV), then charges on."""
    await sim.start_transaction(1)
    await elapse(sim, 600.0, steps=5)
    await sim.status(1, "SuspendedEV")
    await elapse(sim, 600.0, steps=5)
    await sim.status(1, "Charging")
    await elapse(sim, 600.0, steps=5)
    await sim.stop_transaction(1)


async def _idle(sim: SimulatedCharger) -> None:
    """Nobody comes: an idle meter value every 15 minutes (the register still, the housing
    at ambient give or take half a degree); heartbeats in between."""
    rng = _noise(sim)
    conn = sim.connector(1)
    conn.hold_temperature = True
    for _ in range(4):
        conn.temperature_c = 22.0 + rng.uniform(-0.5, 0.5)
        await elapse(sim, 900.0)
    conn.hold_temperature = False


async def _temperature_swings(sim: SimulatedCharger) -> None:
    """At 22 kW the housing climbs fast (8 °C a minute: the load explains it), cools once the
    car leaves, and an afternoon sun warms it 2 °C a minute with no load."""
    await sim.start_transaction(1)
    await temperatures(sim, [22.0, 30.0, 38.0, 45.0, 48.0])
    await sim.stop_transaction(1)
    await temperatures(sim, [44.0, 38.0, 33.0, 30.0])
    await _release_temperature(sim, [32.0, 34.0, 36.0])


async def _reboot(sim: SimulatedCharger) -> None:
    """An operator's (or a power cut's) one reboot in the middle of a session."""
    await sim.start_transaction(1)
    await elapse(sim, 300.0)
    await sim.reboot()
    await session(sim, 600.0)


async def _firmware_update(sim: SimulatedCharger) -> None:
    await sim.update_firmware("https://firmware.example/sim-1.1.bin", None, request_id=3)


async def _driver_stops(sim: SimulatedCharger) -> None:
    await session(sim, 1_800.0, steps=3)


async def _second_thoughts(sim: SimulatedCharger) -> None:
    """A driver plugs in and stops at once, then charges; two cars (fewer than the three
    that make it the charger's fault) unplug early."""
    await sim.start_transaction(1)
    await sim.stop_transaction(1)
    await session(sim, 900.0)
    for tag in car_tags(sim.identity, 2):
        await session(sim, 120.0, steps=1, reason="EVDisconnected", id_tag=tag)


async def _warm_plateau(sim: SimulatedCharger) -> None:
    """At 11 kW the housing climbs fast (10 °C a minute), then levels off at 55 °C."""
    await sim.start_transaction(1)
    await temperatures(sim, [30.0, 40.0, 46.0, 50.0, 52.5, 54.0, 54.8, 55.2, 55.3, 55.3])
    await sim.stop_transaction(1)
    sim.connector(1).hold_temperature = False


async def _sun(sim: SimulatedCharger) -> None:
    """An idle charger in the afternoon sun: 36 to 50 °C over 70 minutes, levelling off."""
    await temperatures(sim, [36.0, 40.0, 43.0, 45.5, 47.5, 49.0, 50.0, 50.6], every_s=600.0)
    sim.connector(1).hold_temperature = False


async def _device_model_chatter(sim: SimulatedCharger) -> None:
    """A 2.0.1 session whose monitors report normal operation: the plug retention lock
    engaging and releasing, the contactor closing, problem variables reported false (a
    periodic report) and a cleared event for a problem that was never raised."""
    await sim.notify_variable("ConnectorPlugRetentionLock", "Active", "true")
    await sim.start_transaction(1)
    await sim.notify_variable("PowerContactor", "Active", "true")
    await elapse(sim, 600.0, steps=3)
    await sim.notify_variable("ConnectorPlugRetentionLock", "Problem", "false", trigger="Periodic")
    await sim.notify_variable("RCD", "Tripped", "false", trigger="Periodic")
    await sim.notify_variable("TokenReader", "Problem", "false", trigger="Alerting", cleared=True)
    await sim.stop_transaction(1)
    await sim.notify_variable("PowerContactor", "Active", "false")
    await sim.notify_variable("ConnectorPlugRetentionLock", "Active", "false")


async def _late_last_reading(sim: SimulatedCharger) -> None:
    """Issue 14: ten minutes at full power, the last periodic reading a minute before the
    stop, which carries no sampled data (1.6: meterStop alone, StopTxnSampledData empty;
    2.0.1: an Ended without meter values, TxEndedMeasurands empty), then an idle hour: the
    register stands where that minute of charging left it, no energy flows while idle."""
    if sim.v16:
        sim.settings["StopTxnSampledData"].value = ""
    else:
        sim.variables[("SampledDataCtrlr", "TxEndedMeasurands")].value = ""
    await sim.start_transaction(1)
    await elapse(sim, 600.0, steps=5)
    clock_of(sim).advance(60.0)  # a minute more of charging, not reported until the stop
    sim.connector(1).energy_wh += sim.config.power_kw * 1000.0 / 60.0
    await sim.stop_transaction(1)
    await elapse(sim, 3_600.0, steps=4)


# A corpus charger's downtime, in real seconds (the monitor's clock is the wall's): longer
# than a closed socket used to be allowed (offline_grace_s = 1 s in CORPUS_HEALTH), shorter
# than its reconnect window (reconnect_grace_s = 3 s); an announced reboot takes longer still.
BLIP_S = 1.5
FIRMWARE_REBOOT_S = 4.5


async def _network_drop(sim: SimulatedCharger) -> None:
    """The network drops mid-session for a moment (the issue's 15 s; scaled here): the
    charger queues its meter values, reconnects on its own (no reboot) and replays them."""
    await sim.start_transaction(1)
    await elapse(sim, 300.0, steps=2)
    await sim.go_offline()
    await elapse(sim, 60.0, steps=2)  # queued while offline
    await asyncio.sleep(BLIP_S)
    await sim.come_online()
    await elapse(sim, 300.0, steps=2)
    await sim.stop_transaction(1)


async def _slow_firmware_reboot(sim: SimulatedCharger) -> None:
    """A firmware update announced step by step (FirmwareStatusNotification), whose single
    reboot takes longer than a network blip (the issue's 40 s; scaled here), then boots with
    reason FirmwareUpdate and reports Installed."""
    sim.firmware_request_id = 11
    for status in ("Downloading", "Downloaded", "Installing"):
        sim.firmware_status = status
        await sim.send_firmware_status()
    await sim.go_offline()
    await asyncio.sleep(FIRMWARE_REBOOT_S)
    await sim.connect()
    await sim.boot(reason="FirmwareUpdate")
    for connector in sim.connectors:
        await sim.status(connector, "Available")
    sim.firmware_status = "Installed"
    await sim.send_firmware_status()
    sim.firmware_status, sim.firmware_request_id = "Idle", None


_HEALTHY: list[Routine] = [
    Routine("long-session", "two hours at 11 kW with grid noise, the driver unplugging", _noisy_long_session),
    Routine(
        "v201-long-session",
        "two hours at 11 kW with grid noise, the driver unplugging",
        _noisy_long_session,
        version="2.0.1",
    ),
    Routine("car-pauses", "the car pauses ten minutes mid-session (SuspendedEV)", _car_pauses),
    Routine("v201-car-pauses", "the car pauses ten minutes mid-session (SuspendedEV)", _car_pauses, version="2.0.1"),
    Routine("idle", "an hour with nobody charging", _idle),
    Routine(
        "temperature-swings",
        "warming under 22 kW, cooling, the sun",
        _temperature_swings,
        config=MappingProxyType({"power_kw": 22.0}),
    ),
    Routine("reboot", "one reboot mid-session, then a session", _reboot),
    Routine(
        "firmware-update",
        "a firmware update that installs and reboots",
        _firmware_update,
        config=MappingProxyType({"firmware_step_s": 0.02}),
    ),
    Routine("driver-stops", "half an hour, stopped by the driver", _driver_stops),
    Routine("second-thoughts", "one empty session, then normal ones; two early unplugs", _second_thoughts, cars=2),
    Routine("warm-plateau", "a fast climb at 11 kW that levels off at 55 °C", _warm_plateau),
    Routine("v201-warm-plateau", "a fast climb at 11 kW that levels off at 55 °C", _warm_plateau, version="2.0.1"),
    Routine("sun", "an idle charger warmed by the sun to 50 °C", _sun),
    Routine("v201-sun", "an idle charger warmed by the sun to 50 °C", _sun, version="2.0.1"),
    Routine(
        "v201-device-model-chatter",
        "a session with the lock, the contactor and problem-free variables reported",
        _device_model_chatter,
        version="2.0.1",
    ),
    Routine("late-last-reading", "the last periodic reading a minute before the stop, then idle", _late_last_reading),
    Routine(
        "v201-late-last-reading",
        "the last periodic reading a minute before the stop, then idle",
        _late_last_reading,
        version="2.0.1",
    ),
    Routine("network-drop", "the network drops mid-session and comes back; the queue replayed", _network_drop),
    Routine(
        "v201-network-drop",
        "the network drops mid-session and comes back; the queue replayed",
        _network_drop,
        version="2.0.1",
    ),
    Routine("slow-firmware-reboot", "an announced firmware update with a long reboot", _slow_firmware_reboot),
    Routine(
        "v201-slow-firmware-reboot",
        "an announced firmware update with a long reboot",
        _slow_firmware_reboot,
        version="2.0.1",
    ),
]
HEALTHY: dict[str, Routine] = {r.name: r for r in _HEALTHY}
