"""An incident's evidence as charts: the numbers its detectors reported (readings,
thresholds, z-scores, samples), grouped by unit, each group a bar chart with a table beside.

Presentation only: the evidence is the incident's own JSON (``IncidentOut.evidence``);
nothing is judged here. A number's unit is read from its key the way the detectors name
them (``powerW``, ``limitC``, ``darkForS``, ``volts``, ``z``); numbers whose unit is not
known share one plain group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Bars per chart and charts per incident: enough to read, small enough for a phone.
MAX_BARS = 24
MAX_CHARTS = 8
# Keys whose numbers are identifiers or positions, not readings.
SKIPPED = frozenset({"evse", "connector", "connectorId", "evseId", "transactionId", "id", "seqNo"})
# A key (its last part) -> its unit; else the suffix rules in ``unit_of``.
UNITS = {
    "celsius": "°C",
    "volts": "V",
    "amps": "A",
    "hz": "Hz",
    "z": "z",
    "soc": "%",
    "seconds": "s",
    "wh": "Wh",
}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    # Geometry in percent of the chart's width: where the bar starts and how wide it is.
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class Chart:
    kind: str  # the detector that reported the numbers, or "site" / "fleet" (the scope's)
    topic: str
    unit: str  # "" when not known
    bars: list[Bar]
    zero: float  # the zero line, in percent of the width (z-scores go below zero)
    minimum: float
    maximum: float


def unit_of(key: str) -> str:
    """``powerW`` -> W, ``energyWh`` -> Wh, ``limitC`` -> °C, ``darkForS`` -> s, ``z`` -> z."""
    if key.lower() in UNITS:
        return UNITS[key.lower()]
    if key.endswith("Wh"):
        return "Wh"
    if key.endswith("W"):
        return "W"
    if key.endswith("C") and len(key) > 1 and key[-2].islower():
        return "°C"
    if key.endswith("S") and len(key) > 1 and key[-2].islower():
        return "s"
    if key.endswith("V") and len(key) > 1 and key[-2].islower():
        return "V"
    if key.endswith("A") and len(key) > 1 and key[-2].islower():
        return "A"
    return ""


def numbers(value: Any, path: str = "", unit: str = "") -> Iterator[tuple[str, str, float]]:
    """Every number in ``value`` as (label, unit, value); a dict's unit passes to its
    members (``volts: {L1: 230}`` is V), a list of records is labelled by their ``label``
    or ``feature`` (an anomaly's features), else by position."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        yield path, unit, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in SKIPPED:
                continue
            yield from numbers(item, f"{path} · {key}" if path else str(key), unit_of(str(key)) or unit)
    elif isinstance(value, list):
        for n, item in enumerate(value, start=1):
            name = item.get("label") or item.get("feature") if isinstance(item, dict) else None
            label = str(name) if name else f"#{n}"
            yield from numbers(item, f"{path} {label}" if path else label, unit)


def _chart(kind: str, topic: str, unit: str, points: list[tuple[str, float]]) -> Chart:
    points = points[-MAX_BARS:]
    low = min(0.0, *(v for _, v in points))
    high = max(0.0, *(v for _, v in points))
    span = (high - low) or 1.0
    zero = (0 - low) / span * 100

    def bar(label: str, value: float) -> Bar:
        end = (value - low) / span * 100
        return Bar(label, value, x=round(min(zero, end), 2), width=round(max(abs(end - zero), 0.4), 2))

    return Chart(kind, topic, unit, [bar(label, value) for label, value in points], round(zero, 2), low, high)


def charts(evidence: dict[str, Any]) -> list[Chart]:
    """The newest evidence links' numbers, one chart per link and unit (a link repeating the
    one before it adds nothing), newest first; then the site's or fleet's scope numbers."""
    sources: list[tuple[str, str, Any]] = []
    seen: list[Any] = []
    for link in reversed(evidence.get("chain") or []):
        if not isinstance(link, dict):
            continue
        found = link.get("evidence")
        if found and found not in seen:
            seen.append(found)
            sources.append((str(link.get("signal") or ""), str(link.get("topic") or ""), found))
    for scope in ("site", "fleet"):
        if isinstance(evidence.get(scope), dict):
            sources.append((scope, "", evidence[scope]))
    out: list[Chart] = []
    for kind, topic, found in sources:
        groups: dict[str, list[tuple[str, float]]] = {}
        for label, unit, value in numbers(found):
            groups.setdefault(unit, []).append((label, value))
        for unit, points in groups.items():
            out.append(_chart(kind, topic, unit, points))
            if len(out) >= MAX_CHARTS:
                return out
    return out
