"""Our tariffs as OCPI 2.2.1 Tariff objects: prices excl. VAT, bands as restricted elements
ahead of the default, fees and limits."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from app.roaming.tariffs.mapping import ocpi_tariff
from app.tariffs.pricing import TariffBand, TariffTerms
from tests.ocpi_schemas import check_tariff

AT = datetime(2026, 12, 7, 15, 0, 0, 123000, tzinfo=UTC)


def _tariff(terms: TariffTerms) -> dict[str, Any]:
    tariff = ocpi_tariff(terms, tariff_id="T1", country_code="SE", party_id="LAD", last_updated=AT)
    check_tariff(tariff)  # the 2.2.1 Tariff object
    return tariff


def test_energy_price_is_excl_vat_with_the_vat_percentage() -> None:
    tariff = _tariff(TariffTerms(currency="SEK", price_per_kwh_minor=349, vat_rate_bp=2500, name="Standard"))
    assert tariff["country_code"] == "SE" and tariff["party_id"] == "LAD" and tariff["id"] == "T1"
    assert tariff["currency"] == "SEK" and tariff["type"] == "REGULAR"
    assert tariff["elements"] == [
        {"price_components": [{"type": "ENERGY", "price": 2.792, "vat": 25.0, "step_size": 1}]}
    ]
    assert tariff["last_updated"] == "2026-12-07T15:00:00.123Z"
    assert "min_price" not in tariff and "max_price" not in tariff


def test_minutes_become_hours_and_fees_join_the_default_element() -> None:
    terms = TariffTerms(
        currency="SEK",
        price_per_kwh_minor=300,
        price_per_minute_minor=10,
        session_fee_minor=500,
        idle_fee_per_minute_minor=100,
        idle_grace_minutes=30,
        vat_rate_bp=2500,
        min_price_minor=1000,
        max_price_minor=50000,
        hold_amount_minor=50000,
    )
    tariff = _tariff(terms)
    (default,) = tariff["elements"]
    assert "restrictions" not in default
    assert [(c["type"], c["price"]) for c in default["price_components"]] == [
        ("ENERGY", 2.4),
        ("TIME", 4.8),  # 0.10 SEK/min incl. VAT = 6.00 SEK/h incl. = 4.80 excl.
        ("FLAT", 4.0),
        ("PARKING_TIME", 48.0),
    ]
    assert tariff["min_price"] == {"excl_vat": 8.0, "incl_vat": 10.0}
    assert tariff["max_price"] == {"excl_vat": 400.0, "incl_vat": 500.0}
    english = next(t["text"] for t in tariff["tariff_alt_text"] if t["language"] == "en")
    assert "30 min after charging ends" in english
    assert {t["language"] for t in tariff["tariff_alt_text"]} == {"en", "sv"}


def test_bands_come_first_and_a_band_across_midnight_on_given_days_is_two_elements() -> None:
    terms = TariffTerms(
        currency="SEK",
        price_per_kwh_minor=400,
        price_per_minute_minor=5,
        vat_rate_bp=2500,
        bands=(
            TariffBand(start="22:00", end="06:00", price_per_kwh_minor=200, days=(5, 7)),
            TariffBand(start="07:00", end="09:00", price_per_minute_minor=0),
        ),
    )
    elements = _tariff(terms)["elements"]
    assert [e.get("restrictions") for e in elements] == [
        {"start_time": "22:00", "end_time": "00:00", "day_of_week": ["FRIDAY", "SUNDAY"]},
        {"start_time": "00:00", "end_time": "06:00", "day_of_week": ["SATURDAY", "MONDAY"]},
        {"start_time": "07:00", "end_time": "09:00"},
        None,
    ]
    prices = [[(c["type"], c["price"]) for c in e["price_components"]] for e in elements]
    # Each band element names both dimensions, so the base price never leaks into its hours.
    assert prices == [
        [("ENERGY", 1.6), ("TIME", 2.4)],
        [("ENERGY", 1.6), ("TIME", 2.4)],
        [("ENERGY", 3.2), ("TIME", 0.0)],
        [("ENERGY", 3.2), ("TIME", 2.4)],
    ]


def test_an_every_day_band_across_midnight_is_one_wrapping_element() -> None:
    terms = TariffTerms(
        currency="EUR",
        price_per_kwh_minor=50,
        vat_rate_bp=2500,
        bands=(TariffBand(start="22:00", end="06:00", price_per_kwh_minor=30),),
    )
    assert _tariff(terms)["elements"][0]["restrictions"] == {"start_time": "22:00", "end_time": "06:00"}


def test_a_rate_that_does_not_end_in_decimals_is_written_to_ten() -> None:
    terms = TariffTerms(currency="SEK", price_per_kwh_minor=349, vat_rate_bp=600)
    (component,) = _tariff(terms)["elements"][0]["price_components"]
    assert component["price"] == 3.2924528302 and component["vat"] == 6.0


def test_a_stored_tariffs_fields_keep_to_the_spec() -> None:
    terms = TariffTerms(id=uuid.uuid4(), currency="SEK", price_per_kwh_minor=349, vat_rate_bp=2500, name="x" * 600)
    tariff = ocpi_tariff(terms, tariff_id=str(terms.id), country_code="SE", party_id="LAD", last_updated=AT)
    assert len(tariff["id"]) <= 36
    assert all(len(t["text"]) <= 512 for t in tariff["tariff_alt_text"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z", tariff["last_updated"])
