"""The simulated hardware: per-connector state and the electrical model, and the OCPP names
and time formats it is reported in (configuration: config.py; errors: errors.py).

Nothing here talks to the network; :mod:`devtools.simulator.charger` turns this state
into OCPP messages.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]
Payload = dict[str, Any]

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0
#: A phase under this carries no current: it is lost.
LIVE_PHASE_V = 50.0
AMBIENT_C = 22.0
#: Where a busy charger settles: a little above ambient.
WORKING_C = 38.0
#: At or above this the 2.0.1 temperature monitor raises an Alerting event.
HIGH_TEMPERATURE_C = 80.0
BATTERY_KWH = 60.0
START_SOC = 20.0
#: DataTransfer with this vendorId is answered Accepted (the data echoed); others UnknownVendorId.
SIM_VENDOR_ID = "com.laddnat.sim"


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_ts(value: str) -> datetime:
    """An OCPP timestamp (``Z`` or an offset; naive taken as UTC) as an aware datetime."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def iso_z(value: datetime) -> str:
    """Aware UTC, milliseconds, ``Z``. A naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# 1.6 connector states -> the 2.0.1 ConnectorStatusEnumType.
STATUS_16_TO_201 = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEVSE": "Occupied",
    "SuspendedEV": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
# ... and the 2.0.1-only name back, for a 1.6 charger told "Occupied".
STATUS_201_TO_16 = {"Occupied": "Preparing"}

#: States in which no energy flows even with a transaction running.
NOT_DELIVERING = frozenset({"Faulted", "SuspendedEV", "SuspendedEVSE", "Unavailable", "Finishing"})

ERROR_CODES_16 = frozenset(
    {
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "NoError",
        "OtherError",
        "OverCurrentFailure",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "OverVoltage",
        "WeakSignal",
    }
)

REASONS_16 = frozenset(
    {
        "EmergencyStop",
        "EVDisconnected",
        "HardReset",
        "Local",
        "Other",
        "PowerLoss",
        "Reboot",
        "Remote",
        "SoftReset",
        "UnlockCommand",
        "DeAuthorized",
    }
)
REASONS_201 = frozenset(
    {
        "DeAuthorized",
        "EmergencyStop",
        "EnergyLimitReached",
        "EVDisconnected",
        "GroundFault",
        "ImmediateReset",
        "Local",
        "LocalOutOfCredit",
        "MasterPass",
        "Other",
        "OvercurrentFault",
        "PowerLoss",
        "PowerQuality",
        "Reboot",
        "Remote",
        "SOCLimitReached",
        "StoppedByEV",
        "TimeLimitReached",
        "Timeout",
    }
)
_REASON_201_FROM_16 = {"SoftReset": "ImmediateReset", "HardReset": "ImmediateReset"}
_REASON_16_FROM_201 = {"ImmediateReset": "SoftReset", "GroundFault": "EmergencyStop"}
# stoppedReason -> the triggerReason of the Ended TransactionEvent.
_TRIGGER_FOR_REASON = {
    "Local": "StopAuthorized",
    "MasterPass": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
    "Reboot": "ResetCommand",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
    "StoppedByEV": "EVDeparted",
}


def reason_16(reason: str) -> str:
    reason = _REASON_16_FROM_201.get(reason, reason)
    return reason if reason in REASONS_16 else "Other"


def reason_201(reason: str) -> str:
    reason = _REASON_201_FROM_16.get(reason, reason)
    return reason if reason in REASONS_201 else "Other"


def trigger_for_stop(reason_201_name: str, unlock: bool = False) -> str:
    if unlock:
        return "UnlockCommand"
    return _TRIGGER_FOR_REASON.get(reason_201_name, "AbnormalCondition")


@dataclass
class Transaction:
    id: str  # 1.6: the CSMS's integer as text (or a local placeholder while offline)
    id_tag: str
    meter_start_wh: float
    started_at: datetime
    begin_sample: Payload  # the Transaction.Begin meter value, for 1.6 transactionData
    seq_no: int = 0  # 2.0.1: the next seqNo
    remote_start_id: int | None = None

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq


@dataclass
class Reservation:
    """ReserveNow: the connector only starts for ``id_tag`` (or its parent / group) until ``expiry``."""

    id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None

    def admits(self, id_tag: str | None) -> bool:
        return id_tag is not None and id_tag in (self.id_tag, self.parent_id_tag)


@dataclass
class Connector:
    """One connector (1.6) / EVSE with one connector (2.0.1) and its physical readings."""

    id: int
    energy_wh: float
    status: str = "Available"  # 1.6 spelling
    error_code: str = "NoError"
    info: str | None = None
    vendor_error_code: str | None = None
    operative: bool = True
    #: ChangeAvailability arrived during a transaction: apply it when the transaction ends.
    pending_operative: bool | None = None
    transaction: Transaction | None = None
    starting: bool = False  # a start is in progress (guards against two at once)
    temperature_c: float = AMBIENT_C
    hold_temperature: bool = False
    voltage_v: float = NOMINAL_VOLTAGE_V
    frequency_hz: float = NOMINAL_FREQUENCY_HZ
    soc: float = START_SOC
    #: (status, error_code) last put on the wire, None before the first one.
    sent_status: tuple[str, str] | None = None
    problem_reported: bool = False  # 2.0.1: a Problem event is active
    #: 2.0.1: the device-model component and variable the problem is reported on, with no
    #: techCode (the part names it); None: Connector.Problem with the error code as techCode.
    problem_part: tuple[str, str] | None = None
    reported_temperature_c: float | None = None  # 2.0.1: last temperature event
    reservation: Reservation | None = None
    #: The charging-profile limit in force (W), None when no profile applies.
    limit_w: float | None = None
    #: The transaction was suspended (SuspendedEVSE) because a profile limited it to 0.
    suspended_by_limit: bool = False
    # Scripted hardware trouble (see faults.py); a reboot heals none of it.
    #: Per-phase voltages when set (under LIVE_PHASE_V: a lost phase), else voltage_v on all.
    phase_voltage_v: tuple[float, ...] | None = None
    #: The energy register: frozen, counting meter_factor times what flows (a wrong CT
    #: ratio), or counting idle_draw_w with no transaction running (a stray load).
    meter_stuck: bool = False
    meter_factor: float = 1.0
    idle_draw_w: float = 0.0
    #: The control pilot never sees the car: a remote start waits, then gives up.
    ev_unseen: bool = False

    @property
    def busy(self) -> bool:
        return self.transaction is not None or self.starting

    @property
    def delivering(self) -> bool:
        return self.transaction is not None and self.status not in NOT_DELIVERING


@dataclass
class Reading:
    """One instant of the electrical model: what a meter value reports."""

    energy_wh: float
    power_w: float
    current_a: list[float]  # per phase in use
    voltage_v: list[float]
    temperature_c: float
    soc: float
    frequency_hz: float


@dataclass
class ElectricalModel:
    power_kw: float
    phases: int = 3
    battery_kwh: float = BATTERY_KWH

    @property
    def max_power_w(self) -> float:
        return self.power_kw * 1000.0

    def current_a(self, connector: Connector) -> float:
        """The EV draws a fixed current per phase: the hardware's, or less when a charging
        profile (the pilot signal) limits it."""
        if not connector.delivering:
            return 0.0
        watts = self.max_power_w
        if connector.limit_w is not None:
            watts = max(0.0, min(watts, connector.limit_w))
        return watts / (self.phases * NOMINAL_VOLTAGE_V)

    def reading(self, connector: Connector) -> Reading:
        amps = self.current_a(connector)
        if connector.phase_voltage_v is not None:
            volts = list(connector.phase_voltage_v[: self.phases])
        else:
            volts = [connector.voltage_v] * self.phases
        currents = [amps if v >= LIVE_PHASE_V else 0.0 for v in volts]
        power = sum(v * a for v, a in zip(volts, currents, strict=True))
        return Reading(
            energy_wh=connector.energy_wh,
            power_w=power,
            current_a=currents,
            voltage_v=volts,
            temperature_c=connector.temperature_c,
            soc=connector.soc,
            frequency_hz=connector.frequency_hz,
        )

    def advance(self, connector: Connector, seconds: float) -> Reading:
        """Let ``seconds`` of simulated time pass: energy, state of charge, temperature."""
        seconds = max(0.0, seconds)
        reading = self.reading(connector)
        delta_wh = reading.power_w * seconds / 3600.0
        if connector.transaction is not None and delta_wh > 0:
            connector.soc = min(100.0, connector.soc + 100.0 * delta_wh / (self.battery_kwh * 1000.0))
        if connector.transaction is None:
            delta_wh += connector.idle_draw_w * seconds / 3600.0
        if not connector.meter_stuck:
            connector.energy_wh += delta_wh * connector.meter_factor
        # First-order drift towards the working (or ambient, when idle) temperature,
        # unless a script (overheat) is holding it.
        if not connector.hold_temperature:
            target = WORKING_C if reading.power_w > 0 else AMBIENT_C
            connector.temperature_c += (target - connector.temperature_c) * min(1.0, seconds / 900.0)
        return self.reading(connector)


def fmt(value: float) -> str:
    """A 1.6 sampled value: decimal text without float noise or trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


_PHASES_LN = ("L1-N", "L2-N", "L3-N")
_PHASES_L = ("L1", "L2", "L3")


#: What the simulated meter can measure, per OCPP version (the configurable sampled data).
MEASURANDS = {
    "1.6": (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "Temperature",
        "SoC",
        "Frequency",
    ),
    "2.0.1": (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
        "Frequency",
    ),
}


def sampled_values(
    reading: Reading,
    context: str,
    version: str,
    *,
    full: bool = True,
    measurands: Collection[str] | None = None,
) -> list[Payload]:
    """The sampled values of one meter value, snake_case as the ``ocpp`` library expects.

    ``full=False`` gives just the energy register (Transaction.Begin / .End samples).
    ``measurands`` (MeterValuesSampledData / TxUpdatedMeasurands) keeps only those; the
    energy register stays when nothing else would. 2.0.1 has no Temperature measurand
    (temperature goes out as a NotifyEvent instead); a 1.6 charger reports Frequency only
    when configured to (it is not in its default MeterValuesSampledData).
    """
    rows: list[tuple[str, float, str, str | None, str]] = [
        ("Energy.Active.Import.Register", reading.energy_wh, "Wh", None, "Outlet")
    ]
    if full:
        rows.append(("Power.Active.Import", reading.power_w, "W", None, "Outlet"))
        for i, amps in enumerate(reading.current_a):
            rows.append(("Current.Import", amps, "A", _PHASES_L[i], "Outlet"))
        for i, volts in enumerate(reading.voltage_v):
            rows.append(("Voltage", volts, "V", _PHASES_LN[i], "Outlet"))
        if version == "1.6":
            rows.append(("Temperature", reading.temperature_c, "Celsius", None, "Body"))
        rows.append(("SoC", reading.soc, "Percent", None, "EV"))
        rows.append(("Frequency", reading.frequency_hz, "Hz", None, "Inlet"))
    if measurands is not None:
        rows = [row for row in rows if row[0] in measurands] or rows[:1]
    out: list[Payload] = []
    for measurand, value, unit, phase, location in rows:
        sv: Payload
        if version == "1.6":
            sv = {
                "value": fmt(value),
                "context": context,
                "format": "Raw",
                "measurand": measurand,
                "location": location,
                "unit": unit,
            }
        else:
            sv = {
                "value": round(value, 2),
                "context": context,
                "measurand": measurand,
                "location": location,
                "unit_of_measure": {"unit": unit},
            }
        if phase is not None:
            sv["phase"] = phase
        if version == "1.6" and unit == "Hz":
            del sv["unit"]  # 1.6 has no unit for Frequency: Hz is implied
        out.append(sv)
    return out


def meter_value(timestamp: str, samples: list[Payload]) -> Payload:
    return {"timestamp": timestamp, "sampled_value": samples}
