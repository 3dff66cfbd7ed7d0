"""Tariff maths: what a charging session costs. Pure: no database, no clock.

The rules (receipts, support and the README quote them):

- Amounts are integer minor units of an ISO-4217 currency (``CURRENCY_EXPONENTS``).
  Prices are what the driver sees, VAT included.
- Every component is computed exactly (``fractions.Fraction`` of minor units); the sum
  is rounded ONCE, half up, to whole minor units: that is the total. Components are then
  shown rounded by the largest-remainder method (floor each, hand the missing units to
  the largest remainders, ties to the earlier component), so they add up to the total.
- VAT is extracted from the total: ``vat = round_half_up(total * rate / (10000 + rate))``,
  ``net = total - vat``; net + VAT = total to the unit.
- Energy counts only forward: the register's high-water mark. A reading below the
  highest one so far (a glitch, a meter reset) adds nothing until the register passes
  that mark again, so nothing is billed twice. Readings may come in any order and twice.
- A step's energy is split between time-of-day bands in proportion to the time it spends
  in each, on the wall clock of ``terms.time_zone`` (DST-safe). Outside every band the
  base prices apply. A band from 22:00 to 06:00 belongs to the day it starts on.
- Charging time runs only while energy flows: the steps between readings in which the
  register rose (pauses in between are free). A running session whose register rose at
  its latest reading is taken to be charging still, up to ``now``.
- Charging ends at the latest reading at which the register rose; idle time runs from
  there to the end (``ended_at`` or ``now``), and the idle fee applies to the part after
  the grace period, to the exact fraction of a minute.
- A session that delivered no energy costs 0: no session fee, no minimum, no idle fee
  (its hold is released; most such sessions are a charger's fault, not the driver's).
- Otherwise the minimum lifts the total and the maximum caps it, both before rounding.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.tariffs.errors import TariffInvalid

# ISO 4217 active codes. Exponent 2 unless listed in ``_EXPONENTS``.
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
    ZWL
    """.split()
)
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}
# Every amount fits a 32-bit column with room to add a session's parts.
MAX_AMOUNT_MINOR = 1_000_000_000
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_WEEK = frozenset(range(1, 8))


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (0 for JPY, 3 for KWD, else 2)."""
    return _EXPONENTS.get(currency, 2)


def format_minor(amount_minor: int, currency: str) -> str:
    """``349, "SEK"`` -> ``"3.49 SEK"``; locale-neutral (a dot, no grouping)."""
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d} {currency}" if exponent else f"{sign}{whole} {currency}"


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def _minutes_of_day(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


# -- terms -------------------------------------------------------------------------------


class TariffBand(msgspec.Struct, frozen=True, kw_only=True):
    """Prices from ``start`` to ``end`` (local "HH:MM") on ISO weekdays ``days`` (empty: all).

    ``start > end`` wraps midnight and belongs to the day it starts on; ``start == end``
    covers 24 hours. A price left None is the tariff's base price.
    """

    start: str
    end: str
    price_per_kwh_minor: int | None = None
    price_per_minute_minor: int | None = None
    days: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        span = f"{self.start}–{self.end}"
        return f"{_days_text(self.days)} {span}" if self.days and set(self.days) != _WEEK else span

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether local minute-of-day ``minute`` on ISO ``weekday`` is in this band."""
        start, end = _minutes_of_day(self.start), _minutes_of_day(self.end)
        days = self.days or _WEEK
        if start < end:
            return weekday in days and start <= minute < end
        if minute >= start:
            return weekday in days
        # The early-morning part of a band that started the evening before.
        return minute < end and (weekday - 2) % 7 + 1 in days


def _days_text(days: Iterable[int]) -> str:
    ordered = sorted(set(days))
    runs: list[list[int]] = []
    for d in ordered:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [
        f"{DAY_NAMES[r[0] - 1]}–{DAY_NAMES[r[-1] - 1]}" if len(r) >= 3 else ", ".join(DAY_NAMES[d - 1] for d in r)
        for r in runs
    ]
    return ", ".join(parts)


class TariffTerms(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that prices a session; its JSON is the snapshot a session keeps."""

    id: uuid.UUID | None = None
    # The tariff's version when this snapshot was taken (None: not a stored tariff).
    version: int | None = None
    name: str = ""
    currency: str
    price_per_kwh_minor: int = 0
    price_per_minute_minor: int = 0
    session_fee_minor: int = 0
    idle_fee_per_minute_minor: int = 0
    idle_grace_minutes: int = 0
    vat_rate_bp: int = 0
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    hold_amount_minor: int = 0
    # IANA zone of the location: the bands' clock.
    time_zone: str = "UTC"
    bands: tuple[TariffBand, ...] = ()

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any]) -> TariffTerms:
        """From JSON text, or from what a JSON column gives back (a dict)."""
        if isinstance(data, Mapping):
            return cls.from_dict(data)
        return msgspec.json.decode(data, type=cls)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (UUIDs as strings, tuples as lists)."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TariffTerms:
        return msgspec.convert(data, type=cls)


def validate_terms(terms: TariffTerms) -> None:
    """Raise ``TariffInvalid`` (with the API's field name) for the first rule broken."""
    if terms.currency not in CURRENCIES:
        raise TariffInvalid(f"{terms.currency!r} is not an ISO-4217 currency code", field="currency")
    amounts = {
        "pricePerKwhMinor": terms.price_per_kwh_minor,
        "pricePerMinuteMinor": terms.price_per_minute_minor,
        "sessionFeeMinor": terms.session_fee_minor,
        "idleFeePerMinuteMinor": terms.idle_fee_per_minute_minor,
        "idleGraceMinutes": terms.idle_grace_minutes,
        "minPriceMinor": terms.min_price_minor,
        "maxPriceMinor": terms.max_price_minor,
        "holdAmountMinor": terms.hold_amount_minor,
    }
    for field, value in amounts.items():
        if value is not None and not 0 <= value <= MAX_AMOUNT_MINOR:
            raise TariffInvalid(f"{field} must be 0 to {MAX_AMOUNT_MINOR}", field=field)
    if not 0 <= terms.vat_rate_bp <= 10000:
        raise TariffInvalid("vatRateBp is basis points, 0 to 10000 (2500 = 25 %)", field="vatRateBp")
    low, high, hold = terms.min_price_minor, terms.max_price_minor, terms.hold_amount_minor
    if low is not None and high is not None and low > high:
        raise TariffInvalid("minPriceMinor is above maxPriceMinor", field="minPriceMinor")
    if low is not None and hold < low:
        raise TariffInvalid("the hold must cover the minimum price", field="holdAmountMinor")
    # Reserving more than a session can ever cost only blocks the driver's money.
    if high is not None and hold > high:
        raise TariffInvalid("the hold is above the maximum price", field="holdAmountMinor")
    try:
        ZoneInfo(terms.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffInvalid(f"{terms.time_zone!r} is not an IANA time zone", field="timeZone") from None
    for i, band in enumerate(terms.bands):
        where = f"bands[{i}]"
        for name in ("start", "end"):
            if not _HHMM.fullmatch(getattr(band, name)):
                raise TariffInvalid(f"{where}.{name}: use HH:MM, 00:00 to 23:59", field=f"{where}.{name}")
        if any(d not in _WEEK for d in band.days) or len(set(band.days)) != len(band.days):
            raise TariffInvalid(f"{where}.days: ISO weekdays 1-7, each once", field=f"{where}.days")
        for name, value in (
            ("pricePerKwhMinor", band.price_per_kwh_minor),
            ("pricePerMinuteMinor", band.price_per_minute_minor),
        ):
            if value is not None and not 0 <= value <= MAX_AMOUNT_MINOR:
                raise TariffInvalid(f"{where}.{name} must be 0 to {MAX_AMOUNT_MINOR}", field=f"{where}.{name}")
    _check_overlaps(terms.bands)


def _check_overlaps(bands: Sequence[TariffBand]) -> None:
    # Boundaries are whole minutes, so comparing the minutes of the week is exact.
    owner: dict[tuple[int, int], int] = {}
    for i, band in enumerate(bands):
        for weekday in range(1, 8):
            for minute in range(1440):
                if band.covers(weekday, minute):
                    other = owner.setdefault((weekday, minute), i)
                    if other != i:
                        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
                        raise TariffInvalid(
                            f"bands[{i}] overlaps bands[{other}] ({DAY_NAMES[weekday - 1]} {hhmm})",
                            field=f"bands[{i}]",
                        )


# -- usage and price -----------------------------------------------------------------------


class Reading(msgspec.Struct, frozen=True):
    """The energy register (Wh, import) at an instant."""

    at: datetime
    energy_wh: float


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """What a session did; ``ended_at`` None is a running session."""

    started_at: datetime
    readings: tuple[Reading, ...] = ()
    ended_at: datetime | None = None


ComponentKind = Literal["energy", "time", "session_fee", "idle", "minimum_adjustment", "cap_adjustment"]


class PriceComponent(msgspec.Struct, frozen=True, kw_only=True):
    kind: ComponentKind
    # kWh for energy, minutes for time and idle, 1 otherwise (for display).
    quantity: float
    unit_price_minor: int
    # The time-of-day band's label; None for the base price.
    band: str | None
    amount_minor: int


class Price(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    total_minor: int  # gross, VAT included
    net_minor: int
    vat_minor: int
    vat_rate_bp: int
    energy_wh: float
    charging_seconds: float
    # From the end of charging to the end of the session, grace period included.
    idle_seconds: float
    components: tuple[PriceComponent, ...]


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: pricing needs aware instants")
    return instant.astimezone(UTC)


_US = timedelta(microseconds=1)


def _seconds(delta: timedelta) -> Fraction:
    return Fraction(delta // _US, 1_000_000)


class _Clock:
    """The bands on the location's wall clock: which band an instant is in, and how a
    stretch of time divides between them."""

    def __init__(self, terms: TariffTerms) -> None:
        self.bands = terms.bands
        self.tz = ZoneInfo(terms.time_zone)
        self.boundaries = sorted({0} | {_minutes_of_day(m) for b in self.bands for m in (b.start, b.end)})

    def band_at(self, instant: datetime) -> int | None:
        local = instant.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        weekday = local.isoweekday()
        for i, band in enumerate(self.bands):
            if band.covers(weekday, minute):
                return i
        return None

    def pieces(self, a: datetime, b: datetime) -> list[tuple[int | None, Fraction]]:
        """[a, b] as (band, seconds) pieces; an instant (a == b) is one piece of 0 s."""
        if not self.bands or a == b:
            return [(self.band_at(a) if self.bands else None, _seconds(b - a))]
        cuts = self._cuts(a, b)
        result: list[tuple[int | None, Fraction]] = []
        for c0, c1 in pairwise(cuts):
            band = self.band_at(c0 + (c1 - c0) / 2)
            if result and result[-1][0] == band:
                result[-1] = (band, result[-1][1] + _seconds(c1 - c0))
            else:
                result.append((band, _seconds(c1 - c0)))
        return result

    def _cuts(self, a: datetime, b: datetime) -> list[datetime]:
        # Every instant the wall clock shows a band boundary or midnight (both readings
        # of an hour that repeats in autumn), then the offset changes themselves: between
        # two cuts the band cannot change, so the middle instant tells it.
        cuts = {a, b}
        day = a.astimezone(self.tz).date() - timedelta(days=1)
        last = b.astimezone(self.tz).date() + timedelta(days=1)
        while day <= last:
            for minute in self.boundaries:
                for fold in (0, 1):
                    t = _local(day, minute, self.tz, fold)
                    if a < t < b:
                        cuts.add(t)
            day += timedelta(days=1)
        ordered = sorted(cuts)
        for c0, c1 in pairwise(list(ordered)):
            if self._offset(c0) != self._offset(c1):
                ordered.append(self._transition(c0, c1))
        return sorted(set(ordered))

    def _offset(self, instant: datetime) -> timedelta | None:
        return instant.astimezone(self.tz).utcoffset()

    def _transition(self, lo: datetime, hi: datetime) -> datetime:
        """The first instant in (lo, hi] with hi's UTC offset (one change per day at most)."""
        before = self._offset(lo)
        lo_us, hi_us = 0, (hi - lo) // _US
        while hi_us - lo_us > 1:
            mid = (lo_us + hi_us) // 2
            if self._offset(lo + mid * _US) == before:
                lo_us = mid
            else:
                hi_us = mid
        return lo + hi_us * _US


def _local(day: date, minute: int, tz: ZoneInfo, fold: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60, fold=fold), tzinfo=tz).astimezone(UTC)


def band_spans(terms: TariffTerms, a: datetime, b: datetime) -> list[tuple[int | None, datetime, datetime]]:
    """[a, b] cut where the time-of-day band changes, as (band index or None, from, to): the
    same cuts ``price`` makes (roaming's CDRs start a charging period at each)."""
    clock = _Clock(terms)
    a, b = _utc(a), _utc(b)
    if not terms.bands or a == b:
        return [(clock.band_at(a) if terms.bands else None, a, b)]
    spans: list[tuple[int | None, datetime, datetime]] = []
    for c0, c1 in pairwise(clock._cuts(a, b)):
        band = clock.band_at(c0 + (c1 - c0) / 2)
        if spans and spans[-1][0] == band:
            spans[-1] = (band, spans[-1][1], c1)
        else:
            spans.append((band, c0, c1))
    return spans


class _Exact(msgspec.Struct, kw_only=True):
    kind: ComponentKind
    quantity: Fraction
    unit_price_minor: int
    band: str | None
    amount: Fraction


def price(terms: TariffTerms, usage: Usage, *, now: datetime | None = None) -> Price:
    """What ``usage`` costs under ``terms``: the final price of an ended session, or a
    running session's cost so far at ``now`` (required when ``usage.ended_at`` is None).

    Readings outside [started_at, end] count at the nearest edge (charger clock skew).
    """
    running = usage.ended_at is None
    if running and now is None:
        raise ValueError("a running session is priced up to now: pass now=")
    start = _utc(usage.started_at)
    end = max(_utc(usage.ended_at if usage.ended_at is not None else now), start)  # type: ignore[arg-type]
    for r in usage.readings:
        if not math.isfinite(r.energy_wh):
            raise ValueError(f"reading at {r.at.isoformat()} is not a number: {r.energy_wh}")
    readings = sorted((min(max(_utc(r.at), start), end), Fraction(r.energy_wh)) for r in usage.readings)

    clock = _Clock(terms)
    energy_by_band: dict[int | None, Fraction] = {}
    time_by_band: dict[int | None, Fraction] = {}
    charge_end: datetime | None = None
    rising = False
    high = readings[0][1] if readings else Fraction(0)
    for (t0, _), (t1, e1) in pairwise(readings):
        rising = e1 > high
        if not rising:
            continue
        added, high, charge_end = e1 - high, e1, t1
        duration = _seconds(t1 - t0)
        for band, seconds in clock.pieces(t0, t1):
            share = added * seconds / duration if duration else added
            energy_by_band[band] = energy_by_band.get(band, Fraction(0)) + share
            time_by_band[band] = time_by_band.get(band, Fraction(0)) + seconds
    if running and rising:
        # Still charging at the latest reading: the meter lags, the car does not.
        for band, seconds in clock.pieces(readings[-1][0], end):
            time_by_band[band] = time_by_band.get(band, Fraction(0)) + seconds
        charge_end = end

    energy_wh = sum(energy_by_band.values(), Fraction(0))
    if charge_end is None or energy_wh <= 0:
        return Price(
            currency=terms.currency,
            total_minor=0,
            net_minor=0,
            vat_minor=0,
            vat_rate_bp=terms.vat_rate_bp,
            energy_wh=0.0,
            charging_seconds=0.0,
            idle_seconds=0.0,
            components=(),
        )

    order = [None, *range(len(terms.bands))]
    parts: list[_Exact] = []
    for band in order:
        wh = energy_by_band.get(band)
        if wh:
            unit = _band_price(terms, band, "kwh")
            parts.append(
                _Exact(
                    kind="energy",
                    quantity=wh / 1000,
                    unit_price_minor=unit,
                    band=_label(terms, band),
                    amount=wh / 1000 * unit,
                )
            )
    for band in order:
        spent = time_by_band.get(band)
        unit = _band_price(terms, band, "minute")
        # Energy is always on the receipt; minutes only where they cost something.
        if spent and unit:
            parts.append(
                _Exact(
                    kind="time",
                    quantity=spent / 60,
                    unit_price_minor=unit,
                    band=_label(terms, band),
                    amount=spent / 60 * unit,
                )
            )
    if terms.session_fee_minor:
        parts.append(
            _Exact(
                kind="session_fee",
                quantity=Fraction(1),
                unit_price_minor=terms.session_fee_minor,
                band=None,
                amount=Fraction(terms.session_fee_minor),
            )
        )
    idle = _seconds(end - charge_end)
    billed_idle = max(Fraction(0), idle - 60 * terms.idle_grace_minutes)
    if billed_idle and terms.idle_fee_per_minute_minor:
        parts.append(
            _Exact(
                kind="idle",
                quantity=billed_idle / 60,
                unit_price_minor=terms.idle_fee_per_minute_minor,
                band=None,
                amount=billed_idle / 60 * terms.idle_fee_per_minute_minor,
            )
        )
    subtotal = sum((p.amount for p in parts), Fraction(0))
    if terms.min_price_minor is not None and subtotal < terms.min_price_minor:
        lift = terms.min_price_minor - subtotal
        parts.append(
            _Exact(
                kind="minimum_adjustment",
                quantity=Fraction(1),
                unit_price_minor=terms.min_price_minor,
                band=None,
                amount=lift,
            )
        )
        subtotal += lift
    if terms.max_price_minor is not None and subtotal > terms.max_price_minor:
        cut = terms.max_price_minor - subtotal
        parts.append(
            _Exact(
                kind="cap_adjustment",
                quantity=Fraction(1),
                unit_price_minor=terms.max_price_minor,
                band=None,
                amount=cut,
            )
        )
        subtotal += cut

    total = round_half_up(subtotal)
    vat = vat_of(total, terms.vat_rate_bp)
    amounts = largest_remainder([p.amount for p in parts], total)
    return Price(
        currency=terms.currency,
        total_minor=total,
        net_minor=total - vat,
        vat_minor=vat,
        vat_rate_bp=terms.vat_rate_bp,
        energy_wh=float(energy_wh),
        charging_seconds=float(sum(time_by_band.values(), Fraction(0))),
        idle_seconds=float(idle),
        components=tuple(
            PriceComponent(
                kind=p.kind,
                quantity=float(p.quantity),
                unit_price_minor=p.unit_price_minor,
                band=p.band,
                amount_minor=amount,
            )
            for p, amount in zip(parts, amounts, strict=True)
        ),
    )


def vat_of(total_minor: int, vat_rate_bp: int) -> int:
    """The VAT inside a VAT-inclusive ``total_minor``, rounded half up."""
    return round_half_up(Fraction(total_minor * vat_rate_bp, 10000 + vat_rate_bp))


def largest_remainder(exact: Sequence[Fraction], total: int) -> list[int]:
    """Whole parts of ``exact`` adding up to ``total`` (which must be within len(exact)
    units of their sum): floor each, then one more unit to each of the largest remainders,
    ties to the earlier part."""
    floors = [math.floor(x) for x in exact]
    missing = total - sum(floors)
    if not 0 <= missing <= len(exact):
        raise ValueError(f"{total} is not a rounding of {float(sum(exact))}")
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:missing]:
        floors[i] += 1
    return floors


def _band_price(terms: TariffTerms, band: int | None, unit: Literal["kwh", "minute"]) -> int:
    base = terms.price_per_kwh_minor if unit == "kwh" else terms.price_per_minute_minor
    if band is None:
        return base
    b = terms.bands[band]
    override = b.price_per_kwh_minor if unit == "kwh" else b.price_per_minute_minor
    return base if override is None else override


def _label(terms: TariffTerms, band: int | None) -> str | None:
    return None if band is None else terms.bands[band].label


# -- the price as a driver reads it -------------------------------------------------------


def _percent(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def price_text(terms: TariffTerms) -> str:
    """The price before a session starts, one line, locale-neutral, e.g.
    ``3.49 SEK/kWh (22:00–06:00: 2.49 SEK/kWh), 0.10 SEK/min while charging, 5.00 SEK per
    session, idle 1.00 SEK/min after 30 min; incl. 25% VAT; min 10.00 SEK, max 500.00 SEK;
    300.00 SEK reserved on your card``."""
    cur = terms.currency

    def money(amount: int) -> str:
        return format_minor(amount, cur)

    band_kwh = [b for b in terms.bands if b.price_per_kwh_minor is not None]
    band_min = [b for b in terms.bands if b.price_per_minute_minor is not None]
    parts: list[str] = []
    if terms.price_per_kwh_minor or any(b.price_per_kwh_minor for b in band_kwh):
        text = f"{money(terms.price_per_kwh_minor)}/kWh"
        if band_kwh:
            text += " (" + ", ".join(f"{b.label}: {money(b.price_per_kwh_minor or 0)}/kWh" for b in band_kwh) + ")"
        parts.append(text)
    if terms.price_per_minute_minor or any(b.price_per_minute_minor for b in band_min):
        text = f"{money(terms.price_per_minute_minor)}/min while charging"
        if band_min:
            text += " (" + ", ".join(f"{b.label}: {money(b.price_per_minute_minor or 0)}/min" for b in band_min) + ")"
        parts.append(text)
    if terms.session_fee_minor:
        parts.append(f"{money(terms.session_fee_minor)} per session")
    if terms.idle_fee_per_minute_minor:
        grace = f" after {terms.idle_grace_minutes} min" if terms.idle_grace_minutes else ""
        parts.append(f"idle {money(terms.idle_fee_per_minute_minor)}/min{grace}")
    sections = [", ".join(parts) if parts else "Free"]
    if parts:
        sections.append(f"incl. {_percent(terms.vat_rate_bp)} VAT")
        limits = []
        if terms.min_price_minor:
            limits.append(f"min {money(terms.min_price_minor)}")
        if terms.max_price_minor is not None:
            limits.append(f"max {money(terms.max_price_minor)}")
        if limits:
            sections.append(", ".join(limits))
    if terms.hold_amount_minor:
        sections.append(f"{money(terms.hold_amount_minor)} reserved on your card")
    return "; ".join(sections)
