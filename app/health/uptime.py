"""Uptime per charging port: the US NEVI figure and a monthly availability report.

A **port** is one connector (EVSE + connector). NEVI (23 CFR 680.116(b)) asks, per port,
over the trailing 12 months and reported monthly::

    µ = ((525,600 − (T_outage − T_excluded)) / 525,600) × 100

**Outage** of a port: every minute it could not charge, i.e. while any of these holds:

- its own last status (``connector_status_history`` for its EVSE and connector) is
  ``Faulted`` or ``Unavailable``;
- the same for its EVSE as a whole (connector 0 of the EVSE), or for the charge point
  (EVSE 0 / connector 0, OCPP 1.6 connector 0), which covers all its ports;
- its charge point is offline: between a ``disconnected`` and the next ``connected`` in
  ``charger_events``. A charger we cannot reach cannot be shown to work.

Overlapping causes count once (a connector Faulted while its charger is offline).
Before the first report of a stream its state is unknown and not counted as outage.

**Excluded**: outage minutes that overlap an operator-marked ``UptimeExclusion`` (a grid
failure, vandalism, ...; port, charge point or location wide), never more than the
outage itself.

**Window and proration.** The window is the 12 calendar months (UTC) ending with the
reported month; its real length stands in for 525,600 (527,040 minutes when it holds a
29 February), so µ = up minutes / window minutes, as in the monthly report. A port that
went into service inside the window is counted from then on (NEVI assumes a full year;
counting the months before it existed as either up or down would misstate it): the
denominator is the minutes it existed in the window. It went into service at its first
status report; failing that, its charge point's first connection; failing that, when the
charge point was registered.

The arithmetic is pure (``outage_intervals``, ``uptime``); ``UptimeService`` loads a
location's or operator's rows in a fixed number of queries whatever the fleet's size.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal
from xml.sax.saxutils import escape

import msgspec
from sqlalchemy import ColumnElement, ForeignKey, Index, Select, String, and_, case, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.chargers.errors import LocationNotFound
from app.chargers.models import ChargePoint, ChargerEvent, Connector, ConnectorStatusChange, Evse, Location
from app.core.database import Base, UtcDateTime, new_id, utcnow
from app.core.errors import InvalidInput, NotFound
from app.core.http import Page
from app.core.spreadsheet import to_csv
from app.drivers.models import User

# Statuses in which a port cannot charge (OCPP 1.6 and 2.0.1 alike).
DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})
NEVI_THRESHOLD_PERCENT = 97.0
NEVI_MONTHS = 12
# An availability report covers at most this many months: split a longer one.
MAX_REPORT_MONTHS = 36

ExclusionScope = Literal["port", "charge_point", "location"]
ExclusionReason = Literal[
    "grid_failure", "vandalism", "natural_disaster", "scheduled_maintenance", "vehicle_fault", "other"
]
StatusSource = Literal["port", "evse", "charge_point"]


# -- errors ---------------------------------------------------------------------------------


class ExclusionNotFound(NotFound):
    code = "uptime.exclusion_not_found"
    title = "No such uptime exclusion"


class InvalidExclusionPeriod(InvalidInput):
    code = "uptime.invalid_period"
    title = "An exclusion ends after it starts"


class UnknownExclusionTarget(InvalidInput):
    code = "uptime.unknown_target"
    title = "No such port, charge point or location"


class ExclusionNoteRequired(InvalidInput):
    code = "uptime.note_required"
    title = "Say in the note what the other reason is"


class InvalidMonth(InvalidInput):
    code = "uptime.invalid_month"
    title = "A month is YYYY-MM and not in the future"


class InvalidMonthRange(InvalidInput):
    code = "uptime.invalid_range"
    title = "The range of months is not valid"


# -- the model ------------------------------------------------------------------------------


class UptimeExclusion(Base):
    """An outage cause the operator marks as excluded from uptime (NEVI 680.116(b)(2)).

    ``target_id`` is a ``connectors.id`` (scope ``port``), ``charge_points.id`` or
    ``locations.id``; ``operator_id`` is the target's location's operator when marked.
    """

    __tablename__ = "uptime_exclusions"
    __table_args__ = (Index("ix_uptime_exclusions_target", "target_id", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# -- intervals (pure) -----------------------------------------------------------------------


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
        percent=_percent(window_s - (outage_s - excluded_s), window_s),
        outage_minutes=outage_s / 60,
        excluded_minutes=excluded_s / 60,
        window_minutes=window_s / 60,
        availability_percent=_percent(window_s - outage_s, window_s),
    )


def _percent(up_s: float, window_s: float) -> float:
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


# -- API structs ----------------------------------------------------------------------------


class PortOut(msgspec.Struct, kw_only=True, rename="camel"):
    port_id: Annotated[uuid.UUID, msgspec.Meta(description="The connector's id: targetId of a port exclusion")]
    charge_point_id: uuid.UUID
    charge_point_identity: str
    location_id: uuid.UUID | None
    location_name: str
    evse_id: Annotated[str, msgspec.Meta(description="eMI3 EVSE ID")]
    evse_number: int
    connector_number: int
    in_service_from: Annotated[
        datetime, msgspec.Meta(description="First status report; else first connection; else registration")
    ]


class PortUptimeOut(PortOut, kw_only=True, rename="camel"):
    window_start: Annotated[datetime, msgspec.Meta(description="Later than the 12 months' start if prorated")]
    window_end: datetime
    window_minutes: float
    outage_minutes: float
    excluded_minutes: float
    uptime_percent: Annotated[float | None, msgspec.Meta(description="NEVI µ; null: not in service in the window")]
    meets_nevi: Annotated[bool | None, msgspec.Meta(description="uptimePercent >= 97")]


class PortUptimeReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    month: Annotated[str, msgspec.Meta(description="The reported month, YYYY-MM (UTC)")]
    window_start: datetime
    window_end: datetime
    time_zone: str
    threshold_percent: float
    generated_at: datetime
    ports: list[PortUptimeOut]


class MonthFigureOut(msgspec.Struct, kw_only=True, rename="camel"):
    month: str
    window_minutes: Annotated[float, msgspec.Meta(description="Minutes in service in the month (so far)")]
    outage_minutes: float
    excluded_minutes: float
    availability_percent: Annotated[float | None, msgspec.Meta(description="Up minutes / minutes, no exclusions")]
    uptime_percent: Annotated[float | None, msgspec.Meta(description="The same with exclusions applied (NEVI µ)")]


class PortAvailabilityOut(PortOut, kw_only=True, rename="camel"):
    months: list[MonthFigureOut]


class LocationAvailabilityOut(msgspec.Struct, kw_only=True, rename="camel"):
    location_id: uuid.UUID
    location_name: str
    since: Annotated[str, msgspec.Meta(description="First month, YYYY-MM (UTC)")] = msgspec.field(name="from")
    until: Annotated[str, msgspec.Meta(description="Last month, YYYY-MM (UTC)")] = msgspec.field(name="to")
    time_zone: str
    threshold_percent: float
    generated_at: datetime
    site: Annotated[list[MonthFigureOut], msgspec.Meta(description="All ports together, minute-weighted")]
    ports: list[PortAvailabilityOut]


class UptimeExclusionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    scope: ExclusionScope
    target_id: Annotated[uuid.UUID, msgspec.Meta(description="A portId, charge point id or location id")]
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)]
    reason: ExclusionReason
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class UptimeExclusionOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID | None
    scope: str
    target_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    note: str
    created_by: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, e: UptimeExclusion) -> UptimeExclusionOut:
        return cls(
            id=e.id,
            operator_id=e.operator_id,
            scope=e.scope,
            target_id=e.target_id,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            reason=e.reason,
            note=e.note,
            created_by=e.created_by,
            created_at=e.created_at,
        )


class UptimeExclusionPageOut(Page, kw_only=True, rename="camel"):
    items: list[UptimeExclusionOut]


# -- CSV and SVG ----------------------------------------------------------------------------


def ports_csv(report: PortUptimeReportOut) -> str:
    header = [
        "month",
        "portId",
        "chargePointIdentity",
        "locationName",
        "evseId",
        "connectorNumber",
        "inServiceFrom",
        "windowStart",
        "windowEnd",
        "windowMinutes",
        "outageMinutes",
        "excludedMinutes",
        "uptimePercent",
        "meetsNevi",
    ]
    return to_csv(
        header,
        (
            [
                report.month,
                p.port_id,
                p.charge_point_identity,
                p.location_name,
                p.evse_id,
                p.connector_number,
                p.in_service_from,
                p.window_start,
                p.window_end,
                p.window_minutes,
                p.outage_minutes,
                p.excluded_minutes,
                p.uptime_percent,
                "" if p.meets_nevi is None else str(p.meets_nevi).lower(),
            ]
            for p in report.ports
        ),
    )


def availability_csv(report: LocationAvailabilityOut) -> str:
    """One row per month for the site, then one per port and month."""
    header = [
        "month",
        "scope",
        "portId",
        "chargePointIdentity",
        "evseId",
        "connectorNumber",
        "windowMinutes",
        "outageMinutes",
        "excludedMinutes",
        "availabilityPercent",
        "uptimePercent",
    ]

    def row(m: MonthFigureOut, scope: str, port: PortAvailabilityOut | None) -> list[object]:
        return [
            m.month,
            scope,
            port.port_id if port else "",
            port.charge_point_identity if port else "",
            port.evse_id if port else "",
            port.connector_number if port else "",
            m.window_minutes,
            m.outage_minutes,
            m.excluded_minutes,
            m.availability_percent,
            m.uptime_percent,
        ]

    rows = [row(m, "site", None) for m in report.site]
    rows += [row(m, "port", p) for p in report.ports for m in p.months]
    return to_csv(header, rows)


def availability_svg(report: LocationAvailabilityOut) -> str:
    """A bar chart of the site's uptime per month (exclusions applied, so comparable with
    the 97 % NEVI line), y from 0 to 100 %; a month with no port in service has no bar."""
    width, height = 760, 380
    left, right, top, bottom = 64, 24, 48, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    name = escape(report.location_name)

    def y(percent: float) -> float:
        return top + plot_h * (1 - percent / 100)

    months = report.site
    slot = plot_w / max(1, len(months))
    bar_w = slot * 0.7
    shown = [f"{m.month} {m.uptime_percent:.2f} %" for m in months if m.uptime_percent is not None]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        'font-family="sans-serif" font-size="12">',
        f'<title id="chart-title">Monthly uptime, {name}, {report.since} to {report.until}</title>',
        f'<desc id="chart-desc">Bar chart, one bar per month (UTC): the uptime of all ports at {name} '
        "together, operator-excluded outages not counted, against the NEVI minimum of 97 %. "
        f"{escape('; '.join(shown)) or 'No port was in service in these months.'}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
        f"Uptime per month: {name}</text>",
    ]
    for tick in range(0, 101, 20):
        ty = y(tick)
        lines.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#e0e0e0"/>'
        )
        lines.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, m in enumerate(months):
        x = left + i * slot + (slot - bar_w) / 2
        cx = left + i * slot + slot / 2
        if m.uptime_percent is not None:
            colour = "#2e7d32" if m.uptime_percent >= NEVI_THRESHOLD_PERCENT else "#c62828"
            top_y = y(m.uptime_percent)
            lines.append(
                f'<rect class="bar" data-month="{m.month}" data-percent="{m.uptime_percent}" x="{x:.1f}" '
                f'y="{top_y:.1f}" width="{bar_w:.1f}" height="{top + plot_h - top_y:.1f}" fill="{colour}">'
                f"<title>{m.month}: {m.uptime_percent:.2f} %</title></rect>"
            )
        else:
            lines.append(
                f'<text class="no-data" x="{cx:.1f}" y="{top + plot_h - 6}" text-anchor="middle" '
                f'font-size="10" fill="#757575">n/a</text>'
            )
        lines.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{m.month}</text>')
    ny = y(NEVI_THRESHOLD_PERCENT)
    lines += [
        f'<line class="nevi-threshold" x1="{left}" y1="{ny:.1f}" x2="{left + plot_w}" y2="{ny:.1f}" '
        'stroke="#1565c0" stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{left + plot_w - 4}" y="{ny - 6:.1f}" text-anchor="end" fill="#1565c0">NEVI 97 %</text>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#000000"/>',
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#000000"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 16}" text-anchor="middle">Month (UTC)</text>',
        f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">Uptime (%)</text>',
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


# -- the service ----------------------------------------------------------------------------


@dataclass
class _Port:
    """A port in view with what ``uptime`` needs over the loaded span."""

    out: PortOut
    outages: list[Interval] = field(default_factory=list)
    exclusions: list[Interval] = field(default_factory=list)


_Stream = tuple[uuid.UUID, int, int]  # charge point, EVSE number, connector number


class UptimeService:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # -- reports ----------------------------------------------------------------------------

    async def nevi(self, user: User, *, month: str | None, location_id: uuid.UUID | None) -> PortUptimeReportOut:
        """Per port, µ over the 12 months ending with ``month`` (default: the last full month)."""
        now = self.clock()
        this_month = month_start(now.year, now.month)
        last = add_months(this_month, -1) if month is None else parse_month(month, field_name="month")
        if last >= this_month:
            raise InvalidMonth(f"{month_key(last)} is not over yet", field="month")
        window = Interval(add_months(last, 1 - NEVI_MONTHS), add_months(last, 1))
        if location_id is not None:
            await self._location(user, location_id)
        ports = await self._load(user, location_id, window, until=window.end)
        rows = []
        for p in ports:
            fig = uptime(window, p.outages, p.exclusions, p.out.in_service_from)
            rows.append(
                PortUptimeOut(
                    **msgspec.structs.asdict(p.out),
                    window_start=min(max(window.start, p.out.in_service_from), window.end),
                    window_end=window.end,
                    window_minutes=round(fig.window_minutes, 2),
                    outage_minutes=round(fig.outage_minutes, 2),
                    excluded_minutes=round(fig.excluded_minutes, 2),
                    uptime_percent=fig.percent,
                    meets_nevi=None if fig.percent is None else fig.percent >= NEVI_THRESHOLD_PERCENT,
                )
            )
        return PortUptimeReportOut(
            month=month_key(last),
            window_start=window.start,
            window_end=window.end,
            time_zone="UTC",
            threshold_percent=NEVI_THRESHOLD_PERCENT,
            generated_at=now,
            ports=rows,
        )

    async def availability(
        self, user: User, location_id: uuid.UUID, *, since: str | None, until: str | None
    ) -> LocationAvailabilityOut:
        """Per month in [since, until] (default: the 12 months up to the last full one), per
        port and for the site; the current month counts up to now."""
        now = self.clock()
        this_month = month_start(now.year, now.month)
        last = add_months(this_month, -1) if until is None else parse_month(until, field_name="to")
        first = add_months(last, 1 - NEVI_MONTHS) if since is None else parse_month(since, field_name="from")
        if last > this_month:
            raise InvalidMonth(f"{month_key(last)} is in the future", field="to")
        if first > last:
            raise InvalidMonthRange("from must not be after to", field="from")
        count = (last.year - first.year) * 12 + last.month - first.month + 1
        if count > MAX_REPORT_MONTHS:
            raise InvalidMonthRange(f"a report covers at most {MAX_REPORT_MONTHS} months", field="from")
        location = await self._location(user, location_id)
        months = [month_interval(add_months(first, i)) for i in range(count)]
        span = Interval(first, add_months(last, 1))
        end = min(span.end, now)
        ports = await self._load(user, location_id, span, until=end)
        site: dict[str, list[float]] = {month_key(m.start): [0.0, 0.0, 0.0] for m in months}
        port_rows = []
        for p in ports:
            figures = []
            for m in months:
                window = Interval(m.start, min(m.end, end))
                fig = uptime(window, p.outages, p.exclusions, p.out.in_service_from)
                totals = site[month_key(m.start)]
                totals[0] += fig.window_minutes
                totals[1] += fig.outage_minutes
                totals[2] += fig.excluded_minutes
                figures.append(_month_out(month_key(m.start), fig))
            port_rows.append(PortAvailabilityOut(**msgspec.structs.asdict(p.out), months=figures))
        site_rows = [
            _month_out(
                key,
                UptimeFigure(
                    percent=_percent(w - (o - x), w) if w else None,
                    outage_minutes=o,
                    excluded_minutes=x,
                    window_minutes=w,
                    availability_percent=_percent(w - o, w) if w else None,
                ),
            )
            for key, (w, o, x) in site.items()
        ]
        return LocationAvailabilityOut(
            location_id=location.id,
            location_name=location.name,
            since=month_key(first),
            until=month_key(last),
            time_zone="UTC",
            threshold_percent=NEVI_THRESHOLD_PERCENT,
            generated_at=now,
            site=site_rows,
            ports=port_rows,
        )

    # -- exclusions -------------------------------------------------------------------------

    async def create_exclusion(self, user: User, data: UptimeExclusionIn) -> UptimeExclusion:
        if data.ends_at <= data.starts_at:
            raise InvalidExclusionPeriod("endsAt must be after startsAt", field="endsAt")
        if data.reason == "other" and not data.note.strip():
            raise ExclusionNoteRequired("reason other needs a note", field="note")
        operator_id = await self._target_operator(user, data.scope, data.target_id)
        exclusion = UptimeExclusion(
            operator_id=operator_id,
            scope=data.scope,
            target_id=data.target_id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            reason=data.reason,
            note=data.note.strip(),
            created_by=user.id,
            created_at=self.clock(),
        )
        self.db.add(exclusion)
        await self.db.commit()
        return exclusion

    async def exclusions(
        self,
        user: User,
        *,
        limit: int,
        offset: int,
        scope: ExclusionScope | None = None,
        target_id: uuid.UUID | None = None,
    ) -> tuple[list[UptimeExclusion], int]:
        """Newest start first."""
        stmt = select(UptimeExclusion)
        if user.operator_id is not None:
            stmt = stmt.where(UptimeExclusion.operator_id == user.operator_id)
        if scope is not None:
            stmt = stmt.where(UptimeExclusion.scope == scope)
        if target_id is not None:
            stmt = stmt.where(UptimeExclusion.target_id == target_id)
        total = await self.db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.db.scalars(
            stmt.order_by(UptimeExclusion.starts_at.desc(), UptimeExclusion.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def delete_exclusion(self, user: User, exclusion_id: uuid.UUID) -> None:
        exclusion = await self.db.get(UptimeExclusion, exclusion_id)
        # Another operator's exclusion is "not found", never "forbidden".
        if exclusion is None or (user.operator_id is not None and exclusion.operator_id != user.operator_id):
            raise ExclusionNotFound(f"no uptime exclusion {exclusion_id}")
        await self.db.delete(exclusion)
        await self.db.commit()

    # -- loading ----------------------------------------------------------------------------

    async def _location(self, user: User, location_id: uuid.UUID) -> Location:
        location = await self.db.get(Location, location_id)
        if location is None or (user.operator_id is not None and location.operator_id != user.operator_id):
            raise LocationNotFound(f"no location {location_id}")
        return location

    async def _target_operator(self, user: User, scope: ExclusionScope, target_id: uuid.UUID) -> uuid.UUID | None:
        """The operator of the exclusion's target; unknown (or another operator's): 422."""
        stmt: Select[uuid.UUID | None]
        if scope == "port":
            stmt = (
                select(Location.operator_id)
                .select_from(Connector)
                .join(Evse, Evse.id == Connector.evse_pk)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(Connector.id == target_id)
            )
        elif scope == "charge_point":
            stmt = (
                select(Location.operator_id)
                .select_from(ChargePoint)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(ChargePoint.id == target_id)
            )
        else:
            stmt = select(Location.operator_id).where(Location.id == target_id)
        row = (await self.db.execute(stmt)).one_or_none()
        if row is None or (user.operator_id is not None and row[0] != user.operator_id):
            raise UnknownExclusionTarget(f"no {scope.replace('_', ' ')} {target_id}", field="targetId")
        operator_id: uuid.UUID | None = row[0]
        return operator_id

    def _scope(self, user: User, location_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
        """WHERE clauses over ``ChargePoint`` (outer-joined ``Location``) for the ports in view."""
        clauses: list[ColumnElement[bool]] = []
        if location_id is not None:
            clauses.append(ChargePoint.location_id == location_id)
        if user.operator_id is not None:
            clauses.append(Location.operator_id == user.operator_id)
        return clauses

    async def _load(
        self, user: User, location_id: uuid.UUID | None, window: Interval, *, until: datetime
    ) -> list[_Port]:
        """The ports in view with their outages (up to ``until``) and exclusions over
        ``window``: six queries, whatever the number of ports."""
        where = self._scope(user, location_id)
        cp_ids = select(ChargePoint.id).outerjoin(Location, Location.id == ChargePoint.location_id).where(*where)
        end = min(window.end, until)

        # 1. the ports
        rows = await self.db.execute(
            select(
                Connector.id,
                Connector.connector_number,
                Evse.evse_number,
                Evse.evse_id,
                ChargePoint.id,
                ChargePoint.identity,
                ChargePoint.created_at,
                Location.id,
                Location.name,
            )
            .select_from(Connector)
            .join(Evse, Evse.id == Connector.evse_pk)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(*where)
            .order_by(Location.name, ChargePoint.identity, Evse.evse_number, Connector.connector_number)
        )
        port_rows = list(rows)
        if not port_rows:
            return []

        # 2-3. status reports: in the window, plus each stream's last one before it and its first ever
        H = ConnectorStatusChange
        streams: dict[_Stream, list[tuple[datetime, int, str]]] = defaultdict(list)
        first_seen: dict[_Stream, datetime] = {}
        agg = (
            select(
                H.charge_point_id.label("cp"),
                H.evse_number.label("evse"),
                H.connector_number.label("conn"),
                func.min(H.reported_at).label("first_at"),
                func.max(case((H.reported_at < window.start, H.reported_at))).label("before_at"),
            )
            .where(H.charge_point_id.in_(cp_ids), H.reported_at < end)
            .group_by(H.charge_point_id, H.evse_number, H.connector_number)
            .subquery()
        )
        before = await self.db.execute(
            select(agg.c.cp, agg.c.evse, agg.c.conn, agg.c.first_at, H.reported_at, H.id, H.status).outerjoin(
                H,
                and_(
                    H.charge_point_id == agg.c.cp,
                    H.evse_number == agg.c.evse,
                    H.connector_number == agg.c.conn,
                    H.reported_at == agg.c.before_at,
                ),
            )
        )
        for cp, evse, conn, first_at, at, row_id, status in before:
            key = (cp, evse, conn)
            first_seen[key] = _aware(first_at)
            if at is not None:
                streams[key].append((at, row_id, status))
        inside = await self.db.execute(
            select(H.charge_point_id, H.evse_number, H.connector_number, H.reported_at, H.id, H.status).where(
                H.charge_point_id.in_(cp_ids), H.reported_at >= window.start, H.reported_at < end
            )
        )
        for cp, evse, conn, at, row_id, status in inside:
            streams[(cp, evse, conn)].append((at, row_id, status))

        # 4-5. connections, the same way
        E = ChargerEvent
        links: dict[uuid.UUID, list[tuple[datetime, int, bool]]] = defaultdict(list)
        first_connected: dict[uuid.UUID, datetime] = {}
        link_kinds = ("connected", "disconnected")
        link_agg = (
            select(
                E.charge_point_id.label("cp"),
                func.min(case((E.kind == "connected", E.occurred_at))).label("first_at"),
                func.max(case((E.occurred_at < window.start, E.occurred_at))).label("before_at"),
            )
            .where(E.charge_point_id.in_(cp_ids), E.kind.in_(link_kinds), E.occurred_at < end)
            .group_by(E.charge_point_id)
            .subquery()
        )
        link_before = await self.db.execute(
            select(link_agg.c.cp, link_agg.c.first_at, E.occurred_at, E.id, E.kind).outerjoin(
                E,
                and_(
                    E.charge_point_id == link_agg.c.cp,
                    E.occurred_at == link_agg.c.before_at,
                    E.kind.in_(link_kinds),
                ),
            )
        )
        for cp, first_at, at, row_id, kind in link_before:
            if first_at is not None:
                first_connected[cp] = _aware(first_at)
            if at is not None:
                links[cp].append((at, row_id, kind == "connected"))
        link_inside = await self.db.execute(
            select(E.charge_point_id, E.occurred_at, E.id, E.kind).where(
                E.charge_point_id.in_(cp_ids),
                E.kind.in_(link_kinds),
                E.occurred_at >= window.start,
                E.occurred_at < end,
            )
        )
        for cp, at, row_id, kind in link_inside:
            links[cp].append((at, row_id, kind == "connected"))

        # 6. exclusions on any port, charge point or location in view
        targets = union(
            select(Connector.id)
            .join(Evse, Evse.id == Connector.evse_pk)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(*where),
            cp_ids,
            select(Location.id)
            .select_from(ChargePoint)
            .join(Location, Location.id == ChargePoint.location_id)
            .where(*where),
        )
        excluded: dict[uuid.UUID, list[Interval]] = defaultdict(list)
        for x in await self.db.scalars(
            select(UptimeExclusion).where(
                UptimeExclusion.target_id.in_(select(targets.subquery().c[0])),
                UptimeExclusion.starts_at < window.end,
                UptimeExclusion.ends_at > window.start,
            )
        ):
            excluded[x.target_id].append(Interval(x.starts_at, x.ends_at))

        # Same-instant reports apply in the order received.
        ordered_streams = {k: [(at, st) for at, _, st in sorted(v, key=_by_time_then_id)] for k, v in streams.items()}
        ordered_links = {k: [(at, up) for at, _, up in sorted(v, key=_by_time_then_id)] for k, v in links.items()}

        ports = []
        for conn_id, conn_no, evse_no, evse_id, cp_id, identity, cp_created, loc_id, loc_name in port_rows:
            own = (cp_id, evse_no, conn_no)
            in_service = first_seen.get(own) or first_connected.get(cp_id) or _aware(cp_created)
            samples = [StatusSample(_aware(at), st, "port") for at, st in ordered_streams.get(own, [])]
            # 2.0.1 may speak for the EVSE as a whole (connector 0); 1.6's connector 0 is the charger.
            samples += [StatusSample(_aware(at), st, "evse") for at, st in ordered_streams.get((cp_id, evse_no, 0), [])]
            samples += [
                StatusSample(_aware(at), st, "charge_point") for at, st in ordered_streams.get((cp_id, 0, 0), [])
            ]
            connectivity = [LinkSample(_aware(at), up) for at, up in ordered_links.get(cp_id, [])]
            ports.append(
                _Port(
                    out=PortOut(
                        port_id=conn_id,
                        charge_point_id=cp_id,
                        charge_point_identity=identity,
                        location_id=loc_id,
                        location_name=loc_name or "",
                        evse_id=evse_id,
                        evse_number=evse_no,
                        connector_number=conn_no,
                        in_service_from=in_service,
                    ),
                    outages=outage_intervals(samples, connectivity, until=end),
                    exclusions=[
                        *excluded.get(conn_id, []),
                        *excluded.get(cp_id, []),
                        *(excluded.get(loc_id, []) if loc_id is not None else []),
                    ],
                )
            )
        return ports


def _by_time_then_id(row: tuple[datetime, int, object]) -> tuple[datetime, int]:
    return _aware(row[0]), row[1]


def _aware(value: datetime) -> datetime:
    """Aggregates (min/max) bypass ``UtcDateTime`` on SQLite: naive UTC, or even text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _month_out(month: str, fig: UptimeFigure) -> MonthFigureOut:
    return MonthFigureOut(
        month=month,
        window_minutes=round(fig.window_minutes, 2),
        outage_minutes=round(fig.outage_minutes, 2),
        excluded_minutes=round(fig.excluded_minutes, 2),
        availability_percent=fig.availability_percent,
        uptime_percent=fig.percent,
    )
