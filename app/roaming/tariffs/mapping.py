"""Our tariff terms as an OCPI 2.2.1 Tariff object. Pure: no database, no clock.

How our model is said in OCPI (docs/ocpi/tariffs_cdrs.md has the whole story):

- Our prices include VAT; OCPI's ``price`` excludes it and ``vat`` is a percentage. The
  price excl. VAT is ``incl * 10000 / (10000 + vat_rate_bp)``: exact for 0 % and 25 %
  (three decimals for öre), rounded to ``PRICE_PLACES`` decimals for rates whose quotient
  does not end.
- Each time-of-day band is an element (ENERGY, and TIME when anything is priced by the
  minute) restricted to its hours and days, ahead of the unrestricted default element:
  OCPI applies the FIRST matching element of each dimension, so a band's price wins inside
  its hours and the base price everywhere else. A band that wraps midnight on given days
  is two elements (its evening on its days, its morning on the next days): OCPI's
  ``day_of_week`` is the day of the moment, ours the day the band starts.
- The session fee is FLAT, the idle fee PARKING_TIME per hour, both in the default element;
  every step_size is 1 (1 Wh, 1 s): we bill exact quantities.
- The idle grace (counted from the end of charging), free pauses and free no-energy sessions
  cannot be restrictions (OCPI only knows the session's duration): the CDR says them with
  charging periods that name no tariff, and ``tariff_alt_text`` tells the driver.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from app.roaming.envelope import timestamp
from app.tariffs.pricing import TariffBand, TariffTerms, currency_exponent, round_half_up

# Decimals of a price excl. VAT that does not end (OCPI's "number" defaults to 4; more keeps
# the driver's price when the eMSP computes incl. VAT back from it).
PRICE_PLACES = 10
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MIDNIGHT = "00:00"


def decimal(value: Fraction, places: int = PRICE_PLACES) -> float:
    """``value`` as a JSON number: exact when its decimals end within ``places``, else
    rounded half up there (a float's shortest form prints those decimals back)."""
    scaled = value * 10**places
    if scaled.denominator != 1:
        scaled = Fraction(round_half_up(scaled))
    return float(Fraction(scaled.numerator, 10**places))


def major(amount_minor: int | Fraction, currency: str) -> Fraction:
    """Minor units as an exact amount of the currency's major unit (349 öre -> 3.49)."""
    return Fraction(amount_minor) / 10 ** currency_exponent(currency)


def excl_vat(amount_incl: Fraction, vat_rate_bp: int) -> Fraction:
    return amount_incl * 10000 / (10000 + vat_rate_bp)


def unit_price(amount_minor: int, terms: TariffTerms, per: int = 1) -> Fraction:
    """A price incl. VAT in minor units (times ``per``: minutes to hours) as OCPI's price
    excl. VAT in major units, before it is written as a number."""
    return excl_vat(major(amount_minor * per, terms.currency), terms.vat_rate_bp)


def price_number(amount_minor: int, terms: TariffTerms, per: int = 1) -> float:
    return decimal(unit_price(amount_minor, terms, per))


def price_object(amount_minor: int, terms: TariffTerms) -> dict[str, float]:
    """An OCPI Price of a limit incl. VAT (min_price, max_price): excl_vat as exact as a
    unit price, so the limit binds excl. VAT where it binds incl. VAT."""
    incl = major(amount_minor, terms.currency)
    return {"excl_vat": decimal(excl_vat(incl, terms.vat_rate_bp)), "incl_vat": float(incl)}


def vat_percent(terms: TariffTerms) -> float:
    return terms.vat_rate_bp / 100


def _component(kind: str, amount_minor: int, terms: TariffTerms, per: int = 1) -> dict[str, Any]:
    return {"type": kind, "price": price_number(amount_minor, terms, per), "vat": vat_percent(terms), "step_size": 1}


def _band_restrictions(band: TariffBand) -> list[dict[str, Any] | None]:
    """The OCPI restrictions of one band: one set, or two when it wraps midnight on given
    days; None is "always" (a 24-hour band on every day)."""
    days = sorted(set(band.days))
    every_day = not days or len(days) == 7
    start, end = band.start, band.end
    if every_day:
        if start == end:
            return [None]
        return [{"start_time": start, "end_time": end}]
    names = [DAYS[d - 1] for d in days]
    if start == MIDNIGHT and end == MIDNIGHT:
        return [{"day_of_week": names}]
    if start < end:
        return [{"start_time": start, "end_time": end, "day_of_week": names}]
    # Wraps midnight (or 24 hours from ``start``): the evening on its days, the morning after.
    evening: dict[str, Any] = {"start_time": start, "end_time": MIDNIGHT, "day_of_week": names}
    morning: dict[str, Any] = {"start_time": MIDNIGHT, "end_time": end, "day_of_week": [DAYS[d % 7] for d in days]}
    return [evening, morning] if end != MIDNIGHT else [evening]


def tariff_elements(terms: TariffTerms) -> list[dict[str, Any]]:
    by_minute = terms.price_per_minute_minor > 0 or any(b.price_per_minute_minor for b in terms.bands)
    elements: list[dict[str, Any]] = []
    for band in terms.bands:
        kwh = terms.price_per_kwh_minor if band.price_per_kwh_minor is None else band.price_per_kwh_minor
        minute = terms.price_per_minute_minor if band.price_per_minute_minor is None else band.price_per_minute_minor
        components = [_component("ENERGY", kwh, terms)]
        if by_minute:
            components.append(_component("TIME", minute, terms, per=60))
        for restrictions in _band_restrictions(band):
            element: dict[str, Any] = {"price_components": components}
            if restrictions is not None:
                element["restrictions"] = restrictions
            elements.append(element)
    default = [_component("ENERGY", terms.price_per_kwh_minor, terms)]
    if by_minute:
        default.append(_component("TIME", terms.price_per_minute_minor, terms, per=60))
    if terms.session_fee_minor:
        default.append(_component("FLAT", terms.session_fee_minor, terms))
    if terms.idle_fee_per_minute_minor:
        default.append(_component("PARKING_TIME", terms.idle_fee_per_minute_minor, terms, per=60))
    elements.append({"price_components": default})
    return elements


def alt_text(terms: TariffTerms) -> list[dict[str, str]]:
    """What the elements cannot say, in English and Swedish (never the prices themselves:
    2.2.1 keeps those in the elements)."""
    en = ["Pauses while charging are free; a session that delivers no energy costs nothing."]
    sv = ["Pauser under laddningen är gratis; en session utan levererad energi kostar ingenting."]
    if terms.idle_fee_per_minute_minor and terms.idle_grace_minutes:
        en.append(f"The idle fee starts {terms.idle_grace_minutes} min after charging ends.")
        sv.append(f"Avgiften för att stå kvar börjar {terms.idle_grace_minutes} min efter att laddningen slutat.")
    name = terms.name.strip()
    return [
        {"language": "en", "text": " ".join([f"{name}:" if name else "", *en]).strip()[:512]},
        {"language": "sv", "text": " ".join([f"{name}:" if name else "", *sv]).strip()[:512]},
    ]


def ocpi_tariff(
    terms: TariffTerms, *, tariff_id: str, country_code: str, party_id: str, last_updated: datetime
) -> dict[str, Any]:
    """The OCPI 2.2.1 Tariff object of ``terms`` (a stored tariff or a session's snapshot)."""
    tariff: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "id": tariff_id,
        "currency": terms.currency,
        "type": "REGULAR",
        "tariff_alt_text": alt_text(terms),
        "elements": tariff_elements(terms),
    }
    if terms.min_price_minor:
        tariff["min_price"] = price_object(terms.min_price_minor, terms)
    if terms.max_price_minor is not None:
        tariff["max_price"] = price_object(terms.max_price_minor, terms)
    tariff["last_updated"] = timestamp(last_updated)
    return tariff
