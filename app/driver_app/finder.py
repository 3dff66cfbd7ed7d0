"""Finding a charger, as a driver sees it: locations near a point, and one EVSE by its ID.

A search costs the same five queries whatever the fleet's size or the page's:

1. candidates: id and coordinates of the locations inside a bounding box around the point
   (a range scan on ``ix_locations_lat_lon``) that have an EVSE matching the filters;
   then, in Python, the exact (haversine) distance, the radius, the order and the page;
2. the page's locations;
3. their matching EVSEs with their charger's connection state;
4. those EVSEs' connectors;
5. the tariffs in force for them, EVSE, location and operator level at once.

Health is said in the driver's terms (``health_of``, evse_health.py); ``available_now``
filters in SQL on exactly what ``health_of`` calls ``working``. An open incident that keeps
drivers away (app/health/driver_impact.py) makes the EVSE out of order, read in query 3 as
a subquery.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.chargers.errors import EvseNotFound
from app.chargers.evse_ids import spellings
from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.driver_app.evse_health import (
    CannotStart,
    ConnectorView,
    Health,
    can_start,
    health_of,
    incidents_sql,
    working_sql,
)
from app.driver_app.geometry import bounding_box, distance_km
from app.tariffs import TariffTerms, price_text
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.service import DEFAULT_TIME_ZONE, terms_of

# What the app may offer to pay with when a tariff asks for a hold.
PAYMENT_METHODS = ("card", "apple_pay", "google_pay")


@dataclass(frozen=True, slots=True)
class EvseView:
    evse_id: str
    status: str
    health: Health
    connectors: tuple[ConnectorView, ...]
    # None: no tariff applies (at the EVSE, its location or its operator).
    terms: TariffTerms | None

    @property
    def price_text(self) -> str | None:
        return price_text(self.terms) if self.terms is not None else None


@dataclass(frozen=True, slots=True)
class LocationHit:
    location: Location
    distance_km: float
    evses: tuple[EvseView, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[LocationHit]
    total: int


@dataclass(frozen=True, slots=True)
class Payment:
    required: bool
    hold_amount_minor: int | None
    currency: str | None
    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvseDetail:
    evse: EvseView
    location: Location | None
    payment: Payment
    can_start: bool
    reason: CannotStart | None


def payment_for(terms: TariffTerms | None) -> Payment:
    """What a driver must provide before starting: a card hold when the tariff charges."""
    if terms is None or _free(terms):
        return Payment(required=False, hold_amount_minor=None, currency=None, methods=())
    return Payment(
        required=True, hold_amount_minor=terms.hold_amount_minor, currency=terms.currency, methods=PAYMENT_METHODS
    )


def _free(terms: TariffTerms) -> bool:
    prices = (
        terms.price_per_kwh_minor,
        terms.price_per_minute_minor,
        terms.session_fee_minor,
        terms.idle_fee_per_minute_minor,
        terms.min_price_minor or 0,
        terms.hold_amount_minor,
        *(b.price_per_kwh_minor or 0 for b in terms.bands),
        *(b.price_per_minute_minor or 0 for b in terms.bands),
    )
    return not any(prices)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    lat: float
    lon: float
    radius_km: float
    standard: str | None = None
    min_kw: float | None = None
    available_now: bool = False
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class _EvseRow:
    pk: uuid.UUID
    evse_id: str
    status: str
    status_updated_at: datetime | None
    location_id: uuid.UUID | None
    connected: bool
    last_seen_at: datetime | None
    incident_cause: str | None


class ChargerFinder:
    """Read-only: never writes, never commits."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def near(self, query: SearchQuery) -> SearchPage:
        """Locations within ``radius_km`` of the point that have an EVSE matching the
        filters, nearest first; each with its matching EVSEs only."""
        evse_ok = self._evse_conditions(query)
        lat_min, lat_max, lon_ranges = bounding_box(query.lat, query.lon, query.radius_km)
        has_evse = (
            select(Evse.id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.location_id == Location.id, *evse_ok)
            .exists()
        )
        candidates = await self.db.execute(
            select(Location.id, Location.latitude, Location.longitude).where(
                Location.latitude.between(lat_min, lat_max),
                or_(*(Location.longitude.between(lo, hi) for lo, hi in lon_ranges)),
                has_evse,
            )
        )
        within: list[tuple[float, uuid.UUID]] = []
        for location_id, lat, lon in candidates:
            if lat is None or lon is None:  # not after the box's BETWEEN; for the type checker
                continue
            d = distance_km(query.lat, query.lon, lat, lon)
            if d <= query.radius_km:
                within.append((d, location_id))
        within.sort(key=lambda pair: (pair[0], str(pair[1])))
        page = within[query.offset : query.offset + query.limit]
        if not page:
            return SearchPage(hits=[], total=len(within))
        ids = [location_id for _, location_id in page]
        locations = {loc.id: loc for loc in await self.db.scalars(select(Location).where(Location.id.in_(ids)))}
        evses = await self._evses(ChargePoint.location_id.in_(ids), *evse_ok)
        views = await self._views(evses, locations)
        by_location: dict[uuid.UUID, list[EvseView]] = defaultdict(list)
        for row, view in zip(evses, views, strict=True):
            if row.location_id is not None:
                by_location[row.location_id].append(view)
        hits = [
            LocationHit(location=locations[location_id], distance_km=d, evses=tuple(by_location[location_id]))
            for d, location_id in page
        ]
        return SearchPage(hits=hits, total=len(within))

    async def evse(self, evse_id: str) -> EvseDetail:
        """The EVSE with eMI3 ID ``evse_id``, any letter case, as a driver who scanned it
        needs it; EvseNotFound if there is none.

        Our eMI3 IDs are upper case (country, party, ``E`` + number), so the lookup stays
        on the unique index: the ID as given or upper-cased.
        """
        rows = await self._evses(Evse.evse_id.in_(spellings(evse_id)))
        if not rows:
            raise EvseNotFound(f"no EVSE {evse_id!r}")
        row = rows[0]
        location = await self.db.get(Location, row.location_id) if row.location_id is not None else None
        (view,) = await self._views([row], {location.id: location} if location is not None else {})
        ok, reason = can_start(view.health, view.status, view.connectors)
        return EvseDetail(evse=view, location=location, payment=payment_for(view.terms), can_start=ok, reason=reason)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _evse_conditions(query: SearchQuery) -> list[ColumnElement[bool]]:
        """Conditions on ``Evse`` (joined to its ``ChargePoint``) for the query's filters."""
        conditions: list[ColumnElement[bool]] = []
        if query.standard is not None or query.min_kw is not None:
            # The standard and the power on the same connector.
            plug = aliased(Connector)
            wanted: list[ColumnElement[bool]] = [plug.evse_pk == Evse.id]
            if query.standard is not None:
                wanted.append(plug.standard == query.standard)
            if query.min_kw is not None:
                wanted.append(plug.max_kw >= query.min_kw)
            conditions.append(exists().where(*wanted))
        if query.available_now:
            conditions.append(working_sql())
        return conditions

    async def _evses(self, *where: ColumnElement[bool]) -> list[_EvseRow]:
        rows = await self.db.execute(
            select(
                Evse.id,
                Evse.evse_id,
                Evse.status,
                Evse.status_updated_at,
                ChargePoint.location_id,
                ChargePoint.connected,
                ChargePoint.last_seen_at,
                incidents_sql().limit(1).scalar_subquery(),
            )
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(*where)
            .order_by(ChargePoint.number, Evse.evse_number)
        )
        return [_EvseRow(*row) for row in rows]

    async def _views(self, evses: Sequence[_EvseRow], locations: dict[uuid.UUID, Location]) -> list[EvseView]:
        """Views of ``evses`` (at ``locations``): their connectors and tariffs in a query each."""
        if not evses:
            return []
        connectors: dict[uuid.UUID, list[ConnectorView]] = defaultdict(list)
        rows = await self.db.execute(
            select(
                Connector.evse_pk,
                Connector.connector_number,
                Connector.standard,
                Connector.power_type,
                Connector.max_kw,
                Connector.status,
                Connector.error_code,
            )
            .where(Connector.evse_pk.in_([e.pk for e in evses]))
            .order_by(Connector.evse_pk, Connector.connector_number)
        )
        for evse_pk, number, standard, power_type, max_kw, status, error_code in rows:
            connectors[evse_pk].append(ConnectorView(number, standard, power_type, max_kw, status, error_code))
        terms = await self._tariffs(evses, locations)
        views = []
        for e in evses:
            plugs = connectors[e.pk]
            health = health_of(
                connected=e.connected,
                last_seen_at=e.last_seen_at,
                evse_status=e.status,
                status_updated_at=e.status_updated_at,
                connectors=plugs,
                incident_cause=e.incident_cause,
            )
            views.append(EvseView(e.evse_id, e.status, health, tuple(plugs), terms.get(e.pk)))
        return views

    async def _tariffs(
        self, evses: Sequence[_EvseRow], locations: dict[uuid.UUID, Location]
    ) -> dict[uuid.UUID, TariffTerms]:
        """``TariffService.resolve`` for many EVSEs in one query: each EVSE's own active
        tariff, else its location's, else its operator's, on the location's clock."""
        evse_pks = [e.pk for e in evses]
        location_ids = [loc.id for loc in locations.values()]
        operator_ids = sorted({loc.operator_id for loc in locations.values() if loc.operator_id is not None}, key=str)
        scope = TariffAssignment.scope
        target = TariffAssignment.target_id
        wanted = [
            and_(scope == "evse", target.in_(evse_pks)),
            and_(scope == "location", target.in_(location_ids)) if location_ids else false(),
            and_(scope == "operator", target.in_(operator_ids)) if operator_ids else false(),
        ]
        rows = await self.db.execute(
            select(scope, target, Tariff)
            .join(Tariff, Tariff.id == TariffAssignment.tariff_id)
            .where(or_(*wanted), Tariff.active.is_(True))
        )
        assigned: dict[tuple[str, uuid.UUID], Tariff] = {(s, t): tariff for s, t, tariff in rows}
        found: dict[uuid.UUID, TariffTerms] = {}
        # Most EVSEs of a page share a handful of tariffs: convert each once per clock.
        converted: dict[tuple[uuid.UUID, str], TariffTerms] = {}
        for e in evses:
            location = locations.get(e.location_id) if e.location_id is not None else None
            keys: Iterable[tuple[str, Any]] = (
                ("evse", e.pk),
                ("location", location.id if location else None),
                ("operator", location.operator_id if location else None),
            )
            for key in keys:
                tariff = assigned.get(key)
                if tariff is not None:
                    time_zone = location.time_zone if location is not None else DEFAULT_TIME_ZONE
                    if (tariff.id, time_zone) not in converted:
                        converted[tariff.id, time_zone] = terms_of(tariff, time_zone)
                    found[e.pk] = converted[tariff.id, time_zone]
                    break
        return found
