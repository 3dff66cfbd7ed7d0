"""An OCPI 2.2.1 tariff calculator, written from the text of mod_tariffs and mod_cdrs alone.

It shares no code with ``app/``: the tests hold the CDRs Laddnät makes against it, so a
mistake in our mapping cannot hide behind the same mistake here. What it follows:

- A CDR's cost is computed per charging period, with the tariff the period names in
  ``tariff_id`` (mod_cdrs ChargingPeriod: "If not provided, no Tariff is relevant during
  this period"): such a period costs nothing.
- For each dimension of a period (ENERGY, TIME, PARKING_TIME) the FIRST tariff element
  that has a price component of that dimension and whose restrictions all hold (a logical
  AND) at the period's start applies (mod_tariffs Tariff object); none: that dimension is
  free. FLAT is paid once per session, from the first element with a FLAT component whose
  restrictions hold at the start of the first period priced by the tariff.
- Restrictions: start_time/end_time (local time of the Location's ``time_zone``; end <
  start wraps to the next day; end 00:00 is the end of the day), day_of_week, start_date
  (inclusive)/end_date (exclusive), min_kwh/max_kwh (energy so far), min_duration/
  max_duration (seconds since the session started). Power, current and reservation
  restrictions never hold here (a CDR of a charging session carries no such readings).
- step_size (mod_cdrs "step_size"): once per session for ENERGY (1 Wh multiplier) and once
  for TIME and PARKING_TIME together (1 s multiplier; when parking was billed, only the
  parking total is rounded); the rounded-up rest is billed at the price of the last
  component of that kind used.
- Volumes: kWh and hours as the decimals written. Hours become seconds at the precision of
  an OCPI DateTime (milliseconds): a period is bounded by DateTimes, and "4 decimals" of an
  hour could not say a second.
- ``price`` is excl. VAT; incl. VAT is price x (1 + vat/100), no VAT when ``vat`` is
  absent. min_price and max_price bind excl. and incl. VAT each (mod_tariffs notes).
- OCPI defines no rounding of money: this calculator keeps every amount exact and rounds
  the session's totals once, half up, to the currency's minor unit (ISO 4217).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
# ISO 4217 minor units where they are not 2.
MINOR_UNITS = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"], 0),
    **dict.fromkeys(["XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def number(value: Any) -> Fraction:
    """A JSON number exactly as written (a float's shortest repr is the text it came from)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int | Decimal):
        return Fraction(value)
    return Fraction(repr(float(value)))


def ocpi_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class Moment:
    local: datetime
    energy_wh: Fraction
    duration_s: Fraction


def holds(restrictions: dict[str, Any] | None, at: Moment) -> bool:
    if not restrictions:
        return True
    r = restrictions
    if r.get("reservation") is not None:
        return False
    if any(r.get(k) is not None for k in ("min_power", "max_power", "min_current", "max_current")):
        return False
    minute = at.local.hour * 60 + at.local.minute
    start = _minutes(r["start_time"]) if r.get("start_time") else None
    end = _minutes(r["end_time"]) if r.get("end_time") else None
    if start is not None and end is not None:
        if end == 0:
            end = 1440
        if start < end:
            if not start <= minute < end:
                return False
        elif start > end:
            if not (minute >= start or minute < end):
                return False
    elif start is not None and minute < start:
        return False
    elif end is not None and end != 0 and minute >= end:
        return False
    days = r.get("day_of_week")
    if days and DAYS[at.local.weekday()] not in days:
        return False
    day = at.local.date().isoformat()
    if r.get("start_date") and day < r["start_date"]:
        return False
    if r.get("end_date") and day >= r["end_date"]:
        return False
    kwh = at.energy_wh / 1000
    if r.get("min_kwh") is not None and kwh < number(r["min_kwh"]):
        return False
    if r.get("max_kwh") is not None and kwh >= number(r["max_kwh"]):
        return False
    if r.get("min_duration") is not None and at.duration_s < r["min_duration"]:
        return False
    return not (r.get("max_duration") is not None and at.duration_s >= r["max_duration"])


def component(tariff: dict[str, Any], kind: str, at: Moment) -> dict[str, Any] | None:
    """The price component of dimension ``kind`` in force at ``at``: the first element's."""
    for element in tariff["elements"]:
        found = [c for c in element["price_components"] if c["type"] == kind]
        if found and holds(element.get("restrictions"), at):
            return found[0]
    return None


@dataclass
class _Billed:
    component: dict[str, Any]
    quantity: Fraction  # Wh, seconds or 1 (FLAT)


@dataclass(frozen=True)
class Cost:
    excl_vat: Fraction
    incl_vat: Fraction

    def minor(self, currency: str) -> tuple[int, int]:
        """Both rounded once, half up, to the currency's minor unit."""
        scale = 10 ** MINOR_UNITS.get(currency, 2)
        return (math.floor(self.excl_vat * scale + Fraction(1, 2)), math.floor(self.incl_vat * scale + Fraction(1, 2)))


def _amount(b: _Billed) -> tuple[Fraction, Fraction]:
    price = number(b.component["price"])
    kind = b.component["type"]
    if kind == "ENERGY":
        excl = b.quantity / 1000 * price
    elif kind in ("TIME", "PARKING_TIME"):
        excl = b.quantity / 3600 * price
    else:
        excl = price * b.quantity
    vat = b.component.get("vat")
    return excl, excl * (1 + number(vat) / 100) if vat is not None else excl


def _hours_to_seconds(hours: Fraction) -> Fraction:
    return Fraction(math.floor(hours * 3_600_000 + Fraction(1, 2)), 1000)


def cdr_cost(cdr: dict[str, Any], time_zone: str) -> Cost:
    """The total cost of ``cdr`` from its ``tariffs`` and ``charging_periods``;
    ``time_zone``: the IANA zone of its Location (restrictions are local time)."""
    tz = ZoneInfo(time_zone)
    tariffs = {t["id"]: t for t in cdr.get("tariffs", [])}
    session_start = ocpi_datetime(cdr["start_date_time"])
    billed: list[_Billed] = []
    flat_done: set[str] = set()
    used: list[dict[str, Any]] = []
    energy_so_far = Fraction(0)
    for period in cdr["charging_periods"]:
        start = ocpi_datetime(period["start_date_time"])
        at = Moment(
            start.astimezone(tz), energy_so_far, Fraction((start - session_start) // timedelta(microseconds=1), 10**6)
        )
        volumes = {d["type"]: number(d["volume"]) for d in period["dimensions"]}
        energy_so_far += volumes.get("ENERGY", Fraction(0)) * 1000
        tariff = tariffs.get(period.get("tariff_id") or "")
        if tariff is None:
            continue
        if tariff["id"] not in flat_done:
            flat_done.add(tariff["id"])
            used.append(tariff)
            flat = component(tariff, "FLAT", at)
            if flat is not None:
                billed.append(_Billed(flat, Fraction(1)))
        for kind, volume in volumes.items():
            if kind not in ("ENERGY", "TIME", "PARKING_TIME"):
                continue
            c = component(tariff, kind, at)
            if c is None:
                continue
            quantity = volume * 1000 if kind == "ENERGY" else _hours_to_seconds(volume)
            billed.append(_Billed(c, quantity))
    billed.extend(_step_rests(billed))
    excl = sum((_amount(b)[0] for b in billed), Fraction(0))
    incl = sum((_amount(b)[1] for b in billed), Fraction(0))
    for tariff in used:
        if tariff.get("min_price"):
            excl = max(excl, number(tariff["min_price"]["excl_vat"]))
            if tariff["min_price"].get("incl_vat") is not None:
                incl = max(incl, number(tariff["min_price"]["incl_vat"]))
        if tariff.get("max_price"):
            excl = min(excl, number(tariff["max_price"]["excl_vat"]))
            if tariff["max_price"].get("incl_vat") is not None:
                incl = min(incl, number(tariff["max_price"]["incl_vat"]))
    return Cost(excl, incl)


def _step_rests(billed: list[_Billed]) -> list[_Billed]:
    """What step_size adds: the rest up to the next step of the session's total, once for
    energy and once for time (parking only, when parking was billed)."""
    rests: list[_Billed] = []
    groups = [
        [b for b in billed if b.component["type"] == "ENERGY"],
        [b for b in billed if b.component["type"] == "PARKING_TIME"]
        or [b for b in billed if b.component["type"] == "TIME"],
    ]
    for group in groups:
        if not group:
            continue
        last = group[-1].component
        step = Fraction(int(last.get("step_size") or 1))
        total = sum((b.quantity for b in group), Fraction(0))
        rounded = math.ceil(total / step) * step
        if rounded > total:
            rests.append(_Billed(last, rounded - total))
    return rests
