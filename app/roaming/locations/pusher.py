"""Live EVSE status for every partner: what the chargers, their connections and the fault
detector say becomes a PATCH of the EVSE's status at each registered partner of the
charger's tenant, within seconds; a location created (or given a new charger) is PUT whole.

The bus handlers only note which charger changed: a storm of status notifications from one
charger becomes one recomputation, and a storm from thousands becomes a few batches of a
handful of queries each (``flush``), never a query per event. An EVSE whose OCPI status did
not change is not pushed (``OcpiEvseStatus`` remembers what partners were told).

A partner that answers a PATCH with "unknown" (HTTP 404 or OCPI 2003) never had the location:
2.2.1 asks the sender to PUT the object then, so the whole location is PUT instead.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.events import ChargerConnected, ChargerDisconnected, ConnectorStatusChanged, LocationChanged
from app.chargers.models import ChargePoint, Evse, Location
from app.core.bus import Bus, Event
from app.core.database import utcnow
from app.core.tasks import stop_tasks
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.operators.models import Operator
from app.roaming.client import endpoint_url
from app.roaming.locations.mapping import LocationFacts, location_object, status_patch
from app.roaming.locations.models import OcpiEvseStatus
from app.roaming.locations.repository import EvseReader, EvseRow, LocationReader, published
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.push import PushWorker, enqueue
from app.tariffs.events import TariffAssignmentChanged

log = logging.getLogger("laddnat.roaming")

# What can change an EVSE's OCPI status: each names its charger (``identity``).
CHARGER_EVENTS = (
    ConnectorStatusChanged,
    ChargerConnected,
    ChargerDisconnected,
    IncidentOpened,
    IncidentChanged,
    IncidentResolved,
)
BATCH = 500  # chargers recomputed per round of queries


@dataclass(frozen=True, slots=True)
class Receiver:
    """A partner that takes our locations, and where."""

    partner: OcpiPartner
    url: str  # their locations RECEIVER endpoint + /{our country_code}/{our party_id}


class LocationPusher:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        worker: PushWorker,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.worker = worker
        self.clock = clock
        self._chargers: set[str] = set()  # identities whose EVSEs may have a new status
        self._locations: set[uuid.UUID] = set()  # locations to PUT whole
        self._wakeup = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> None:
        for event in CHARGER_EVENTS:
            self.bus.subscribe(event.subject, self._on_charger_event, group="roaming-locations")
        self.bus.subscribe(LocationChanged.subject, self._on_location_changed, group="roaming-locations")
        self.bus.subscribe(
            TariffAssignmentChanged.subject, self._on_tariff_assignment_changed, group="roaming-locations"
        )
        self.worker.on_unknown_object("locations", self.put_location_instead)

    async def _on_charger_event(self, event: Event) -> None:
        identity = getattr(event, "identity", None)
        if isinstance(identity, str):
            self._chargers.add(identity)
            self._wakeup.set()

    async def _on_location_changed(self, event: Event) -> None:
        if isinstance(event, LocationChanged):
            self._locations.add(event.location_id)
            self._wakeup.set()

    async def _on_tariff_assignment_changed(self, event: Event) -> None:
        # Rare (an operator's edit): found now, PUT with the next flush.
        if isinstance(event, TariffAssignmentChanged):
            async with self.maker() as db:
                self._locations.update(await _locations_priced_by(db, event.scope, event.target_id))
            self._wakeup.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="ocpi-location-pusher")

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def _forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:  # the next change of the same chargers recomputes them
                log.exception("OCPI location pusher: flush failed")

    async def flush(self) -> int:
        """Push what the changes noted so far call for; how many pushes were enqueued."""
        enqueued = 0
        async with self._flushing:
            while self._chargers or self._locations:
                identities = [self._chargers.pop() for _ in range(min(BATCH, len(self._chargers)))]
                locations = list(self._locations)
                self._locations.clear()
                try:
                    enqueued += await self._put_locations(locations)
                    enqueued += await self._patch_statuses(identities)
                except Exception:
                    # Kept for the next flush (the next event wakes it): nothing is lost.
                    self._chargers.update(identities)
                    self._locations.update(locations)
                    raise
        if enqueued:
            self.worker.poke()
        return enqueued

    async def _patch_statuses(self, identities: list[str]) -> int:
        if not identities:
            return 0
        async with self.maker() as db:
            reader = EvseReader(db)
            rows = await reader.evses(ChargePoint.identity.in_(identities))
            receivers = await self._receivers(db, {r.operator_id for r in rows})
            # A tenant without partners costs nothing more: its partners-to-be start with a GET.
            rows = [r for r in rows if r.operator_id in receivers]
            if not rows:
                return 0
            statuses = await reader.statuses(rows)
            told = await reader.pushed([r.pk for r in rows])
            now = self.clock()
            changed: list[tuple[EvseRow, str]] = []
            for r in rows:
                status, before = statuses[r.pk], told.get(r.pk)
                if before is None:
                    db.add(OcpiEvseStatus(evse_pk=r.pk, status=status, changed_at=now))
                elif before.status != status:
                    before.status, before.changed_at = status, now
                else:
                    continue
                changed.append((r, status))
            enqueued = 0
            for r, status in changed:
                for receiver in receivers.get(r.operator_id, ()):
                    await enqueue(
                        db,
                        receiver.partner,
                        module="locations",
                        method="PATCH",
                        url=f"{receiver.url}/{r.location_id}/{r.pk}",
                        body=status_patch(status, now),
                        object_key=f"evse:{r.pk}",
                        now=now,
                    )
                    enqueued += 1
            await db.commit()
        return enqueued

    async def _put_locations(self, location_ids: list[uuid.UUID]) -> int:
        enqueued = 0
        for location_id in location_ids:
            async with self.maker() as db:
                enqueued += await self._put(db, location_id)
                await db.commit()
        return enqueued

    async def _put(self, db: AsyncSession, location_id: uuid.UUID, only: uuid.UUID | None = None) -> int:
        """Enqueue a PUT of the whole location to each receiver of its tenant (``only``: to
        that partner alone, who lacked it: nothing changed). The statuses it carries are then
        what partners were told; a change (``only`` None) dates every EVSE's
        ``last_updated`` now, so ``date_from`` finds what the PUT said."""
        operator_id = await db.scalar(select(Location.operator_id).where(Location.id == location_id))
        if operator_id is None:
            return 0
        receivers = [
            r for r in (await self._receivers(db, {operator_id})).get(operator_id, ()) if only in (None, r.partner.id)
        ]
        facts = await LocationReader(db, operator_id).one(str(location_id)) if receivers else None
        if facts is None:  # nobody to tell, or not published (no coordinates yet)
            return 0
        now = self.clock()
        changed = await self._remember(db, facts, now, every=only is None)
        if changed:  # what the PUT says must carry the new last_updated too
            facts = await LocationReader(db, operator_id).one(str(location_id)) or facts
        for receiver in receivers:
            await enqueue(
                db,
                receiver.partner,
                module="locations",
                method="PUT",
                url=f"{receiver.url}/{facts.id}",
                body=location_object(facts),
                object_key=f"location:{facts.id}",
                now=now,
            )
        return len(receivers)

    async def _remember(self, db: AsyncSession, facts: LocationFacts, now: datetime, *, every: bool) -> bool:
        """Record the statuses ``facts`` tell partners, dated ``now`` where the status is new
        (``every``: for every EVSE). Whether any row changed."""
        told = await EvseReader(db).pushed([e.uid for e in facts.evses])
        changed = False
        for evse in facts.evses:
            before = told.get(evse.uid)
            if before is None:
                db.add(OcpiEvseStatus(evse_pk=evse.uid, status=evse.status, changed_at=now))
            elif before.status != evse.status or every:
                before.status, before.changed_at = evse.status, now
            else:
                continue
            changed = True
        if changed:
            await db.flush()
        return changed

    async def put_location_instead(self, push: OcpiPush) -> bool:
        """The partner did not know the EVSE a PATCH was for: PUT its whole location to that
        partner (the push worker's handler for "unknown object" answers)."""
        if push.method != "PATCH" or not push.object_key.startswith("evse:"):
            return False
        try:
            evse_pk = uuid.UUID(push.object_key.removeprefix("evse:"))
        except ValueError:
            return False
        async with self._flushing, self.maker() as db:  # one writer of OcpiEvseStatus at a time
            location_id = await db.scalar(
                select(ChargePoint.location_id)
                .join(Evse, Evse.charge_point_id == ChargePoint.id)
                .where(Evse.id == evse_pk)
            )
            if location_id is None:
                return False
            enqueued = await self._put(db, location_id, only=push.partner_id)
            await db.commit()
        if enqueued:
            self.worker.poke()
        return enqueued > 0

    @staticmethod
    async def _receivers(db: AsyncSession, operator_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Receiver]]:
        """The registered partners of these tenants that have a locations receiver."""
        wanted = sorted(set(operator_ids))
        found: dict[uuid.UUID, list[Receiver]] = {}
        if not wanted:
            return found
        rows = await db.execute(
            select(OcpiPartner, Operator.country_code, Operator.party_id)
            .join(Operator, Operator.id == OcpiPartner.operator_id)
            .where(OcpiPartner.operator_id.in_(wanted), OcpiPartner.state == "registered")
            .order_by(OcpiPartner.created_at)
        )
        for partner, country_code, party_id in rows:
            url = endpoint_url(partner.endpoints or [], "locations", "RECEIVER")
            if url:
                found.setdefault(partner.operator_id, []).append(Receiver(partner, f"{url}/{country_code}/{party_id}"))
        return found


async def _locations_priced_by(db: AsyncSession, scope: str, target_id: uuid.UUID) -> list[uuid.UUID]:
    """The published locations whose connectors' ``tariff_ids`` a tariff assignment of
    ``scope`` (evse | location | operator) on ``target_id`` may change."""
    stmt = select(Location.id).where(published())
    if scope == "evse":
        stmt = stmt.join(ChargePoint, ChargePoint.location_id == Location.id).join(
            Evse, Evse.charge_point_id == ChargePoint.id
        )
        stmt = stmt.where(Evse.id == target_id)
    elif scope == "location":
        stmt = stmt.where(Location.id == target_id)
    else:
        stmt = stmt.where(Location.operator_id == target_id)
    return list((await db.scalars(stmt)).all())
