"""What the overview and the charger list show, read through the operator API's services for
one tenant: chargers (with their live status), locations coloured by their worst open
incident, sessions running, energy and revenue today.

Only the presentation is decided here (a charger's one-word status, the colour order of
severities); the reads are the services' own, scoped by the tenant like the API's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.reports.service import ReportService
from app.chargers.models import ChargePoint, Location
from app.chargers.service import ChargerService, LocationService
from app.core.bus import Bus
from app.health.service import IncidentService
from app.sessions.service import TransactionService

# Worst last: a location's colour is its worst open incident's severity.
SEVERITIES = ("ok", "info", "warning", "critical")
CHARGING = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Occupied", "Preparing", "Finishing"})
# Enough for any tenant's console today; a larger fleet needs paging here first.
MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class ChargerRow:
    id: uuid.UUID
    identity: str
    location: str
    vendor: str
    model: str
    status: str  # online | charging | faulted | unavailable | offline


@dataclass(frozen=True, slots=True)
class LocationPoint:
    id: uuid.UUID
    name: str
    city: str
    latitude: float | None
    longitude: float | None
    worst: str  # ok | info | warning | critical
    chargers: int


@dataclass(frozen=True, slots=True)
class Money:
    currency: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Overview:
    online: int
    offline: int
    faulted: int
    sessions_running: int
    energy_today_wh: int
    revenue_today: list[Money]
    locations: list[LocationPoint]


def charger_status(cp: ChargePoint) -> str:
    """One word for a charger: offline (no socket), else its worst connector's state."""
    if not cp.connected:
        return "offline"
    statuses = [c.status for evse in cp.evses for c in evse.connectors]
    if "Faulted" in statuses:
        return "faulted"
    if any(s in CHARGING for s in statuses):
        return "charging"
    if statuses and all(s == "Unavailable" for s in statuses):
        return "unavailable"
    return "online"


def worse(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


class FleetView:
    """One tenant's network as the console shows it."""

    def __init__(self, db: AsyncSession, bus: Bus, tenant_id: uuid.UUID, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.bus = bus
        self.tenant_id = tenant_id
        self.clock = clock

    async def chargers(self, query: str | None = None) -> list[ChargerRow]:
        chargers = await ChargerService(self.db, self.bus, tenant_id=self.tenant_id).list(limit=MAX_ROWS, query=query)
        names = {loc.id: loc.name for loc in await self._locations()}
        return [
            ChargerRow(
                cp.id,
                cp.identity,
                names.get(cp.location_id, "") if cp.location_id else "",
                cp.vendor or "",
                cp.model or "",
                charger_status(cp),
            )
            for cp in chargers
        ]

    async def overview(self) -> Overview:
        chargers = await ChargerService(self.db, self.bus, tenant_id=self.tenant_id).list(limit=MAX_ROWS)
        statuses = [charger_status(cp) for cp in chargers]
        per_location: dict[uuid.UUID | None, int] = {}
        for cp in chargers:
            per_location[cp.location_id] = per_location.get(cp.location_id, 0) + 1
        worst: dict[uuid.UUID, str] = {}
        incidents, _ = await IncidentService(self.db, self.bus, tenant_id=self.tenant_id).find(
            state="active", limit=MAX_ROWS
        )
        for incident in incidents:
            if incident.location_id is not None and incident.severity in SEVERITIES:
                worst[incident.location_id] = worse(worst.get(incident.location_id, "ok"), incident.severity)
        running = await TransactionService(self.db, self.bus, tenant_id=self.tenant_id).count(status="active")
        now = self.clock()
        midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
        report = await ReportService(self.db, tenant_id=self.tenant_id, clock=self.clock).revenue(
            midnight, max(now, midnight + timedelta(seconds=1)), "location", "day"
        )
        return Overview(
            online=sum(1 for s in statuses if s in {"online", "charging", "unavailable"}),
            offline=statuses.count("offline"),
            faulted=statuses.count("faulted"),
            sessions_running=running,
            energy_today_wh=sum(total.energy_wh for total in report.totals),
            revenue_today=[Money(total.currency, total.revenue_minor) for total in report.totals],
            locations=[
                LocationPoint(
                    loc.id,
                    loc.name,
                    loc.city,
                    loc.latitude,
                    loc.longitude,
                    worst.get(loc.id, "ok"),
                    per_location.get(loc.id, 0),
                )
                for loc in await self._locations()
            ],
        )

    async def _locations(self) -> Sequence[Location]:
        return await LocationService(self.db, tenant_id=self.tenant_id, bus=self.bus).list(limit=MAX_ROWS)
