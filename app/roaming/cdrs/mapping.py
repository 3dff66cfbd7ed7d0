"""An ended roaming session as an OCPI 2.2.1 CDR. Pure: no database, no clock.

The money (docs/ocpi/tariffs_cdrs.md):

- ``total_cost.incl_vat`` is our own price of the session (``app.tariffs.pricing``): what
  our own driver would pay, to the minor unit.
- ``total_cost.excl_vat`` is what an OCPI calculator gets from the CDR's tariff and charging
  periods: the sum of volume x price excl. VAT, held between min_price and max_price excl.
  VAT, rounded half up to the minor unit once. For 0 % and 25 % VAT it is exactly our
  total's net part; for a rate whose unit prices do not end in decimals it may differ
  from our receipt's net by a minor unit.
- The part totals (energy, time, parking, fixed) are each rounded half up on their own
  and before min_price/max_price: they need not add up to ``total_cost``.
- Volumes are kWh and hours written with up to ``VOLUME_PLACES`` decimals, each dimension
  rounded cumulatively, so the periods add up to the totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from app.roaming.cdrs.periods import Span, spans
from app.roaming.envelope import timestamp
from app.roaming.tariffs.mapping import decimal, major, ocpi_tariff, unit_price
from app.tariffs.pricing import Price, TariffTerms, Usage, currency_exponent, round_half_up

VOLUME_PLACES = 10
LOCATION_FIELDS = {"address": 45, "city": 45, "postal_code": 10, "state": 20}


@dataclass(frozen=True)
class CdrParty:
    """Who the CDR is from and what it is about (its ids and its place)."""

    country_code: str
    party_id: str
    cdr_id: str
    session_id: str
    token: dict[str, Any]
    auth_method: str
    authorization_reference: str | None
    location: dict[str, Any]  # the CdrLocation
    tariff_id: str | None
    tariff_updated: datetime


def _published(value: float) -> Fraction:
    """A number as the receiver reads it from the JSON text."""
    return Fraction(repr(value))


def _price(amount: Fraction, places: int) -> float:
    return decimal(Fraction(round_half_up(amount * 10**places), 10**places), places)


def _money(excl: Fraction, incl: Fraction, currency: str) -> dict[str, float]:
    """Exact major-unit amounts as an OCPI Price, each rounded half up to the minor unit."""
    places = currency_exponent(currency)
    return {"excl_vat": _price(excl, places), "incl_vat": _price(incl, places)}


def _cumulative(values: list[Fraction], places: int) -> list[float]:
    """Each value rounded so that every running sum is the exact running sum rounded."""
    out: list[float] = []
    scale = 10**places
    exact, written = Fraction(0), 0
    for v in values:
        exact += v
        upto = round_half_up(exact * scale)
        out.append(decimal(Fraction(upto - written, scale), places))
        written = upto
    return out


class _Prices:
    """The unit prices of ``terms`` as our pricing uses them (incl. VAT, minor units) and as
    the CDR's tariff publishes them (excl. VAT, major units)."""

    def __init__(self, terms: TariffTerms) -> None:
        self.terms = terms

    def kwh(self, band: int | None) -> int:
        b = None if band is None else self.terms.bands[band].price_per_kwh_minor
        return self.terms.price_per_kwh_minor if b is None else b

    def minute(self, band: int | None) -> int:
        b = None if band is None else self.terms.bands[band].price_per_minute_minor
        return self.terms.price_per_minute_minor if b is None else b

    def excl(self, amount_minor: int, per: int = 1) -> Fraction:
        return _published(decimal(unit_price(amount_minor, self.terms, per)))


def build_cdr(
    party: CdrParty,
    terms: TariffTerms | None,
    usage: Usage,
    price: Price | None,
    *,
    currency: str,
    now: datetime,
    on_mismatch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The CDR of the ended session ``usage`` priced ``price`` under ``terms`` (None: the
    session had no tariff and is free). ``on_mismatch(ours, periods)`` hears of a total
    the periods do not reproduce (a bug: the CDR keeps our price)."""
    assert usage.ended_at is not None
    start, end = usage.started_at, max(usage.ended_at, usage.started_at)
    free_terms = TariffTerms(currency=currency)
    parts = spans(terms or free_terms, usage)
    if terms is None:
        parts = [Span(p.start, p.end, "free", None, p.energy_wh, p.seconds) for p in parts]

    energy_kwh = _cumulative([p.energy_wh / 1000 for p in parts], VOLUME_PLACES)
    charging_h = _cumulative([p.seconds / 3600 if p.kind == "charging" else Fraction(0) for p in parts], VOLUME_PLACES)
    parking_h = _cumulative([p.seconds / 3600 if p.kind != "charging" else Fraction(0) for p in parts], VOLUME_PLACES)
    periods: list[dict[str, Any]] = []
    for p, kwh, charging, parking in zip(parts, energy_kwh, charging_h, parking_h, strict=True):
        dimensions: list[dict[str, Any]] = []
        if p.kind == "charging":
            dimensions = [{"type": "ENERGY", "volume": kwh}, {"type": "TIME", "volume": charging}]
        else:
            dimensions = [{"type": "PARKING_TIME", "volume": parking}]
        period: dict[str, Any] = {"start_date_time": timestamp(p.start), "dimensions": dimensions}
        if p.billed and terms is not None and party.tariff_id is not None:
            period["tariff_id"] = party.tariff_id
        periods.append(period)

    cdr: dict[str, Any] = {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "id": party.cdr_id,
        "start_date_time": timestamp(start),
        "end_date_time": timestamp(end),
        "session_id": party.session_id,
        "cdr_token": party.token,
        "auth_method": party.auth_method,
    }
    if party.authorization_reference:
        cdr["authorization_reference"] = party.authorization_reference
    cdr["cdr_location"] = party.location
    cdr["currency"] = currency
    if terms is not None and party.tariff_id is not None:
        cdr["tariffs"] = [
            ocpi_tariff(
                terms,
                tariff_id=party.tariff_id,
                country_code=party.country_code,
                party_id=party.party_id,
                last_updated=party.tariff_updated,
            )
        ]
    cdr["charging_periods"] = periods
    cdr.update(_costs(terms, parts, energy_kwh, price, currency, on_mismatch))
    cdr["total_energy"] = decimal(sum((_published(k) for k in energy_kwh), Fraction(0)), VOLUME_PLACES)
    cdr["total_time"] = decimal(sum((p.seconds for p in parts), Fraction(0)) / 3600, VOLUME_PLACES)
    cdr["total_parking_time"] = decimal(sum((p.seconds for p in parts if p.kind != "charging"), Fraction(0)) / 3600)
    if all(p.kind == "free" for p in parts):
        cdr["remark"] = "No energy was delivered: the session costs nothing."
    cdr["last_updated"] = timestamp(now)
    return _ordered(cdr)


def _costs(
    terms: TariffTerms | None,
    parts: list[Span],
    energy_kwh: list[float],
    price: Price | None,
    currency: str,
    on_mismatch: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    zero = Fraction(0)
    ours = price.total_minor if price is not None else 0
    if terms is None or all(p.kind == "free" for p in parts):
        return {"total_cost": _money(zero, major(ours, currency), currency)}
    prices = _Prices(terms)
    # incl. VAT exactly as our pricing counts (minor units); excl. VAT from the published numbers.
    energy_incl = energy_excl = time_incl = time_excl = idle_incl = idle_excl = zero
    for p, kwh in zip(parts, energy_kwh, strict=True):
        if p.kind == "charging":
            energy_incl += p.energy_wh / 1000 * prices.kwh(p.band)
            energy_excl += _published(kwh) * prices.excl(prices.kwh(p.band))
            time_incl += p.seconds / 60 * prices.minute(p.band)
            time_excl += p.seconds / 3600 * prices.excl(prices.minute(p.band), per=60)
        elif p.kind == "idle":
            idle_incl += p.seconds / 60 * terms.idle_fee_per_minute_minor
            idle_excl += p.seconds / 3600 * prices.excl(terms.idle_fee_per_minute_minor, per=60)
    fee_incl = Fraction(terms.session_fee_minor)
    fee_excl = prices.excl(terms.session_fee_minor)
    incl = energy_incl + time_incl + idle_incl + fee_incl
    excl = energy_excl + time_excl + idle_excl + fee_excl
    exp = 10 ** currency_exponent(currency)
    if terms.min_price_minor:
        incl = max(incl, Fraction(terms.min_price_minor))
        excl = max(excl, prices.excl(terms.min_price_minor))
    if terms.max_price_minor is not None:
        incl = min(incl, Fraction(terms.max_price_minor))
        excl = min(excl, prices.excl(terms.max_price_minor))
    if round_half_up(incl) != ours and on_mismatch is not None:
        on_mismatch(ours, round_half_up(incl))
    costs: dict[str, Any] = {"total_cost": _money(excl, major(ours, currency), currency)}
    if terms.session_fee_minor:
        costs["total_fixed_cost"] = _money(fee_excl, fee_incl / exp, currency)
    costs["total_energy_cost"] = _money(energy_excl, energy_incl / exp, currency)
    if any(prices.minute(b) for b in (None, *range(len(terms.bands)))):
        costs["total_time_cost"] = _money(time_excl, time_incl / exp, currency)
    if terms.idle_fee_per_minute_minor:
        costs["total_parking_cost"] = _money(idle_excl, idle_incl / exp, currency)
    return costs


# The CDR's fields in the order 2.2.1 lists them (easier to read in a partner's log).
_ORDER = (
    "country_code party_id id start_date_time end_date_time session_id cdr_token auth_method "
    "authorization_reference cdr_location meter_id currency tariffs charging_periods signed_data total_cost "
    "total_fixed_cost total_energy total_energy_cost total_time total_time_cost total_parking_time "
    "total_parking_cost total_reservation_cost remark invoice_reference_id credit credit_reference_id "
    "home_charging_compensation last_updated"
).split()


def _ordered(cdr: dict[str, Any]) -> dict[str, Any]:
    return {k: cdr[k] for k in _ORDER if k in cdr}
