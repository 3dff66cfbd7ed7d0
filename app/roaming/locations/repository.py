"""The facts the Locations module maps, read in a fixed number of queries however many
locations, EVSEs and connectors a page holds (a page of 100 locations is 7 queries, never
one per EVSE).

A location is published to a tenant's partners when it is the tenant's and has coordinates
(a GeoLocation is required in OCPI: a location we cannot put on a map is not sent). Its
EVSEs are those of the tenant's chargers there.

``last_updated`` has one definition, in Python (``LocationFacts.last_updated``) and in SQL
(``location_last_updated``, for ``date_from``/``date_to``): an EVSE (with its connectors)
changed when its charger was registered or when partners were last told something new of it
(``OcpiEvseStatus.changed_at``: its status, its tariff; before the pusher has seen it, its
charger's last status report); a location when it was created or any of its EVSEs changed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.core.database import UtcDateTime
from app.health.models import Incident
from app.health.words import OUT_OF_ORDER_KINDS
from app.operators.models import Operator
from app.roaming.envelope import Page
from app.roaming.locations.mapping import ConnectorFacts, EvseFacts, LocationFacts, ocpi_status
from app.roaming.locations.models import OcpiEvseStatus
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.service import SCOPES

# The health detector that says a charger went silent (its socket may still be open).
OFFLINE_KIND = "offline"


# (charger, EVSE number) an open incident keeps drivers away from; EVSE None: the whole charger.
Blocked = tuple[uuid.UUID, int | None]


@dataclass(frozen=True, slots=True)
class EvseRow:
    """One EVSE with what its status and ``last_updated`` depend on."""

    pk: uuid.UUID
    evse_id: str
    evse_number: int
    evse_status: str
    status_updated_at: datetime | None
    charge_point_id: uuid.UUID
    identity: str
    connected: bool
    registered_at: datetime
    location_id: uuid.UUID
    operator_id: uuid.UUID


def published() -> ColumnElement[bool]:
    """The locations that may go to partners (see the module's docstring)."""
    return and_(Location.operator_id.is_not(None), Location.latitude.is_not(None), Location.longitude.is_not(None))


def owned_by_location_operator() -> ColumnElement[bool]:
    """A charger at a location is published with it when it is the location's operator's
    (its own owner, or none recorded: then its location's)."""
    return func.coalesce(ChargePoint.operator_id, Location.operator_id) == Location.operator_id


def _greatest(dialect: str, a: Any, b: Any) -> Any:
    # PostgreSQL spells it GREATEST; SQLite's two-argument max() is the same (both non-NULL here).
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def location_last_updated(dialect: str) -> ColumnElement[datetime]:
    """``LocationFacts.last_updated`` in SQL, for the ``Location`` of the enclosing query."""
    cp, ev, st = aliased(ChargePoint), aliased(Evse), aliased(OcpiEvseStatus)
    evse_stamp = _greatest(dialect, cp.created_at, func.coalesce(st.changed_at, ev.status_updated_at, cp.created_at))
    newest_evse = (
        select(func.max(evse_stamp))
        .select_from(ev)
        .join(cp, cp.id == ev.charge_point_id)
        .outerjoin(st, st.evse_pk == ev.id)
        .where(
            cp.location_id == Location.id,
            func.coalesce(cp.operator_id, Location.operator_id) == Location.operator_id,
        )
        .correlate(Location)
        .scalar_subquery()
    )
    stamp = _greatest(dialect, Location.created_at, func.coalesce(newest_evse, Location.created_at))
    return type_coerce(stamp, UtcDateTime())


def evse_last_updated(row: EvseRow, changed_at: datetime | None) -> datetime:
    """The Python twin of the SQL ``evse_stamp`` above."""
    return max(row.registered_at, changed_at or row.status_updated_at or row.registered_at)


class EvseReader:
    """EVSEs, their connectors, the incidents and statuses that decide their OCPI status:
    each a single query for any number of EVSEs."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def evses(self, where: ColumnElement[bool]) -> list[EvseRow]:
        rows = await self.db.execute(
            select(
                Evse.id,
                Evse.evse_id,
                Evse.evse_number,
                Evse.status,
                Evse.status_updated_at,
                ChargePoint.id,
                ChargePoint.identity,
                ChargePoint.connected,
                ChargePoint.created_at,
                Location.id,
                Location.operator_id,
            )
            .select_from(Evse)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .join(Location, Location.id == ChargePoint.location_id)
            .where(where, published(), owned_by_location_operator())
            .order_by(ChargePoint.number, Evse.evse_number)
        )
        return [EvseRow(*row) for row in rows]

    async def connectors(self, evse_pks: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ConnectorFacts]]:
        found: dict[uuid.UUID, list[ConnectorFacts]] = defaultdict(list)
        if not evse_pks:
            return found
        rows = await self.db.execute(
            select(
                Connector.evse_pk,
                Connector.connector_number,
                Connector.standard,
                Connector.power_type,
                Connector.max_kw,
                Connector.status,
            )
            .where(Connector.evse_pk.in_(evse_pks))
            .order_by(Connector.evse_pk, Connector.connector_number)
        )
        for evse_pk, number, standard, power_type, max_kw, status in rows:
            found[evse_pk].append(ConnectorFacts(number, standard, power_type, max_kw, status))
        return found

    async def incidents(self, charger_ids: Sequence[uuid.UUID]) -> tuple[set[uuid.UUID], set[Blocked]]:
        """The chargers an open offline incident says went silent, and the (charger, EVSE)
        pairs an open incident keeps drivers away from (EVSE None: the whole charger) — the
        driver app's rule (app/health/driver_impact.py), for many chargers at once."""
        silent: set[uuid.UUID] = set()
        blocked: set[Blocked] = set()
        if not charger_ids:
            return silent, blocked
        rows = await self.db.execute(
            select(Incident.charge_point_id, Incident.evse, Incident.kind).where(
                Incident.open_key.is_not(None),
                Incident.charge_point_id.in_(charger_ids),
                or_(
                    Incident.severity == "critical",
                    Incident.kind.in_(sorted(OUT_OF_ORDER_KINDS | {OFFLINE_KIND})),
                ),
            )
        )
        for charger_id, evse, kind in rows:
            if charger_id is None:  # a site incident: its chargers are offline or say so themselves
                continue
            if kind == OFFLINE_KIND:
                silent.add(charger_id)
            else:
                blocked.add((charger_id, evse))
        return silent, blocked

    async def pushed(self, evse_pks: Sequence[uuid.UUID]) -> dict[uuid.UUID, OcpiEvseStatus]:
        if not evse_pks:
            return {}
        rows = await self.db.scalars(select(OcpiEvseStatus).where(OcpiEvseStatus.evse_pk.in_(evse_pks)))
        return {row.evse_pk: row for row in rows}

    async def tariffs(self, rows: Sequence[EvseRow]) -> dict[uuid.UUID, str]:
        """The tariff in force for each EVSE, as the tariffs module resolves it (its own,
        else its location's, else its operator's; active tariffs only), as the OCPI tariff id
        (our tariff's id)."""
        if not rows:
            return {}
        targets = {
            "evse": {r.pk for r in rows},
            "location": {r.location_id for r in rows},
            "operator": {r.operator_id for r in rows},
        }
        found = await self.db.execute(
            select(TariffAssignment.scope, TariffAssignment.target_id, Tariff.id)
            .join(Tariff, Tariff.id == TariffAssignment.tariff_id)
            .where(
                Tariff.active.is_(True),
                or_(
                    *(
                        and_(TariffAssignment.scope == scope, TariffAssignment.target_id.in_(sorted(ids)))
                        for scope, ids in targets.items()
                    )
                ),
            )
        )
        assigned = {(scope, target): tariff_id for scope, target, tariff_id in found}
        resolved: dict[uuid.UUID, str] = {}
        for r in rows:
            ids = {"evse": r.pk, "location": r.location_id, "operator": r.operator_id}
            for scope in SCOPES:
                if (tariff_id := assigned.get((scope, ids[scope]))) is not None:
                    resolved[r.pk] = str(tariff_id)
                    break
        return resolved

    async def statuses(self, rows: Sequence[EvseRow]) -> dict[uuid.UUID, str]:
        """Each EVSE's OCPI status now."""
        connectors = await self.connectors([r.pk for r in rows])
        silent, blocked = await self.incidents(sorted({r.charge_point_id for r in rows}))
        return {r.pk: status_of(r, connectors.get(r.pk, []), silent, blocked) for r in rows}


def status_of(
    row: EvseRow,
    connectors: Sequence[ConnectorFacts],
    silent: set[uuid.UUID],
    blocked: set[Blocked],
) -> str:
    statuses = [c.status for c in connectors] or [row.evse_status]
    return ocpi_status(
        online=row.connected and row.charge_point_id not in silent,
        cannot_charge=(row.charge_point_id, None) in blocked or (row.charge_point_id, row.evse_number) in blocked,
        statuses=statuses,
    )


class LocationReader:
    """One tenant's published locations as OCPI facts."""

    def __init__(self, db: AsyncSession, operator_id: uuid.UUID) -> None:
        self.db = db
        self.operator_id = operator_id
        self.evses = EvseReader(db)

    def _mine(self) -> ColumnElement[bool]:
        return and_(Location.operator_id == self.operator_id, published())

    async def page(self, page: Page) -> tuple[int, list[LocationFacts]]:
        """The page's locations, oldest first, and how many match in all."""
        where = [self._mine()]
        stamp = location_last_updated(self.db.get_bind().dialect.name)
        if page.date_from is not None:
            where.append(stamp >= page.date_from)
        if page.date_to is not None:
            where.append(stamp < page.date_to)
        total = int(await self.db.scalar(select(func.count()).select_from(Location).where(*where)) or 0)
        locations = (
            await self.db.scalars(
                select(Location)
                .where(*where)
                .order_by(Location.created_at, Location.id)
                .offset(page.offset)
                .limit(page.limit)
            )
        ).all()
        return total, await self.facts(locations)

    async def one(self, location_id: str) -> LocationFacts | None:
        try:
            pk = uuid.UUID(location_id)
        except ValueError:
            return None
        location = await self.db.scalar(select(Location).where(Location.id == pk, self._mine()))
        if location is None:
            return None
        return (await self.facts([location]))[0]

    async def facts(self, locations: Sequence[Location]) -> list[LocationFacts]:
        if not locations:
            return []
        operator = await self.db.get(Operator, self.operator_id)
        assert operator is not None  # a partner's tenant exists (foreign key)
        rows = await self.evses.evses(ChargePoint.location_id.in_([loc.id for loc in locations]))
        pks = [r.pk for r in rows]
        connectors = await self.evses.connectors(pks)
        silent, blocked = await self.evses.incidents(sorted({r.charge_point_id for r in rows}))
        pushed = await self.evses.pushed(pks)
        tariffs = await self.evses.tariffs(rows)
        by_location: dict[uuid.UUID, list[EvseFacts]] = defaultdict(list)
        for r in rows:
            plugs = connectors.get(r.pk, [])
            state = pushed.get(r.pk)
            by_location[r.location_id].append(
                EvseFacts(
                    uid=r.pk,
                    evse_id=r.evse_id,
                    status=status_of(r, plugs, silent, blocked),
                    connectors=tuple(plugs),
                    last_updated=evse_last_updated(r, state.changed_at if state else None),
                    tariff_id=tariffs.get(r.pk),
                )
            )
        return [
            LocationFacts(
                id=loc.id,
                country_code=operator.country_code,
                party_id=operator.party_id,
                operator_name=operator.name,
                name=loc.name,
                address=loc.address,
                city=loc.city,
                postal_code=loc.postal_code,
                country=loc.country,
                latitude=float(loc.latitude or 0.0),
                longitude=float(loc.longitude or 0.0),
                time_zone=loc.time_zone,
                created_at=loc.created_at,
                evses=tuple(by_location.get(loc.id, ())),
            )
            for loc in locations
        ]
