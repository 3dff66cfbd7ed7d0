"""The NEVI uptime formula on hand-made intervals: outages, exclusions, proration, months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.uptime.intervals import (
    Interval,
    LinkSample,
    StatusSample,
    add_months,
    month_interval,
    month_start,
    outage_intervals,
    uptime,
)

YEAR = Interval(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))  # 525,600 minutes


def at(day: int, hour: int = 0, minute: int = 0, *, month: int = 3, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iv(start: datetime, minutes: float) -> Interval:
    return Interval(start, start + timedelta(minutes=minutes))


# -- the formula --------------------------------------------------------------------------------


def test_no_outage_is_100_percent() -> None:
    fig = uptime(YEAR, [])
    assert (fig.percent, fig.outage_minutes, fig.excluded_minutes, fig.window_minutes) == (100.0, 0, 0, 525_600)


def test_5256_minutes_of_outage_in_a_year_is_99_percent() -> None:
    fig = uptime(YEAR, [iv(at(10), 5_000), iv(at(20, month=8), 256)])
    assert fig.outage_minutes == 5_256
    assert fig.percent == 99.0


def test_an_exclusion_inside_an_outage_counts_only_its_overlap() -> None:
    outage = iv(at(10, 12), 600)  # 12:00-22:00
    # Grid failure 20:00 to 02:00 the next day: 2 hours of it overlap the outage.
    exclusion = iv(at(10, 20), 360)
    fig = uptime(YEAR, [outage], [exclusion])
    assert (fig.outage_minutes, fig.excluded_minutes) == (600, 120)
    assert fig.percent == round(100 * (525_600 - 480) / 525_600, 4)
    assert fig.availability_percent == round(100 * (525_600 - 600) / 525_600, 4)


def test_an_exclusion_without_an_outage_excludes_nothing() -> None:
    fig = uptime(YEAR, [], [iv(at(1), 60 * 24 * 30)])
    assert (fig.excluded_minutes, fig.percent) == (0, 100.0)


def test_overlapping_exclusions_never_exclude_more_than_the_outage() -> None:
    outage = iv(at(10), 60)
    fig = uptime(YEAR, [outage], [iv(at(9), 60 * 48), iv(at(10), 30), iv(at(10), 90)])
    assert fig.excluded_minutes == 60
    assert fig.percent == 100.0


def test_a_port_in_service_for_3_months_is_prorated() -> None:
    window = Interval(add_months(month_start(2025, 12), -11), month_start(2026, 1))
    in_service = month_start(2025, 10)
    minutes = (month_start(2026, 1) - in_service).total_seconds() / 60  # Oct + Nov + Dec
    fig = uptime(window, [iv(at(5, month=11), 921.6)], existed_from=in_service)
    assert fig.window_minutes == minutes == 132_480
    assert fig.percent == round(100 * (132_480 - 921.6) / 132_480, 4)


def test_outage_before_the_port_existed_does_not_count() -> None:
    fig = uptime(YEAR, [iv(at(1, month=1), 60 * 24 * 59)], existed_from=at(1, month=3))  # Jan + Feb
    assert fig.outage_minutes == 0
    assert fig.percent == 100.0


def test_a_port_not_yet_in_service_has_no_figure() -> None:
    fig = uptime(YEAR, [], existed_from=datetime(2026, 2, 1, tzinfo=UTC))
    assert fig.percent is None and fig.window_minutes == 0


def test_a_leap_year_window_uses_its_real_length() -> None:
    window = Interval(month_start(2024, 1), month_start(2025, 1))
    assert uptime(window, []).window_minutes == 527_040


# -- outage intervals ---------------------------------------------------------------------------


def test_faulted_until_available_is_an_outage() -> None:
    samples = [StatusSample(at(1), "Available"), StatusSample(at(2), "Faulted"), StatusSample(at(3), "Available")]
    assert outage_intervals(samples, [], until=at(10)) == [Interval(at(2), at(3))]


def test_unavailable_counts_and_charging_does_not() -> None:
    samples = [
        StatusSample(at(1), "Charging"),
        StatusSample(at(2), "Unavailable"),
        StatusSample(at(3), "SuspendedEV"),
        StatusSample(at(4), "Unknown"),
    ]
    assert outage_intervals(samples, [], until=at(10)) == [Interval(at(2), at(3))]


def test_an_outage_still_open_runs_to_until() -> None:
    assert outage_intervals([StatusSample(at(5), "Faulted")], [], until=at(7)) == [Interval(at(5), at(7))]


def test_offline_is_an_outage() -> None:
    links = [LinkSample(at(1), True), LinkSample(at(2, 6), False), LinkSample(at(2, 8), True)]
    assert outage_intervals([StatusSample(at(1), "Available")], links, until=at(10)) == [Interval(at(2, 6), at(2, 8))]


def test_faulted_while_offline_counts_once() -> None:
    samples = [StatusSample(at(2, 6), "Faulted"), StatusSample(at(2, 12), "Available")]
    links = [LinkSample(at(2, 8), False), LinkSample(at(2, 14), True)]
    outages = outage_intervals(samples, links, until=at(10))
    assert outages == [Interval(at(2, 6), at(2, 14))]
    assert uptime(YEAR, outages).outage_minutes == 8 * 60


def test_charge_point_status_covers_its_ports() -> None:
    # The port says Available throughout; its charger (connector 0) is Unavailable for a day.
    samples = [
        StatusSample(at(1), "Available", "port"),
        StatusSample(at(1), "Available", "charge_point"),
        StatusSample(at(4), "Unavailable", "charge_point"),
        StatusSample(at(5), "Available", "charge_point"),
    ]
    assert outage_intervals(samples, [], until=at(10)) == [Interval(at(4), at(5))]


def test_the_port_stays_down_until_every_source_is_up() -> None:
    samples = [
        StatusSample(at(4), "Unavailable", "charge_point"),
        StatusSample(at(5), "Faulted", "port"),
        StatusSample(at(6), "Available", "charge_point"),
        StatusSample(at(7), "Available", "port"),
    ]
    assert outage_intervals(samples, [], until=at(10)) == [Interval(at(4), at(7))]


def test_the_last_report_at_an_instant_wins() -> None:
    samples = [StatusSample(at(4), "Faulted"), StatusSample(at(4), "Available")]
    assert outage_intervals(samples, [], until=at(10)) == []


def test_reports_after_until_are_ignored() -> None:
    assert outage_intervals([StatusSample(at(12), "Faulted")], [LinkSample(at(11), False)], until=at(10)) == []


# -- months -------------------------------------------------------------------------------------


def test_an_outage_across_a_month_boundary_is_split_between_the_months() -> None:
    outage = Interval(datetime(2025, 3, 31, 23, 0, tzinfo=UTC), datetime(2025, 4, 1, 2, 0, tzinfo=UTC))
    march, april = month_interval(month_start(2025, 3)), month_interval(month_start(2025, 4))
    assert (uptime(march, [outage]).outage_minutes, uptime(april, [outage]).outage_minutes) == (60, 120)
    assert uptime(march, [outage]).window_minutes == 31 * 24 * 60
    assert uptime(april, [outage]).window_minutes == 30 * 24 * 60


def test_add_months_crosses_years() -> None:
    assert add_months(month_start(2025, 1), -1) == month_start(2024, 12)
    assert add_months(month_start(2025, 12), 1) == month_start(2026, 1)
    assert add_months(month_start(2025, 12), -11) == month_start(2025, 1)


# -- properties ---------------------------------------------------------------------------------

_minutes = st.integers(min_value=-60 * 24 * 30, max_value=60 * 24 * 400)


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = YEAR.start + timedelta(minutes=draw(_minutes))
    return Interval(start, start + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 60))))


@given(st.lists(intervals(), max_size=8), st.lists(intervals(), max_size=4), intervals())
def test_uptime_is_a_percentage_and_more_outage_never_raises_it(
    outages: list[Interval], exclusions: list[Interval], extra: Interval
) -> None:
    fig = uptime(YEAR, outages, exclusions)
    assert fig.percent is not None
    assert 0 <= fig.percent <= 100
    assert 0 <= fig.excluded_minutes <= fig.outage_minutes <= fig.window_minutes
    assert uptime(YEAR, [*outages, extra], exclusions).percent <= fig.percent  # type: ignore[operator]
    assert uptime(YEAR, outages, [*exclusions, extra]).percent >= fig.percent  # type: ignore[operator]
