"""The NEVI arithmetic, pure: outage intervals from status and link samples, µ over a
window with exclusions and proration, and UTC calendar months. No I/O; the definitions
are in the package docstring."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from app.uptime.errors import InvalidMonth

# Statuses in which a port cannot charge (OCPP 1.6 and 2.0.1 alike).
DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})
NEVI_THRESHOLD_PERCENT = 97.0
NEVI_MONTHS = 12

StatusSource = Literal["port", "evse", "charge_point"]


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """[start, end): aware UTC."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class StatusSample:
    """One status report; ``source`` says whose: the port's, its EVSE's or the charge point's."""

    at: datetime
    status: str
    source: StatusSource = "port"


@dataclass(frozen=True, slots=True)
class LinkSample:
    """The charge point connected (``True``) or disconnected at ``at``."""

    at: datetime
    connected: bool


@dataclass(frozen=True, slots=True)
class UptimeFigure:
    """``percent`` is NEVI's µ (exclusions applied), ``availability_percent`` the same
    without them; both None when the port did not exist in the window."""

    percent: float | None
    outage_minutes: float
    excluded_minutes: float
    window_minutes: float
    availability_percent: float | None = None


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-empty intervals covering the same instants."""
    merged: list[Interval] = []
    for iv in sorted(i for i in intervals if i.end > i.start):
        if merged and iv.start <= merged[-1].end:
            if iv.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, iv.end)
        else:
            merged.append(iv)
    return merged


def clip(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    return [
        Interval(max(i.start, window.start), min(i.end, window.end))
        for i in intervals
        if i.end > window.start and i.start < window.end
    ]


def overlap_seconds(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Seconds in both; each list sorted and disjoint (``merge``)."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if end > start:
            total += (end - start).total_seconds()
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1
    return total


def outage_intervals(
    status_changes: Iterable[StatusSample], connectivity: Iterable[LinkSample], *, until: datetime
) -> list[Interval]:
    """When the port could not charge, up to ``until``: merged, sorted.

    Each source (the port, its EVSE, the charge point, the link) holds its last state
    until its next sample; the port is down while any source is. Samples at the same
    instant apply in the order given; samples at or after ``until`` are ignored.
    """
    events: list[tuple[datetime, Hashable, bool]] = [
        (s.at, s.source, s.status in DOWN_STATUSES) for s in status_changes if s.at < until
    ]
    events += [(c.at, "link", not c.connected) for c in connectivity if c.at < until]
    events.sort(key=lambda e: e[0])  # stable: same-instant samples keep their order
    state: dict[Hashable, bool] = {}
    outages: list[Interval] = []
    down_since: datetime | None = None
    i = 0
    while i < len(events):
        at = events[i][0]
        while i < len(events) and events[i][0] == at:
            state[events[i][1]] = events[i][2]
            i += 1
        down = any(state.values())
        if down and down_since is None:
            down_since = at
        elif not down and down_since is not None:
            outages.append(Interval(down_since, at))
            down_since = None
    if down_since is not None:
        outages.append(Interval(down_since, until))
    return merge(outages)


def uptime(
    window: Interval,
    outages: Iterable[Interval],
    exclusions: Iterable[Interval] = (),
    existed_from: datetime | None = None,
) -> UptimeFigure:
    """NEVI's µ over ``window``, prorated to the part after ``existed_from``."""
    start = window.start if existed_from is None else max(window.start, existed_from)
    if start >= window.end:
        return UptimeFigure(percent=None, outage_minutes=0.0, excluded_minutes=0.0, window_minutes=0.0)
    span = Interval(start, window.end)
    down = merge(clip(outages, span))
    outage_s = sum(i.seconds for i in down)
    excluded_s = overlap_seconds(down, merge(exclusions))
    window_s = span.seconds
    return UptimeFigure(
        percent=percent_of(window_s - (outage_s - excluded_s), window_s),
        outage_minutes=outage_s / 60,
        excluded_minutes=excluded_s / 60,
        window_minutes=window_s / 60,
        availability_percent=percent_of(window_s - outage_s, window_s),
    )


def percent_of(up_s: float, window_s: float) -> float:
    # 4 decimals: a minute in a year is 0.00019 %; rounding never reorders two figures.
    return round(100 * up_s / window_s, 4)


# -- months (UTC) ---------------------------------------------------------------------------


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def add_months(instant: datetime, months: int) -> datetime:
    index = instant.year * 12 + instant.month - 1 + months
    return month_start(index // 12, index % 12 + 1)


def month_interval(first: datetime) -> Interval:
    return Interval(first, add_months(first, 1))


def parse_month(text: str, *, field_name: str) -> datetime:
    """``YYYY-MM`` -> the first instant of that month, UTC."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", text):
            raise ValueError(text)
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise InvalidMonth(f"{field_name}: {text!r} is not a month (YYYY-MM)", field=field_name) from None
    return month_start(parsed.year, parsed.month)


def month_key(first: datetime) -> str:
    return f"{first:%Y-%m}"
