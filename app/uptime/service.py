"""``UptimeService``: the NEVI report, the availability report and exclusions, per operator.

A report loads the ports in view with all they need in six queries, whatever the fleet's
size, and leaves the arithmetic to ``app.uptime.intervals``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from sqlalchemy import ColumnElement, Select, and_, case, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import LocationNotFound
from app.chargers.models import ChargePoint, ChargerEvent, Connector, ConnectorStatusChange, Evse, Location
from app.core.database import scoped, utcnow
from app.uptime.errors import (
    ExclusionNoteRequired,
    ExclusionNotFound,
    InvalidExclusionPeriod,
    InvalidMonth,
    InvalidMonthRange,
    UnknownExclusionTarget,
)
from app.uptime.intervals import (
    NEVI_MONTHS,
    NEVI_THRESHOLD_PERCENT,
    Interval,
    LinkSample,
    StatusSample,
    UptimeFigure,
    add_months,
    month_interval,
    month_key,
    month_start,
    outage_intervals,
    parse_month,
    percent_of,
    uptime,
)
from app.uptime.models import UptimeExclusion
from app.uptime.schemas import (
    ExclusionScope,
    LocationAvailabilityOut,
    MonthFigureOut,
    PortAvailabilityOut,
    PortOut,
    PortUptimeOut,
    PortUptimeReportOut,
    UptimeExclusionIn,
)

# An availability report covers at most this many months: split a longer one.
MAX_REPORT_MONTHS = 36


@dataclass
class _Port:
    """A port in view with what ``uptime`` needs over the loaded span."""

    out: PortOut
    outages: list[Interval] = field(default_factory=list)
    exclusions: list[Interval] = field(default_factory=list)


_Stream = tuple[uuid.UUID, int, int]  # charge point, EVSE number, connector number


class UptimeService:
    def __init__(
        self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        """``tenant_id``: the operator company whose network the reports and exclusions
        cover (an operator request's; another's location is ``location.not_found``); None:
        every operator's, the system's view."""
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    # -- reports ----------------------------------------------------------------------------

    async def nevi(self, *, month: str | None, location_id: uuid.UUID | None) -> PortUptimeReportOut:
        """Per port, µ over the 12 months ending with ``month`` (default: the last full month)."""
        now = self.clock()
        this_month = month_start(now.year, now.month)
        last = add_months(this_month, -1) if month is None else parse_month(month, field_name="month")
        if last >= this_month:
            raise InvalidMonth(f"{month_key(last)} is not over yet", field="month")
        window = Interval(add_months(last, 1 - NEVI_MONTHS), add_months(last, 1))
        if location_id is not None:
            await self._location(location_id)
        ports = await self._load(location_id, window, until=window.end)
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
        self, location_id: uuid.UUID, *, since: str | None, until: str | None
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
        location = await self._location(location_id)
        months = [month_interval(add_months(first, i)) for i in range(count)]
        span = Interval(first, add_months(last, 1))
        end = min(span.end, now)
        ports = await self._load(location_id, span, until=end)
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
                    percent=percent_of(w - (o - x), w) if w else None,
                    outage_minutes=o,
                    excluded_minutes=x,
                    window_minutes=w,
                    availability_percent=percent_of(w - o, w) if w else None,
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

    async def create_exclusion(self, data: UptimeExclusionIn, *, by: uuid.UUID | None) -> UptimeExclusion:
        """An exclusion on one of the tenant's ports, charge points or locations (another's
        target is ``uptime.unknown_target``, as one that does not exist); ``by``: the user."""
        if data.ends_at <= data.starts_at:
            raise InvalidExclusionPeriod("endsAt must be after startsAt", field="endsAt")
        if data.reason == "other" and not data.note.strip():
            raise ExclusionNoteRequired("reason other needs a note", field="note")
        operator_id = await self._target_operator(data.scope, data.target_id)
        exclusion = UptimeExclusion(
            operator_id=operator_id,
            scope=data.scope,
            target_id=data.target_id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            reason=data.reason,
            note=data.note.strip(),
            created_by=by,
            created_at=self.clock(),
        )
        self.db.add(exclusion)
        await self.db.commit()
        return exclusion

    async def exclusions(
        self,
        *,
        limit: int,
        offset: int,
        scope: ExclusionScope | None = None,
        target_id: uuid.UUID | None = None,
    ) -> tuple[list[UptimeExclusion], int]:
        """Newest start first."""
        stmt = scoped(select(UptimeExclusion), UptimeExclusion.operator_id, self.tenant_id)
        if scope is not None:
            stmt = stmt.where(UptimeExclusion.scope == scope)
        if target_id is not None:
            stmt = stmt.where(UptimeExclusion.target_id == target_id)
        total = await self.db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.db.scalars(
            stmt.order_by(UptimeExclusion.starts_at.desc(), UptimeExclusion.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def delete_exclusion(self, exclusion_id: uuid.UUID) -> None:
        stmt = select(UptimeExclusion).where(UptimeExclusion.id == exclusion_id)
        exclusion = await self.db.scalar(scoped(stmt, UptimeExclusion.operator_id, self.tenant_id))
        # Another operator's exclusion is "not found", never "forbidden".
        if exclusion is None:
            raise ExclusionNotFound(f"no uptime exclusion {exclusion_id}")
        await self.db.delete(exclusion)
        await self.db.commit()

    # -- loading ----------------------------------------------------------------------------

    async def _location(self, location_id: uuid.UUID) -> Location:
        stmt = select(Location).where(Location.id == location_id)
        location = await self.db.scalar(scoped(stmt, Location.operator_id, self.tenant_id))
        if location is None:
            raise LocationNotFound(f"no location {location_id}")
        return location

    async def _target_operator(self, scope: ExclusionScope, target_id: uuid.UUID) -> uuid.UUID | None:
        """The operator of the exclusion's target (a port's or charge point's is the charge
        point's own); unknown, or another tenant's: 422, the same answer."""
        stmt: Select[uuid.UUID | None]
        if scope == "port":
            stmt = scoped(
                select(ChargePoint.operator_id)
                .select_from(Connector)
                .join(Evse, Evse.id == Connector.evse_pk)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .where(Connector.id == target_id),
                ChargePoint.operator_id,
                self.tenant_id,
            )
        elif scope == "charge_point":
            stmt = scoped(
                select(ChargePoint.operator_id).where(ChargePoint.id == target_id),
                ChargePoint.operator_id,
                self.tenant_id,
            )
        else:
            stmt = scoped(
                select(Location.operator_id).where(Location.id == target_id), Location.operator_id, self.tenant_id
            )
        row = (await self.db.execute(stmt)).one_or_none()
        if row is None:
            raise UnknownExclusionTarget(f"no {scope.replace('_', ' ')} {target_id}", field="targetId")
        operator_id: uuid.UUID | None = row[0]
        return operator_id

    def _scope(self, location_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
        """WHERE clauses over ``ChargePoint`` (outer-joined ``Location``) for the ports in
        view: the tenant's chargers'."""
        clauses: list[ColumnElement[bool]] = []
        if location_id is not None:
            clauses.append(ChargePoint.location_id == location_id)
        if self.tenant_id is not None:
            clauses.append(ChargePoint.operator_id == self.tenant_id)
        return clauses

    async def _load(self, location_id: uuid.UUID | None, window: Interval, *, until: datetime) -> list[_Port]:
        """The ports in view with their outages (up to ``until``) and exclusions over
        ``window``: six queries, whatever the number of ports."""
        where = self._scope(location_id)
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
