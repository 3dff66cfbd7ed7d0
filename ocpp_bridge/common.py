"""Helpers both versions share: time, units, errors -> CALLERROR codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.sessions.types import Sample
from ocpp_bridge.protocol import OcppError


def parse_utc(value: str) -> datetime:
    """An OCPP timestamp (RFC 3339, already schema-checked) as aware UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OcppError("PropertyConstraintViolation", f"timestamp {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise OcppError("PropertyConstraintViolation", f"timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The spec's default unit per measurand, when the charger names none.
_DEFAULT_UNIT = {
    "Energy": "Wh",
    "Power.Active": "W",
    "Power.Offered": "W",
    "Power.Reactive": "var",
    "Current": "A",
    "Voltage": "V",
    "Frequency": "Hz",
    "Temperature": "Celsius",
    "SoC": "Percent",
    "RPM": "RPM",
    "Power.Factor": "",
}
_SCALE = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
}


def default_unit(measurand: str) -> str:
    for prefix, unit in _DEFAULT_UNIT.items():
        if measurand.startswith(prefix):
            return unit
    return ""


def normalise(value: float, unit: str) -> tuple[float, str]:
    """To the base unit: kWh -> Wh, kW -> W, Fahrenheit/K -> Celsius."""
    if unit in _SCALE:
        base, factor = _SCALE[unit]
        return value * factor, base
    if unit == "Fahrenheit":
        return (value - 32.0) * 5.0 / 9.0, "Celsius"
    if unit == "K":
        return value - 273.15, "Celsius"
    return value, unit


def sample(at: datetime, sv: dict[str, Any], raw: float, unit: str | None) -> Sample:
    """A sampledValue of either version, in its base unit and with the spec's defaults."""
    measurand = sv.get("measurand", "Energy.Active.Import.Register")
    value, base_unit = normalise(raw, unit if unit is not None else default_unit(measurand))
    return Sample(
        at=at,
        measurand=measurand,
        value=value,
        unit=base_unit,
        context=sv.get("context", "Sample.Periodic"),
        phase=sv.get("phase", ""),
        location=sv.get("location", "Outlet"),
    )
