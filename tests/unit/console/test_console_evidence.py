"""The incident page's evidence charts and the uptime page's form and chart: pure functions."""

from __future__ import annotations

import uuid

import pytest

from app.console.evidence import MAX_BARS, charts, unit_of
from app.console.pages.uptime import FormProblem, exclusion_in, site_chart
from app.uptime.schemas import MonthFigureOut


@pytest.mark.parametrize(
    "key,unit",
    [("powerW", "W"), ("energyWh", "Wh"), ("limitC", "°C"), ("celsius", "°C"), ("darkForS", "s"), ("z", "z")],
)
def test_units_are_read_from_the_detectors_key_names(key: str, unit: str) -> None:
    assert unit_of(key) == unit


def test_a_links_numbers_are_charted_per_unit_and_text_and_ids_are_left_out() -> None:
    evidence = {
        "chain": [
            {
                "signal": "overheating",
                "topic": "limit",
                "evse": 1,
                "evidence": {"celsius": 90.0, "limitC": 70, "powerW": 7200, "at": "2026-12-01T10:00:00Z"},
            }
        ]
    }
    found = {c.unit: c for c in charts(evidence)}
    assert set(found) == {"°C", "W"}
    assert [(b.label, b.value) for b in found["°C"].bars] == [("celsius", 90.0), ("limitC", 70.0)]
    assert found["°C"].bars[0].width == 100.0 and found["°C"].kind == "overheating"


def test_z_scores_below_zero_go_left_of_the_zero_line_and_repeated_evidence_is_charted_once() -> None:
    features = [{"feature": "volts", "label": "Voltage", "z": -4.0}, {"feature": "amps", "label": "Current", "z": 2.0}]
    link = {"signal": "anomaly", "evidence": {"score": 5.1, "features": features}}
    [z] = [c for c in charts({"chain": [link, link]}) if c.unit == "z"]
    assert [b.label for b in z.bars] == ["features Voltage · z", "features Current · z"]
    assert z.zero == pytest.approx(66.67)
    voltage, current = z.bars
    assert voltage.x == 0 and voltage.x + voltage.width == pytest.approx(z.zero, abs=0.01)
    assert current.x == pytest.approx(z.zero, abs=0.01)
    assert len([c for c in charts({"chain": [link, link]}) if c.unit == ""]) == 1


def test_a_long_series_keeps_its_newest_bars() -> None:
    samples = [{"powerW": float(n)} for n in range(MAX_BARS + 6)]
    [chart] = charts({"chain": [{"signal": "metering", "evidence": {"samples": samples}}]})
    assert len(chart.bars) == MAX_BARS and chart.bars[-1].value == MAX_BARS + 5


def test_the_exclusion_form_is_checked_as_the_api_checks_its_body() -> None:
    target = uuid.uuid4()
    form = {"target": f"port:{target}", "starts_at": "2026-11-02T10:00", "ends_at": "2026-11-02T12:00"}
    data = exclusion_in({**form, "reason": "vandalism"})
    assert (data.scope, data.target_id, data.starts_at.tzinfo is not None) == ("port", target, True)
    with pytest.raises(FormProblem) as bad:
        exclusion_in({**form, "reason": "aliens"})
    assert bad.value.field == "reason"
    with pytest.raises(FormProblem) as bad:
        exclusion_in({**form, "reason": "other", "ends_at": "yesterday"})
    assert bad.value.field == "ends_at"


def test_the_uptime_chart_has_bars_for_months_with_figures_and_the_nevi_line() -> None:
    def month(key: str, percent: float | None) -> MonthFigureOut:
        return MonthFigureOut(
            month=key,
            window_minutes=0.0,
            outage_minutes=0.0,
            excluded_minutes=0.0,
            availability_percent=percent,
            uptime_percent=percent,
        )

    chart = site_chart([month("2026-10", None), month("2026-11", 99.0), month("2026-12", 50.0)])
    empty, good, bad = chart.bars
    assert (empty.height, good.meets, bad.meets) == (0, True, False)
    assert good.y < chart.threshold_y < bad.y
