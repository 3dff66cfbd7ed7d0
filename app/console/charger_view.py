"""What the charger page shows, for one tenant: the charger with its EVSEs and connectors,
its command log, raw events, sessions, incidents, diagnostics files and meter readings.

The charger itself, the command log, sessions, incidents and diagnostics come from the
operator API's services (tenant-scoped: another tenant's charger is ChargerNotFound). The
raw charger events and the readings over the last hours have no API read; they are read
here, only for a charger the tenant-scoped service has just returned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.command_service import ChargerCommandService, DiagnosticsService
from app.chargers.models import ChargePoint, ChargerEvent, CommandLog, DiagnosticsFile
from app.chargers.service import ChargerService, LocationService
from app.console.fleet import charger_status
from app.core.bus import Bus
from app.core.settings import Settings
from app.health.models import Incident
from app.health.service import IncidentService
from app.sessions.models import MeterSample, Transaction
from app.sessions.service import TransactionService

RANGES_H = (1, 6, 24)
PAGE_SIZE = 20
# A chart has at most this many points: the readings are averaged over equal buckets.
POINTS = 120
# What the charts show: power (kW, summed over EVSEs), voltage (V, mean of phases and
# EVSEs), temperature (°C, the hottest EVSE).
POWER, VOLTAGE, TEMPERATURE = "Power.Active.Import", "Voltage", "Temperature"
MAX_SAMPLES = 100_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    power_kw: float | None
    voltage_v: float | None
    temperature_c: float | None


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    items: Sequence[T]
    total: int
    page: int  # from 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True, slots=True)
class ChargerPage:
    charger: ChargePoint
    status: str
    location: str
    commands: Paged[CommandLog]
    events: Paged[ChargerEvent]
    sessions: Paged[Transaction]
    active_sessions: Sequence[Transaction]
    incidents: Sequence[Incident]
    incidents_total: int
    files: Sequence[DiagnosticsFile]
    hours: int
    until: datetime  # the readings' range ends here (now)
    readings: list[Reading]

    @property
    def since(self) -> datetime:
        return self.until - timedelta(hours=self.hours)


def offset_of(page: int) -> int:
    return (max(1, page) - 1) * PAGE_SIZE


class ChargerView:
    """One tenant's charger as the console shows it."""

    def __init__(
        self, db: AsyncSession, bus: Bus, settings: Settings, tenant_id: uuid.UUID, *, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.tenant_id = tenant_id
        self.clock = clock

    async def charger(self, identity: str) -> ChargePoint:
        """With its EVSEs and connectors; ChargerNotFound if it is not the tenant's."""
        return await ChargerService(self.db, self.bus, tenant_id=self.tenant_id).get_by_identity(identity)

    async def page(
        self, identity: str, *, hours: int = 1, log_page: int = 1, events_page: int = 1, sessions_page: int = 1
    ) -> ChargerPage:
        cp = await self.charger(identity)
        location = ""
        if cp.location_id is not None:
            location = (await LocationService(self.db, tenant_id=self.tenant_id).get(cp.location_id)).name
        commands = ChargerCommandService.of(self.db, self.bus, self.settings, tenant_id=self.tenant_id)
        log = await commands.history(cp.id, limit=PAGE_SIZE, offset=offset_of(log_page))
        transactions = TransactionService(self.db, self.bus, tenant_id=self.tenant_id)
        sessions = await transactions.list(charge_point_id=cp.id, limit=PAGE_SIZE, offset=offset_of(sessions_page))
        active = await transactions.list(charge_point_id=cp.id, status="active", limit=PAGE_SIZE)
        incidents, incidents_total = await IncidentService(self.db, self.bus, tenant_id=self.tenant_id).find(
            charge_point_id=cp.id, limit=PAGE_SIZE
        )
        files = await DiagnosticsService(self.db, self.bus, tenant_id=self.tenant_id).list(cp.id)
        now = self.clock()
        return ChargerPage(
            charger=cp,
            status=charger_status(cp),
            location=location,
            commands=Paged(log, await commands.count(cp.id), log_page),
            events=Paged(*await self._events(cp.id, events_page), events_page),
            sessions=Paged(sessions, await transactions.count(charge_point_id=cp.id), sessions_page),
            active_sessions=active,
            incidents=incidents,
            incidents_total=incidents_total,
            files=files,
            hours=hours,
            until=now,
            readings=await self.readings(cp.id, hours, now),
        )

    async def _events(self, charger_id: uuid.UUID, page: int) -> tuple[Sequence[ChargerEvent], int]:
        """The charger's raw events (boots, errors, notifications), newest first."""
        stmt = (
            select(ChargerEvent)
            .where(ChargerEvent.charge_point_id == charger_id)
            .order_by(ChargerEvent.occurred_at.desc(), ChargerEvent.id.desc())
            .limit(PAGE_SIZE)
            .offset(offset_of(page))
        )
        total = await self.db.scalar(
            select(func.count()).select_from(ChargerEvent).where(ChargerEvent.charge_point_id == charger_id)
        )
        return (await self.db.scalars(stmt)).all(), int(total or 0)

    async def readings(self, charger_id: uuid.UUID, hours: int, now: datetime) -> list[Reading]:
        """Power, voltage and temperature over the ``hours`` before ``now``, averaged over
        POINTS equal buckets (a bucket without readings is left out)."""
        since = now - timedelta(hours=hours)
        rows = await self.db.execute(
            select(
                MeterSample.sampled_at,
                MeterSample.evse_number,
                MeterSample.measurand,
                MeterSample.phase,
                MeterSample.value,
            )
            .where(
                MeterSample.charge_point_id == charger_id,
                MeterSample.sampled_at >= since,
                MeterSample.sampled_at <= now,
                MeterSample.measurand.in_((POWER, VOLTAGE, TEMPERATURE)),
            )
            .order_by(MeterSample.sampled_at)
            .limit(MAX_SAMPLES)
        )
        return bucketed([tuple(row) for row in rows], since, hours * 3600 / POINTS)  # type: ignore[misc]


def _per_instant(rows: Sequence[tuple[datetime, int, str, str, float]]) -> dict[tuple[str, datetime], float]:
    """One value per measurand and instant: an EVSE's phases reduced (power: its total, or
    the sum of its phases; voltage and temperature: the mean), then its EVSEs (power: the
    sum; voltage: the mean; temperature: the hottest)."""
    per_evse: dict[tuple[str, datetime, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for at, evse, measurand, phase, value in rows:
        per_evse[(measurand, at, evse)][phase].append(value)
    per_instant: dict[tuple[str, datetime], list[float]] = defaultdict(list)
    for (measurand, at, _evse), phases in per_evse.items():
        if measurand == POWER:
            value = phases[""][-1] if "" in phases else sum(v[-1] for v in phases.values())
        else:
            values = [v for vs in phases.values() for v in vs]
            value = sum(values) / len(values)
        per_instant[(measurand, at)].append(value)
    out: dict[tuple[str, datetime], float] = {}
    for key, values in per_instant.items():
        if key[0] == POWER:
            out[key] = sum(values)
        elif key[0] == TEMPERATURE:
            out[key] = max(values)
        else:
            out[key] = sum(values) / len(values)
    return out


def bucketed(rows: Sequence[tuple[datetime, int, str, str, float]], since: datetime, bucket_s: float) -> list[Reading]:
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (measurand, at), value in _per_instant(rows).items():
        index = int((at - since).total_seconds() // bucket_s)
        sums[index][measurand].append(value)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    readings = []
    for index in sorted(sums):
        bucket = sums[index]
        power = mean(bucket[POWER])
        readings.append(
            Reading(
                at=since + timedelta(seconds=(index + 0.5) * bucket_s),
                power_kw=None if power is None else power / 1000,
                voltage_v=mean(bucket[VOLTAGE]),
                temperature_c=mean(bucket[TEMPERATURE]),
            )
        )
    return readings
