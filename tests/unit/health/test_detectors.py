"""Each detector on synthetic event streams with an injected clock, healthy controls included."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from app.chargers.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ChargerEventRecorded,
    ConnectorStatusChanged,
)
from app.core.settings import HealthSettings
from app.health.detectors import (
    BootDetector,
    MeteringDetector,
    OfflineDetector,
    ReportedErrorDetector,
    SessionDetector,
    SupplyDetector,
    ThermalDetector,
)
from app.health.detectors.errors import ERROR_CAUSES
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = HealthSettings()


class Clock(HandClock):
    def __init__(self) -> None:
        super().__init__(T0)


def status(status: str, code: str | None = None, *, evse: int = 1, vendor: str | None = None, info: str | None = None):
    return ConnectorStatusChanged(
        identity="CP1",
        evse=evse,
        connector=1,
        status=status,
        error_code=code,
        vendor_error_code=vendor,
        info=info,
        at=T0,
    )


def meter(at: datetime, *, wh: float | None = None, w: float | None = None, tx: bool = True, **extra: float):
    samples = []
    if wh is not None:
        samples.append(Sample(at=at, measurand="Energy.Active.Import.Register", value=wh, unit="Wh"))
    if w is not None:
        samples.append(Sample(at=at, measurand="Power.Active.Import", value=w, unit="W"))
    for name, value in extra.items():
        if name.startswith("v"):
            phase = {"v1": "L1-N", "v2": "L2-N", "v3": "L3-N"}[name]
            samples.append(Sample(at=at, measurand="Voltage", value=value, unit="V", phase=phase))
        elif name == "hz":
            samples.append(Sample(at=at, measurand="Frequency", value=value, unit="Hz"))
        elif name == "celsius":
            samples.append(Sample(at=at, measurand="Temperature", value=value, unit="Celsius", location="Body"))
    return MeterSampled(identity="CP1", evse=1, transaction_id=uuid.uuid4() if tx else None, samples=samples)


# -- offline ------------------------------------------------------------------------------


def test_silent_charger_goes_offline_after_two_heartbeats_plus_grace_and_comes_back() -> None:
    clock = Clock()
    d = OfflineDetector(S, 60, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    assert d.tick(clock.advance(120)) == []
    assert d.suspects(clock.now) == ["CP1"]
    [signal] = d.tick(clock.advance(S.offline_grace_s))
    assert signal.kind == "offline" and not signal.clears and signal.evidence["reason"] == "silent"
    assert d.tick(clock.advance(10)) == []  # once
    [back] = d.seen("CP1", clock.advance(1))
    assert back.clears


def test_closed_socket_is_offline_after_a_heartbeat_interval_unless_it_reconnects() -> None:
    # Issue 14: a closed socket used to count after 5 s; a blip is no outage, a charger
    # that stays away a heartbeat interval (plus the grace) is offline.
    clock = Clock()
    d = OfflineDetector(S, 300, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    d.feed(ChargerDisconnected(identity="CP1", at=T0, reason="closed"))
    assert d.tick(clock.advance(15)) == []  # a 15 s network drop
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    assert d.tick(clock.advance(S.offline_grace_s + 1)) == []
    d.feed(ChargerDisconnected(identity="CP1", at=T0, reason="closed"))
    assert d.tick(clock.advance(300)) == []
    [signal] = d.tick(clock.advance(S.offline_grace_s))
    assert signal.evidence["reason"] == "socket_closed"
    [back] = d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    assert back.clears


def test_heartbeating_charger_never_goes_offline() -> None:
    clock = Clock()
    d = OfflineDetector(S, 60, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    for _ in range(1000):
        clock.advance(1)
        for identity in d.suspects(clock.now):
            d.seen(identity, clock.now - timedelta(seconds=random.uniform(0, 50)))
        assert d.tick(clock.now) == []


def test_restart_gives_disconnected_chargers_the_full_threshold() -> None:
    clock = Clock()
    d = OfflineDetector(S, 60, clock)
    d.restore("CP1", T0 - timedelta(hours=1), offline=False)
    d.restore("NEW", None, offline=False)
    assert d.tick(clock.advance(60)) == []
    assert [s.identity for s in d.tick(clock.advance(70))] == ["CP1"]


# -- reported errors ------------------------------------------------------------------------


def test_every_16_error_code_becomes_a_signal_with_vendor_code_and_info_kept() -> None:
    d = ReportedErrorDetector(Clock())
    for code, (cause, _) in ERROR_CAUSES.items():
        [signal] = d.feed(status("Faulted", code, vendor="V-42", info="relay"))
        assert signal.kind == "reported_error" and signal.cause == cause and signal.severity == "critical"
        assert signal.evidence["vendorErrorCode"] == "V-42" and signal.evidence["info"] == "relay"
    [clear] = d.feed(status("Available"))
    assert clear.clears
    assert d.feed(status("Available")) == []


def notify(
    component: str,
    variable: str = "Problem",
    value: str = "true",
    *,
    evse: int = 2,
    tech_code: str | None = None,
    cleared: bool = False,
    trigger: str = "Alerting",
) -> ChargerEventRecorded:
    """A 2.0.1 NotifyEvent item as the bridge records it (the payload's item, camelCase)."""
    data: dict[str, object] = {
        "trigger": trigger,
        "actualValue": value,
        "component": {"name": component, "evse": {"id": evse, "connectorId": 1}},
        "variable": {"name": variable},
    }
    if tech_code is not None:
        data["techCode"] = tech_code
    if cleared:
        data["cleared"] = True
    return ChargerEventRecorded(
        identity="CP1",
        kind="notify_event",
        code=tech_code or f"{component}.{variable}",
        evse=evse,
        connector=1,
        at=T0,
        data=data,
    )


def test_201_problem_events_with_a_16_tech_code_and_their_clearing() -> None:
    d = ReportedErrorDetector(Clock())
    [locked] = d.feed(notify("Connector", tech_code="ConnectorLockFailure"))
    assert locked.cause == "connector_lock" and locked.evse == 2
    [clear] = d.feed(notify("Connector", value="false", cleared=True))
    assert clear.clears and clear.evse == 2


# 1.6 error code -> the 2.0.1 components (and problem variables) that report the same failure.
TWINS_201 = {
    "ConnectorLockFailure": [("ConnectorPlugRetentionLock", "Problem"), ("ConnectorPlugRetentionLock", "Tripped")],
    "EVCommunicationError": [("ConnectedEV", "Problem"), ("ControlPilot", "Fault"), ("CPPWMController", "Problem")],
    "GroundFailure": [("RCD", "Tripped"), ("GroundIsolationProtection", "Problem")],
    "HighTemperature": [("TemperatureSensor", "Tripped"), ("AirCoolingSystem", "Problem")],
    "InternalError": [("AcDcConverter", "Problem"), ("Controller", "Problem")],
    "LocalListConflict": [("LocalAuthListCtrlr", "Problem")],
    "OverCurrentFailure": [("OverCurrentProtection", "Tripped"), ("AcDcConverter", "Overload")],
    "OverVoltage": [("ElectricalFeed", "OverVoltage")],
    "PowerMeterFailure": [("FiscalMetering", "Problem"), ("ControlMetering", "Problem")],
    "PowerSwitchFailure": [("PowerContactor", "Problem"), ("PowerContactor", "Tripped")],
    "ReaderFailure": [("TokenReader", "Problem")],
    "UnderVoltage": [("ElectricalFeed", "Problem")],
    "WeakSignal": [("DataLink", "Problem")],
}


def test_every_201_component_problem_gets_the_cause_of_its_16_twin() -> None:
    for code, parts in TWINS_201.items():
        for component, variable in parts:
            d = ReportedErrorDetector(Clock())
            variable_name = "Problem" if variable == "OverVoltage" else variable
            tech = "Overvoltage-L2" if variable == "OverVoltage" else None  # a vendor's techCode
            [signal] = d.feed(notify(component, variable_name, tech_code=tech))
            assert (signal.cause, signal.confidence) == ERROR_CAUSES[code], (component, variable)
            assert signal.evidence["twin16"] == code and signal.evidence["component"] == component
            assert not signal.clears
    # Every 1.6 code but the ones with no 2.0.1 component (a reset that failed, "other") has a twin.
    assert set(ERROR_CAUSES) - set(TWINS_201) == {"OtherError", "ResetFailure"}


def test_a_plug_retention_lock_problem_is_a_lock_fault_until_cleared() -> None:
    d = ReportedErrorDetector(Clock())
    [signal] = d.feed(notify("ConnectorPlugRetentionLock", "Problem", "True", trigger="Delta"))
    assert signal.cause == "connector_lock" and signal.severity == "critical" and signal.evse == 2
    # Another part's problem clearing does not clear the lock's.
    assert d.feed(notify("TokenReader", value="false")) == []
    [clear] = d.feed(notify("ConnectorPlugRetentionLock", "Problem", "false"))
    assert clear.clears and clear.evse == 2
    # The problem variable going false, or a `cleared` event, with nothing raised: quiet.
    assert d.feed(notify("ConnectorPlugRetentionLock", "Problem", "false")) == []
    assert d.feed(notify("RCD", "Tripped", "true", cleared=True)) == []


def test_201_events_for_normal_variables_raise_nothing() -> None:
    d = ReportedErrorDetector(Clock())
    for component, variable, value in [
        ("ConnectorPlugRetentionLock", "Active", "true"),  # the lock engaged for a session
        ("ConnectorPlugRetentionLock", "Enabled", "true"),
        ("Connector", "AvailabilityState", "Occupied"),
        ("TemperatureSensor", "Temperature", "41.5"),  # the thermal detector's
        ("PowerContactor", "Active", "false"),
        ("TokenReader", "Token", "04A1B2C3"),
    ]:
        assert d.feed(notify(component, variable, value)) == [], (component, variable)


def test_a_faulted_connector_waits_for_the_event_that_explains_it() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    assert d.feed(status("Faulted", evse=2)) == []
    clock.advance(1.0)
    assert d.tick(clock()) == []
    [signal] = d.feed(notify("ConnectorPlugRetentionLock"))
    assert signal.cause == "connector_lock" and signal.evidence["status"] == "Faulted"
    clock.advance(10.0)
    assert d.tick(clock()) == []  # explained: no second, unexplained incident
    [clear] = d.feed(status("Available", evse=2))
    assert clear.clears


def test_a_faulted_connector_nobody_explains_is_an_unexplained_fault_a_reset_heals() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    assert d.feed(status("Faulted")) == []
    assert d.feed(status("Faulted")) == []  # repeated: still waiting since the first
    clock.advance(4.0)
    assert d.tick(clock()) == []
    clock.advance(1.0)
    [signal] = d.tick(clock())
    # The charger's own controller took it out of use without naming a part: the
    # internal-firmware playbook (its log, then a soft reset); low confidence.
    assert (signal.cause, signal.severity) == ("internal_firmware", "critical")
    assert signal.confidence < 0.8 and signal.evidence["unexplained"] is True
    assert d.tick(clock()) == []
    # A later event naming the part refines the diagnosis (same incident key).
    [named] = d.feed(notify("PowerContactor", evse=1))
    assert named.key == signal.key and named.cause == ERROR_CAUSES["PowerSwitchFailure"][0]
    [clear] = d.feed(status("Available"))
    assert clear.clears


def test_device_model_names_are_case_insensitive() -> None:
    d = ReportedErrorDetector(Clock())
    [signal] = d.feed(notify("connectorPlugRetentionLock", "TRIPPED"))
    assert signal.cause == "connector_lock"


def test_the_part_named_wins_over_a_generic_tech_code() -> None:
    d = ReportedErrorDetector(Clock())
    [signal] = d.feed(notify("ConnectorPlugRetentionLock", tech_code="InternalError"))
    assert signal.cause == "connector_lock" and signal.evidence["errorCode"] == "InternalError"
    [generic] = d.feed(notify("ChargingStation", evse=3, tech_code="PowerMeterFailure"))
    assert generic.cause == "metering"


def test_a_connector_availability_state_faulted_is_a_faulted_status() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    assert d.feed(notify("Connector", "AvailabilityState", "Faulted", evse=1)) == []
    clock.advance(5.0)
    [signal] = d.tick(clock())
    assert signal.cause == "internal_firmware" and signal.evse == 1
    assert d.feed(notify("Connector", "AvailabilityState", "Faulted", evse=1)) == []  # already raised
    [clear] = d.feed(notify("Connector", "AvailabilityState", "Available", evse=1))
    assert clear.clears


def stopped_by(reason: str, *, evse: int = 1) -> TransactionEnded:
    return TransactionEnded(
        identity="CP1",
        transaction_id=uuid.uuid4(),
        number=1,
        evse=evse,
        connector=1,
        id_token="T",
        started_at=T0,
        stopped_at=T0,
        energy_wh=1000.0,
        stop_reason=reason,
    )


def test_a_session_stopped_by_a_protection_explains_the_faulted_beside_it() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    # The status first, then the transaction's end naming the protection.
    assert d.feed(status("Faulted")) == []
    [signal] = d.feed(stopped_by("GroundFault"))
    assert (signal.cause, signal.confidence) == ERROR_CAUSES["GroundFailure"]
    assert signal.evidence["errorCode"] == "GroundFailure" and "GroundFault" in signal.evidence["info"]
    clock.advance(10.0)
    assert d.tick(clock()) == []
    # The other order, on another EVSE; an ordinary stop explains nothing.
    assert d.feed(stopped_by("Local", evse=2)) == []
    assert d.feed(stopped_by("OvercurrentFault", evse=2)) == []
    [over] = d.feed(status("Faulted", evse=2))
    assert (over.cause, over.confidence) == ERROR_CAUSES["OverCurrentFailure"]


def test_a_faulted_blip_that_recovers_within_the_wait_raises_nothing() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    assert d.feed(status("Faulted")) == []
    clock.advance(2.0)
    assert d.feed(status("Available")) == []
    clock.advance(10.0)
    assert d.tick(clock()) == []


def test_a_16_error_code_after_a_bare_faulted_is_the_diagnosis() -> None:
    clock = Clock()
    d = ReportedErrorDetector(clock, explanation_wait_s=5.0)
    assert d.feed(status("Faulted")) == []
    [signal] = d.feed(status("Faulted", "ConnectorLockFailure"))
    assert signal.cause == "connector_lock"
    clock.advance(10.0)
    assert d.tick(clock()) == []


def test_normal_status_changes_raise_nothing() -> None:
    d = ReportedErrorDetector(Clock())
    for s in ("Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Available"):
        assert d.feed(status(s)) == []


# -- overheating ------------------------------------------------------------------------------


def test_temperature_over_the_limit_and_back() -> None:
    clock = Clock()
    d = ThermalDetector(S, clock)
    signals = []
    for i, celsius in enumerate([40, 55, 66, 72, 80, 75, 58]):
        signals += d.feed(meter(T0 + timedelta(minutes=i), w=11000, celsius=celsius))
    assert [(s.topic, s.clears) for s in signals] == [("limit", False), ("limit", True)]
    assert signals[0].evidence["celsius"] == 72


def test_fast_rise_at_low_load_is_a_warning() -> None:
    d = ThermalDetector(S, Clock())
    d.feed(meter(T0, w=0, celsius=25))
    [signal] = d.feed(meter(T0 + timedelta(minutes=1), w=0, celsius=35))
    assert signal.topic == "rise" and signal.severity == "warning"


def test_normal_temperature_swings_raise_nothing() -> None:
    d = ThermalDetector(S, Clock())
    rng = random.Random(1)
    for i in range(500):
        load = 11000 if (i // 60) % 2 else 0
        celsius = (38 if load else 22) + rng.uniform(-2, 2)
        assert d.feed(meter(T0 + timedelta(minutes=i), w=load, celsius=celsius)) == []


# -- power supply -------------------------------------------------------------------------------


def test_voltage_sag_needs_samples_in_a_row_and_clears_the_same_way() -> None:
    d = SupplyDetector(S, Clock())
    assert d.feed(meter(T0, v1=190, v2=190, v3=190)) == []
    [sag] = d.feed(meter(T0, v1=190, v2=190, v3=190))
    assert sag.kind == "power_supply" and sag.topic == "voltage" and sag.cause == "grid_supply"
    assert d.feed(meter(T0, v1=230, v2=230, v3=230)) == []
    [clear] = d.feed(meter(T0, v1=230, v2=230, v3=230))
    assert clear.clears


def test_lost_phase_and_frequency() -> None:
    d = SupplyDetector(S, Clock())
    d.feed(meter(T0, v1=231, v2=0, v3=229, hz=49.0))
    signals = d.feed(meter(T0, v1=231, v2=0, v3=229, hz=49.0))
    assert sorted(s.topic for s in signals) == ["frequency", "phase_loss"]
    assert next(s for s in signals if s.topic == "phase_loss").evidence["lostPhases"] == ["L2-N"]


def test_normal_voltage_noise_raises_nothing() -> None:
    d = SupplyDetector(S, Clock())
    rng = random.Random(2)
    for _ in range(2000):
        v = [230 + rng.gauss(0, 4) for _ in range(3)]
        assert d.feed(meter(T0, v1=v[0], v2=v[1], v3=v[2], hz=50 + rng.gauss(0, 0.05))) == []


# -- metering -----------------------------------------------------------------------------------


def test_stuck_meter_while_charging() -> None:
    d = MeteringDetector(S, Clock())
    signals = []
    for i in range(5):
        signals += d.feed(meter(T0 + timedelta(minutes=i), wh=1000, w=11000))
    [stuck] = signals
    assert stuck.topic == "stuck" and stuck.cause == "metering" and len(stuck.evidence["samples"]) == 3
    [clear] = d.feed(meter(T0 + timedelta(minutes=6), wh=1300, w=11000))
    assert clear.clears


def test_backwards_and_idle_energy() -> None:
    d = MeteringDetector(S, Clock())
    d.feed(meter(T0, wh=5000, w=0, tx=False))
    [back] = d.feed(meter(T0 + timedelta(minutes=1), wh=4000, w=0, tx=False))
    assert back.topic == "backwards" and back.severity == "critical"
    d.feed(meter(T0 + timedelta(minutes=2), wh=4010, w=0, tx=False))
    [idle] = d.feed(meter(T0 + timedelta(minutes=3), wh=4100, w=0, tx=False))
    assert idle.topic == "idle_energy"


def test_idle_energy_clears_once_the_register_stands_still() -> None:
    d = MeteringDetector(S, Clock())
    signals = []
    for i, wh in enumerate([1000, 1040, 1080, 1120, 1120, 1120.4]):
        signals += d.feed(meter(T0 + timedelta(minutes=15 * i), wh=wh, w=0, tx=False))
    assert [(s.topic, s.clears) for s in signals] == [("idle_energy", False)]
    [clear] = d.feed(meter(T0 + timedelta(minutes=90), wh=1120.4, w=0, tx=False))  # three still readings
    assert clear.topic == "idle_energy" and clear.clears
    # Counting starts afresh: creeping on raises it again, standing still does not.
    assert d.feed(meter(T0 + timedelta(minutes=105), wh=1121, w=0, tx=False)) == []
    [again] = d.feed(meter(T0 + timedelta(minutes=120), wh=1200, w=0, tx=False))
    assert again.topic == "idle_energy" and not again.clears


def test_power_and_energy_that_disagree() -> None:
    d = MeteringDetector(S, Clock())
    wh, signals = 0.0, []
    for i in range(6):
        signals += d.feed(meter(T0 + timedelta(minutes=i), wh=wh, w=11000))
        wh += 11000 / 60 * 5  # five times what the power explains
    assert [s.topic for s in signals] == ["power_energy"]


def test_long_session_and_idle_charger_raise_nothing() -> None:
    clock = Clock()
    d = MeteringDetector(S, clock)
    tx = uuid.uuid4()
    d.feed(
        TransactionStarted(
            identity="CP1", transaction_id=tx, number=1, evse=1, connector=1, id_token="A", started_at=T0, offline=False
        )
    )
    wh = 0.0
    for i in range(600):  # ten hours, a minute apart, tapering power
        w = 11000 if i < 400 else 11000 * (600 - i) / 200
        assert d.feed(meter(T0 + timedelta(minutes=i), wh=wh, w=w)) == []
        wh += w / 60
    d.feed(
        TransactionEnded(
            identity="CP1",
            transaction_id=tx,
            number=1,
            evse=1,
            connector=1,
            id_token="A",
            started_at=T0,
            stopped_at=T0 + timedelta(hours=10),
            energy_wh=wh,
            stop_reason="EVDisconnected",
        )
    )
    for i in range(600, 1200):  # idle: the register stays
        assert d.feed(meter(T0 + timedelta(minutes=i), wh=wh, w=0, tx=False)) == []


# -- sessions ----------------------------------------------------------------------------------


def ended(seconds: float, wh: float, token: str, reason: str = "Local") -> TransactionEnded:
    return TransactionEnded(
        identity="CP1",
        transaction_id=uuid.uuid4(),
        number=1,
        evse=1,
        connector=1,
        id_token=token,
        started_at=T0,
        stopped_at=T0 + timedelta(seconds=seconds),
        energy_wh=wh,
        stop_reason=reason,
    )


def test_a_run_of_short_empty_sessions_then_a_normal_one() -> None:
    d = SessionDetector(S, Clock())
    assert d.feed(ended(5, 0, "A")) == [] and d.feed(ended(5, 0, "B")) == []
    [signal] = d.feed(ended(5, 0, "C"))
    assert signal.kind == "failed_starts" and len(signal.evidence["sessions"]) == 3
    [clear] = d.feed(ended(3600, 20000, "D"))
    assert clear.clears


def test_early_ev_side_ends_across_different_cars() -> None:
    d = SessionDetector(S, Clock())
    assert d.feed(ended(300, 500, "A", "EVDisconnected")) == []
    assert d.feed(ended(300, 500, "A", "EVDisconnected")) == []  # the same car again
    assert d.feed(ended(300, 500, "B", "EVDisconnected")) == []
    [signal] = d.feed(ended(300, 500, "C", "EVDisconnected"))
    assert signal.kind == "vehicle_communication" and signal.cause == "vehicle_communication"


def test_normal_sessions_raise_nothing() -> None:
    d = SessionDetector(S, Clock())
    for i in range(200):
        assert d.feed(ended(1800 + i, 15000, f"T{i}", "EVDisconnected" if i % 2 else "Local")) == []


# -- boot loops and firmware ---------------------------------------------------------------------


def booted() -> ChargerBooted:
    return ChargerBooted(
        identity="CP1",
        vendor="V",
        model="M",
        firmware_version="1.0",
        reason="PowerUp",
        registration_status="Accepted",
        at=T0,
    )


def test_boot_loop_and_its_end() -> None:
    clock = Clock()
    d = BootDetector(S, clock)
    assert d.feed(booted()) == []
    clock.advance(30)
    assert d.feed(booted()) == []
    clock.advance(30)
    [loop] = d.feed(booted())
    assert loop.kind == "boot_loop" and len(loop.evidence["boots"]) == 3
    assert d.tick(clock.advance(60)) == []
    [clear] = d.tick(clock.advance(S.boot_loop_window_s))
    assert clear.clears


def test_daily_reboots_are_no_loop_and_failed_firmware_is_reported() -> None:
    clock = Clock()
    d = BootDetector(S, clock)
    for _ in range(10):
        assert d.feed(booted()) == []
        clock.advance(24 * 3600)

    def firmware(code: str) -> ChargerEventRecorded:
        return ChargerEventRecorded(
            identity="CP1", kind="firmware_status", code=code, evse=None, connector=None, at=T0, data={"status": code}
        )

    assert d.feed(firmware("Downloading")) == []
    [failed] = d.feed(firmware("InstallationFailed"))
    assert failed.kind == "firmware" and failed.cause == "internal_firmware"
    [clear] = d.feed(firmware("Installed"))
    assert clear.clears
