"""price(), price_text() and the terms' rules: worked examples by hand, then properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.tariffs.errors import TariffInvalid
from app.tariffs.pricing import (
    Price,
    Reading,
    TariffBand,
    TariffTerms,
    Usage,
    format_minor,
    largest_remainder,
    price,
    price_text,
    round_half_up,
    validate_terms,
    vat_of,
)

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
NIGHT = TariffBand(start="22:00", end="06:00", price_per_kwh_minor=249)


def sek(**kw: object) -> TariffTerms:
    base: dict[str, object] = {"currency": "SEK", "vat_rate_bp": 2500, "price_per_kwh_minor": 349}
    return TariffTerms(**{**base, **kw})  # type: ignore[arg-type]


def linear(start: datetime, minutes: int, wh: float, *, steps: int = 1, from_wh: float = 0.0) -> tuple[Reading, ...]:
    return tuple(Reading(start + i * minutes * MIN / steps, from_wh + wh * i / steps) for i in range(steps + 1))


def amounts(p: Price) -> dict[tuple[str, str | None], int]:
    return {(c.kind, c.band): c.amount_minor for c in p.components}


# -- worked examples -------------------------------------------------------------------------


def test_plain_session_energy_time_and_fee_with_vat_extracted() -> None:
    terms = sek(price_per_minute_minor=10, session_fee_minor=500)
    usage = Usage(started_at=T0, readings=linear(T0, 60, 20_000, steps=6), ended_at=T0 + 60 * MIN)
    p = price(terms, usage)
    # 20 kWh x 3.49 + 60 min x 0.10 + 5.00 = 69.80 + 6.00 + 5.00
    assert p.total_minor == 8080
    assert amounts(p) == {("energy", None): 6980, ("time", None): 600, ("session_fee", None): 500}
    # VAT inside 80.80 at 25 %: 80.80 x 25/125 = 16.16
    assert (p.vat_minor, p.net_minor) == (1616, 6464)
    assert (p.energy_wh, p.charging_seconds, p.idle_seconds) == (20_000.0, 3600.0, 0.0)


def test_night_band_from_22_in_stockholm_splits_energy_by_time() -> None:
    terms = sek(time_zone="Europe/Stockholm", bands=(NIGHT,))
    start = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)  # 21:00 CET
    usage = Usage(started_at=start, readings=linear(start, 120, 20_000), ended_at=start + 120 * MIN)
    p = price(terms, usage)
    # 21:00-22:00 at 3.49, 22:00-23:00 at 2.49, 10 kWh each
    assert amounts(p) == {("energy", None): 3490, ("energy", "22:00–06:00"): 2490}
    assert p.total_minor == 5980


def test_band_on_the_autumn_night_the_clocks_go_back_counts_real_hours() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET. 01:00 CEST (23:00Z) to 08:00 CET (07:00Z)
    # is 8 real hours, 6 of them before 06:00 CET (05:00Z).
    terms = sek(time_zone="Europe/Stockholm", bands=(NIGHT,), price_per_minute_minor=1)
    start = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    usage = Usage(started_at=start, readings=linear(start, 480, 8000, steps=8), ended_at=start + 480 * MIN)
    p = price(terms, usage)
    assert amounts(p) == {
        ("energy", None): 2 * 349,
        ("energy", "22:00–06:00"): 6 * 249,
        ("time", None): 120,
        ("time", "22:00–06:00"): 360,
    }


def test_band_starting_in_the_spring_gap_begins_when_the_clock_jumps() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z; 02:30-03:30 wall time is
    # 03:00-03:30 CEST that night, i.e. 01:00Z-01:30Z: half an hour of a 3-hour session.
    band = TariffBand(start="02:30", end="03:30", price_per_kwh_minor=0)
    terms = sek(time_zone="Europe/Stockholm", bands=(band,))
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    usage = Usage(started_at=start, readings=linear(start, 180, 3000), ended_at=start + 180 * MIN)
    p = price(terms, usage)
    energy = {c.band: c.quantity for c in p.components if c.kind == "energy"}
    assert energy == {None: 2.5, "02:30–03:30": 0.5}


def test_band_on_chosen_days_belongs_to_the_day_it_starts() -> None:
    friday_night = TariffBand(start="22:00", end="06:00", price_per_kwh_minor=100, days=(5,))
    terms = sek(bands=(friday_night,))
    saturday_2am = datetime(2026, 6, 6, 2, 0, tzinfo=UTC)  # after Friday 22:00
    sunday_2am = datetime(2026, 6, 7, 2, 0, tzinfo=UTC)  # after Saturday 22:00
    for start, unit in ((saturday_2am, 100), (sunday_2am, 349)):
        p = price(terms, Usage(started_at=start, readings=linear(start, 60, 1000), ended_at=start + 60 * MIN))
        assert p.total_minor == unit


def test_idle_fee_runs_after_the_grace_period_to_the_fraction_of_a_minute() -> None:
    terms = sek(price_per_kwh_minor=300, idle_fee_per_minute_minor=100, idle_grace_minutes=30)
    ended = T0 + 90 * MIN + timedelta(seconds=30)
    usage = Usage(started_at=T0, readings=linear(T0, 30, 10_000, steps=3), ended_at=ended)
    p = price(terms, usage)
    # charging ended at 30 min; 60.5 min idle, 30.5 of them after the grace: 30.50 SEK
    assert amounts(p) == {("energy", None): 3000, ("idle", None): 3050}
    assert p.idle_seconds == 3630.0


def test_minimum_lifts_a_small_session() -> None:
    terms = sek(min_price_minor=1000, hold_amount_minor=1000)
    p = price(terms, Usage(started_at=T0, readings=linear(T0, 10, 1000), ended_at=T0 + 10 * MIN))
    assert p.total_minor == 1000
    assert amounts(p) == {("energy", None): 349, ("minimum_adjustment", None): 651}


def test_maximum_caps_a_large_session() -> None:
    terms = sek(max_price_minor=50_000, session_fee_minor=500)
    p = price(terms, Usage(started_at=T0, readings=linear(T0, 600, 200_000), ended_at=T0 + 600 * MIN))
    assert p.total_minor == 50_000
    assert amounts(p)[("cap_adjustment", None)] == 50_000 - 69_800 - 500
    assert sum(c.amount_minor for c in p.components) == 50_000


def test_a_register_that_goes_backwards_is_never_charged_twice() -> None:
    readings = [(0, 1000), (10, 3000), (20, 500), (30, 2900), (40, 5000)]
    usage = Usage(
        started_at=T0, readings=tuple(Reading(T0 + m * MIN, wh) for m, wh in readings), ended_at=T0 + 40 * MIN
    )
    p = price(sek(), usage)
    # 1000 -> 3000 (+2000), dips to 500 and back to 2900 (nothing), -> 5000 (+2000)
    assert p.energy_wh == 4000.0
    assert p.total_minor == 4 * 349


def test_readings_out_of_order_and_duplicated_price_the_same() -> None:
    terms = sek(price_per_minute_minor=7, bands=(NIGHT,), time_zone="Europe/Stockholm")
    start = datetime(2026, 1, 15, 20, 30, tzinfo=UTC)
    readings = linear(start, 90, 12_345, steps=9)
    shuffled = [*readings, readings[3], readings[0], readings[-1]]
    random.Random(7).shuffle(shuffled)
    end = start + 100 * MIN
    assert price(terms, Usage(started_at=start, readings=tuple(shuffled), ended_at=end)) == price(
        terms, Usage(started_at=start, readings=readings, ended_at=end)
    )


def test_a_session_without_energy_costs_nothing() -> None:
    terms = sek(session_fee_minor=500, min_price_minor=1000, hold_amount_minor=30_000, idle_fee_per_minute_minor=100)
    flat = (Reading(T0, 5000), Reading(T0 + 60 * MIN, 5000))
    for readings in ((), (Reading(T0, 5000),), flat):
        p = price(terms, Usage(started_at=T0, readings=readings, ended_at=T0 + 120 * MIN))
        assert (p.total_minor, p.vat_minor, p.components) == (0, 0, ())


def test_running_session_costs_so_far_up_to_now() -> None:
    terms = sek(price_per_minute_minor=10, idle_fee_per_minute_minor=100)
    rising = Usage(started_at=T0, readings=linear(T0, 30, 5000, steps=3))
    # Still rising at the latest reading: charging until now (40 min), no idle.
    p = price(terms, rising, now=T0 + 40 * MIN)
    assert amounts(p) == {("energy", None): 5 * 349, ("time", None): 400}
    stopped = Usage(started_at=T0, readings=(*linear(T0, 30, 5000, steps=3), Reading(T0 + 35 * MIN, 5000)))
    p = price(terms, stopped, now=T0 + 40 * MIN)
    assert amounts(p) == {("energy", None): 5 * 349, ("time", None): 300, ("idle", None): 1000}
    with pytest.raises(ValueError, match="now"):
        price(terms, rising)


def test_price_text_states_every_term() -> None:
    terms = sek(
        price_per_minute_minor=10,
        session_fee_minor=500,
        idle_fee_per_minute_minor=100,
        idle_grace_minutes=30,
        min_price_minor=1000,
        max_price_minor=50_000,
        hold_amount_minor=30_000,
        bands=(NIGHT,),
    )
    assert price_text(terms) == (
        "3.49 SEK/kWh (22:00–06:00: 2.49 SEK/kWh), 0.10 SEK/min while charging, 5.00 SEK per session, "
        "idle 1.00 SEK/min after 30 min; incl. 25% VAT; min 10.00 SEK, max 500.00 SEK; "
        "300.00 SEK reserved on your card"
    )
    assert price_text(TariffTerms(currency="JPY", price_per_kwh_minor=45, vat_rate_bp=1000)) == (
        "45 JPY/kWh; incl. 10% VAT"
    )
    assert price_text(TariffTerms(currency="EUR")) == "Free"


def test_money_formatting_follows_the_currency_exponent() -> None:
    assert format_minor(349, "SEK") == "3.49 SEK"
    assert format_minor(5, "EUR") == "0.05 EUR"
    assert format_minor(1500, "JPY") == "1500 JPY"
    assert format_minor(1234, "KWD") == "1.234 KWD"


def test_vat_is_extracted_half_up_and_net_plus_vat_is_the_total() -> None:
    assert vat_of(100, 2500) == 20
    assert vat_of(1, 2500) == 0  # 0.2
    assert vat_of(3, 2500) == 1  # 0.6
    assert vat_of(10, 2500) == 2
    assert vat_of(107, 700) == 7


def test_components_are_rounded_by_largest_remainder_to_the_total() -> None:
    parts = [Fraction(1, 3), Fraction(1, 3), Fraction(1, 3)]
    assert largest_remainder(parts, 1) == [1, 0, 0]
    assert largest_remainder([Fraction(5, 2), Fraction(7, 4)], 4) == [2, 2]
    assert round_half_up(Fraction(5, 2)) == 3


def test_snapshot_json_round_trips() -> None:
    terms = sek(bands=(NIGHT, TariffBand(start="08:00", end="10:00", price_per_minute_minor=5, days=(1, 2))))
    assert TariffTerms.from_json(terms.to_json()) == terms
    assert TariffTerms.from_json(terms.to_dict()) == terms


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (sek(currency="XYZ"), "currency"),
        (sek(price_per_kwh_minor=-1), "pricePerKwhMinor"),
        (sek(vat_rate_bp=10_001), "vatRateBp"),
        (sek(min_price_minor=500, max_price_minor=400, hold_amount_minor=500), "minPriceMinor"),
        (sek(min_price_minor=500, hold_amount_minor=100), "holdAmountMinor"),
        (sek(max_price_minor=500, hold_amount_minor=600), "holdAmountMinor"),
        (sek(time_zone="Mars/Olympus"), "timeZone"),
        (sek(bands=(TariffBand(start="24:00", end="06:00"),)), "bands[0].start"),
        (sek(bands=(TariffBand(start="22:00", end="06:00", days=(8,)),)), "bands[0].days"),
        (sek(bands=(NIGHT, TariffBand(start="05:00", end="07:00"))), "bands[1]"),
        # Friday's night band runs into Saturday 03:00.
        (
            sek(
                bands=(
                    TariffBand(start="22:00", end="04:00", days=(5,)),
                    TariffBand(start="02:00", end="03:00", days=(6,)),
                )
            ),
            "bands[1]",
        ),
    ],
)
def test_invalid_terms_name_the_field(terms: TariffTerms, field: str) -> None:
    with pytest.raises(TariffInvalid) as caught:
        validate_terms(terms)
    assert caught.value.extra["field"] == field


def test_bands_on_different_days_may_share_hours() -> None:
    validate_terms(
        sek(
            bands=(
                TariffBand(start="22:00", end="04:00", days=(5,)),
                TariffBand(start="04:00", end="05:00", days=(6,)),
                TariffBand(start="22:00", end="04:00", days=(1, 2, 3, 4)),
            )
        )
    )


# -- properties ------------------------------------------------------------------------------

BAND_SETS = [
    (),
    (NIGHT,),
    (
        TariffBand(
            start="07:00", end="09:00", price_per_kwh_minor=499, price_per_minute_minor=20, days=(1, 2, 3, 4, 5)
        ),
        TariffBand(start="23:30", end="01:30", price_per_kwh_minor=99),
    ),
]


@st.composite
def tariffs(draw: st.DrawFn) -> TariffTerms:
    low = draw(st.none() | st.integers(0, 5000))
    high = draw(st.none() | st.integers(low or 0, 100_000))
    return TariffTerms(
        currency=draw(st.sampled_from(["SEK", "EUR", "JPY", "KWD"])),
        price_per_kwh_minor=draw(st.integers(0, 1000)),
        price_per_minute_minor=draw(st.integers(0, 50)),
        session_fee_minor=draw(st.integers(0, 1000)),
        idle_fee_per_minute_minor=draw(st.integers(0, 200)),
        idle_grace_minutes=draw(st.integers(0, 60)),
        vat_rate_bp=draw(st.sampled_from([0, 600, 777, 1200, 2000, 2500])),
        min_price_minor=low,
        max_price_minor=high,
        hold_amount_minor=high if high is not None else (low or 0),
        time_zone=draw(st.sampled_from(["Europe/Stockholm", "UTC", "America/New_York", "Australia/Lord_Howe"])),
        bands=draw(st.sampled_from(BAND_SETS)),
    )


# Starts around both DST changes of 2026 and an ordinary week.
STARTS = st.sampled_from(
    [datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]
).flatmap(lambda day: st.integers(0, 3 * 86_400).map(lambda s: day + timedelta(seconds=s)))


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    start = draw(STARTS)
    n = draw(st.integers(0, 8))
    offsets = sorted(draw(st.lists(st.integers(0, 12 * 3600), min_size=n, max_size=n)))
    steps = draw(st.lists(st.floats(-2000, 20_000, allow_nan=False), min_size=n, max_size=n))
    energy, readings = draw(st.floats(0, 1e6, allow_nan=False)), []
    for offset, step in zip(offsets, steps, strict=True):
        energy += step
        readings.append(Reading(start + timedelta(seconds=offset), energy))
    last = offsets[-1] if offsets else 0
    return Usage(
        started_at=start,
        readings=tuple(readings),
        ended_at=start + timedelta(seconds=last + draw(st.integers(0, 6 * 3600))),
    )


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(tariffs(), usages())
def test_price_is_whole_and_consistent(terms: TariffTerms, usage: Usage) -> None:
    p = price(terms, usage)
    assert p.total_minor >= 0
    assert p.net_minor + p.vat_minor == p.total_minor
    assert p.vat_minor == vat_of(p.total_minor, terms.vat_rate_bp)
    assert sum(c.amount_minor for c in p.components) == p.total_minor
    assert all(c.amount_minor >= 0 for c in p.components if c.kind != "cap_adjustment")
    if terms.max_price_minor is not None:
        assert p.total_minor <= terms.max_price_minor
    if p.energy_wh > 0 and terms.min_price_minor is not None:
        assert p.total_minor >= terms.min_price_minor
    if p.energy_wh == 0:
        assert p.total_minor == 0


@PROPERTY
@given(tariffs(), usages(), st.integers(0, 24 * 3600))
def test_a_later_end_never_lowers_the_price(terms: TariffTerms, usage: Usage, extra_s: int) -> None:
    assert usage.ended_at is not None
    later = Usage(
        started_at=usage.started_at, readings=usage.readings, ended_at=usage.ended_at + timedelta(seconds=extra_s)
    )
    assert price(terms, later).total_minor >= price(terms, usage).total_minor
    # The same for a running session's cost so far.
    running = Usage(started_at=usage.started_at, readings=usage.readings)
    now = usage.ended_at
    assert (
        price(terms, running, now=now + timedelta(seconds=extra_s)).total_minor
        >= price(terms, running, now=now).total_minor
    )


@PROPERTY
@given(tariffs(), usages(), st.floats(1, 10))
def test_more_energy_over_the_same_profile_never_lowers_the_price(
    terms: TariffTerms, usage: Usage, factor: float
) -> None:
    if not usage.readings:
        return
    first = usage.readings[0].energy_wh
    more = Usage(
        started_at=usage.started_at,
        readings=tuple(Reading(r.at, first + (r.energy_wh - first) * factor) for r in usage.readings),
        ended_at=usage.ended_at,
    )
    assert price(terms, more).total_minor >= price(terms, usage).total_minor


@PROPERTY
@given(tariffs(), usages(), st.randoms(use_true_random=False))
def test_order_and_duplicates_of_readings_do_not_matter(terms: TariffTerms, usage: Usage, rnd: random.Random) -> None:
    shuffled = list(usage.readings) + list(usage.readings[: rnd.randint(0, len(usage.readings))])
    rnd.shuffle(shuffled)
    again = Usage(started_at=usage.started_at, readings=tuple(shuffled), ended_at=usage.ended_at)
    assert price(terms, again) == price(terms, usage)


@PROPERTY
@given(
    st.integers(1, 999),
    st.integers(1, 200_000),
    st.integers(1, 500),
    st.integers(1, 50),
)
def test_rounding_happens_once(unit: int, wh: int, minutes: int, pieces: int) -> None:
    # Many small steps and one big step: the same exact amount, rounded once. (Every
    # step rises, so the charging minutes are the same too.)
    wh = max(wh, pieces)
    terms = TariffTerms(currency="SEK", price_per_kwh_minor=unit, price_per_minute_minor=3, vat_rate_bp=2500)
    one = Usage(started_at=T0, readings=linear(T0, minutes, wh), ended_at=T0 + minutes * MIN)
    many = Usage(
        started_at=T0,
        readings=tuple(Reading(T0 + minutes * MIN * i / pieces, wh * i // pieces) for i in range(pieces + 1)),
        ended_at=T0 + minutes * MIN,
    )
    exact = Fraction(wh, 1000) * unit + 3 * minutes
    assert price(terms, one).total_minor == price(terms, many).total_minor == round_half_up(exact)
