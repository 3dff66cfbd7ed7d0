"""The refund form's amount: major units as people write them, to the API's minor units."""

from __future__ import annotations

import pytest

from app.console.pages.money import parse_amount


@pytest.mark.parametrize(
    "text,currency,minor",
    [("12.50", "SEK", 1250), ("12,5", "SEK", 1250), (" 1 000,00 ", "SEK", 100_000), ("7", "JPY", 7), ("", "SEK", None)],
)
def test_amounts_people_write_become_minor_units(text: str, currency: str, minor: int | None) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize("text", ["abc", "1.005", "0", "-5", "nan", "inf", "1e30", "12.5.0"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text, "SEK")
