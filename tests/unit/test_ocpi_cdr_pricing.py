"""A CDR's total is what an independent OCPI calculator makes of its own tariff and charging
periods, and what our own pricing charges the same session: the eMSP bills its driver what
our driver would pay. Many sessions are generated: energies, pauses, idle time, starts across
band boundaries, midnight and DST, fees, minimum and maximum prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.roaming.cdrs.mapping import CdrParty, build_cdr
from app.tariffs.errors import TariffInvalid
from app.tariffs.pricing import Reading, TariffBand, TariffTerms, Usage, price, validate_terms
from tests.ocpi_schemas import check_cdr
from tests.support_ocpi_tariffs import cdr_cost

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LOCATION = {
    "id": "LOC1",
    "address": "Storgatan 1",
    "city": "Uppsala",
    "country": "SWE",
    "coordinates": {"latitude": "59.858500", "longitude": "17.638900"},
    "evse_uid": "EVSE1",
    "evse_id": "SE*LAD*E1",
    "connector_id": "1",
    "connector_standard": "IEC_62196_T2",
    "connector_format": "SOCKET",
    "connector_power_type": "AC_3_PHASE",
}
PARTY = CdrParty(
    country_code="SE",
    party_id="LAD",
    cdr_id="CDR1",
    session_id="S1",
    token={"country_code": "NL", "party_id": "EMP", "uid": "U1", "type": "RFID", "contract_id": "NL-EMP-1"},
    auth_method="WHITELIST",
    authorization_reference=None,
    location=LOCATION,
    tariff_id="T1",
    tariff_updated=NOW,
)


def _cdr(terms: TariffTerms, usage: Usage) -> dict[str, Any]:
    cdr = build_cdr(PARTY, terms, usage, price(terms, usage), currency=terms.currency, now=NOW)
    # What the partner receives: the JSON text, read back.
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(cdr))
    check_cdr(decoded)  # the 2.2.1 CDR object
    return decoded


def _assert_reproduced(terms: TariffTerms, usage: Usage) -> None:
    ours = price(terms, usage)
    cdr = _cdr(terms, usage)
    excl, incl = cdr_cost(cdr, terms.time_zone).minor(terms.currency)
    scale = 10 ** (0 if terms.currency == "JPY" else 2)
    assert round(cdr["total_cost"]["incl_vat"] * scale) == ours.total_minor
    assert incl == ours.total_minor, cdr
    assert round(cdr["total_cost"]["excl_vat"] * scale) == excl, cdr
    if terms.vat_rate_bp in (0, 2500):
        # The rates whose prices excl. VAT end in decimals: the net is our receipt's too.
        assert abs(excl - ours.net_minor) <= 1
    total_kwh = sum(d["volume"] for p in cdr["charging_periods"] for d in p["dimensions"] if d["type"] == "ENERGY")
    assert abs(total_kwh - ours.energy_wh / 1000) < 1e-9
    assert abs(cdr["total_energy"] - ours.energy_wh / 1000) < 1e-9


hhmm = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45])).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")
maybe_price = st.one_of(st.none(), st.integers(0, 900))


@st.composite
def tariff_terms(draw: st.DrawFn) -> TariffTerms:
    bands: list[TariffBand] = []
    for _ in range(draw(st.integers(0, 3))):
        band = TariffBand(
            start=draw(hhmm),
            end=draw(hhmm),
            price_per_kwh_minor=draw(maybe_price),
            price_per_minute_minor=draw(st.one_of(st.none(), st.integers(0, 40))),
            days=tuple(sorted(draw(st.sets(st.integers(1, 7), max_size=7)))),
        )
        candidate = TariffTerms(currency="SEK", bands=(*bands, band))
        try:
            validate_terms(candidate)
        except TariffInvalid:
            continue  # overlapping: leave it out
        bands.append(band)
    low = draw(st.one_of(st.none(), st.integers(0, 3000)))
    high = draw(st.one_of(st.none(), st.integers(low or 0, 20000)))
    return TariffTerms(
        id=None,
        currency=draw(st.sampled_from(["SEK", "SEK", "EUR", "JPY"])),
        price_per_kwh_minor=draw(st.integers(0, 900)),
        price_per_minute_minor=draw(st.sampled_from([0, 0, 1, 7, 25])),
        session_fee_minor=draw(st.sampled_from([0, 0, 500, 333])),
        idle_fee_per_minute_minor=draw(st.sampled_from([0, 0, 100, 35])),
        idle_grace_minutes=draw(st.sampled_from([0, 5, 30])),
        vat_rate_bp=draw(st.sampled_from([2500, 2500, 0])),
        min_price_minor=low,
        max_price_minor=high,
        hold_amount_minor=low or 0,
        time_zone=draw(st.sampled_from(["Europe/Stockholm", "UTC", "America/New_York"])),
        bands=tuple(bands),
    )


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    # Any second of 2026, DST changes included.
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    at, register = start, draw(st.integers(0, 10_000_000))
    readings = [Reading(at=at, energy_wh=float(register))]
    for _ in range(draw(st.integers(0, 12))):
        at += timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        # Mostly rising; sometimes a pause, sometimes a glitch below the mark.
        register += draw(st.sampled_from([0, 1, 7, 250, 1999, 12_345, -40]))
        readings.append(Reading(at=at, energy_wh=float(max(register, 0))))
    end = at + timedelta(seconds=draw(st.integers(0, 5 * 3600)))
    order = draw(st.permutations(readings))
    return Usage(started_at=start, readings=tuple(order), ended_at=end)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=tariff_terms(), usage=usages())
def test_calculator_reproduces_the_cdr_total_and_our_price(terms: TariffTerms, usage: Usage) -> None:
    _assert_reproduced(terms, usage)


def test_energy_split_at_a_band_boundary_is_priced_on_both_sides() -> None:
    terms = TariffTerms(
        currency="SEK",
        price_per_kwh_minor=400,
        vat_rate_bp=2500,
        time_zone="Europe/Stockholm",
        bands=(TariffBand(start="22:00", end="06:00", price_per_kwh_minor=200, days=(1,)),),
    )
    # Monday 21:30 to Tuesday 06:30 local (UTC+1), one step of 9 kWh: 1/18 before 22:00.
    start = datetime(2026, 12, 7, 20, 30, tzinfo=UTC)
    usage = Usage(
        started_at=start,
        readings=(Reading(start, 0.0), Reading(start + timedelta(hours=9), 9000.0)),
        ended_at=start + timedelta(hours=9),
    )
    cdr = _cdr(terms, usage)
    starts = [p["start_date_time"] for p in cdr["charging_periods"]]
    assert starts == ["2026-12-07T20:30:00.000Z", "2026-12-07T21:00:00.000Z", "2026-12-08T05:00:00.000Z"]
    energies = [p["dimensions"][0]["volume"] for p in cdr["charging_periods"]]
    assert energies == [0.5, 8.0, 0.5]
    # 1 kWh at 4.00 and 8 kWh at 2.00 incl. VAT.
    assert cdr["total_cost"] == {"excl_vat": 16.0, "incl_vat": 20.0}
    _assert_reproduced(terms, usage)


def test_grace_and_pauses_are_periods_without_a_tariff() -> None:
    terms = TariffTerms(
        currency="SEK", price_per_kwh_minor=300, idle_fee_per_minute_minor=100, idle_grace_minutes=10, vat_rate_bp=2500
    )
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    usage = Usage(
        started_at=start,
        readings=(
            Reading(start, 1000.0),
            Reading(start + timedelta(minutes=10), 3000.0),
            Reading(start + timedelta(minutes=20), 3000.0),  # a pause
            Reading(start + timedelta(minutes=30), 5000.0),
        ),
        ended_at=start + timedelta(minutes=55),  # 25 min idle: 10 free, 15 billed
    )
    cdr = _cdr(terms, usage)
    kinds = [(p.get("tariff_id"), [d["type"] for d in p["dimensions"]]) for p in cdr["charging_periods"]]
    assert kinds == [
        ("T1", ["ENERGY", "TIME"]),
        (None, ["PARKING_TIME"]),
        ("T1", ["ENERGY", "TIME"]),
        (None, ["PARKING_TIME"]),
        ("T1", ["PARKING_TIME"]),
    ]
    # 4 kWh x 3.00 + 15 min x 1.00 = 27.00 incl. VAT.
    assert cdr["total_cost"] == {"excl_vat": 21.6, "incl_vat": 27.0}
    assert cdr["total_parking_cost"] == {"excl_vat": 12.0, "incl_vat": 15.0}
    assert abs(cdr["total_time"] - 55 / 60) < 1e-9 and abs(cdr["total_parking_time"] - 35 / 60) < 1e-9
    _assert_reproduced(terms, usage)


def test_a_session_without_energy_costs_nothing_even_with_a_fee_and_a_minimum() -> None:
    terms = TariffTerms(currency="SEK", session_fee_minor=500, min_price_minor=1000, vat_rate_bp=2500)
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    usage = Usage(started_at=start, readings=(Reading(start, 50.0),), ended_at=start + timedelta(minutes=5))
    cdr = _cdr(terms, usage)
    assert cdr["total_cost"] == {"excl_vat": 0.0, "incl_vat": 0.0}
    assert all("tariff_id" not in p for p in cdr["charging_periods"])
    assert "remark" in cdr
    _assert_reproduced(terms, usage)


def test_a_rate_whose_net_prices_do_not_end_still_bills_the_drivers_price() -> None:
    # 6 %: 3.49 / 1.06 does not end in decimals; the price is written to 10 decimals.
    terms = TariffTerms(currency="SEK", price_per_kwh_minor=349, session_fee_minor=100, vat_rate_bp=600)
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    usage = Usage(
        started_at=start,
        readings=(Reading(start, 0.0), Reading(start + timedelta(hours=1), 12_345.0)),
        ended_at=start + timedelta(hours=1),
    )
    _assert_reproduced(terms, usage)
