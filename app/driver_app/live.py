"""Live session feeds: what the app shows while it charges (status, kW, kWh, time, cost so
far, a fault on the charger as it happens), for WebSocket and server-sent-event clients.

One ``LiveHub`` per process subscribes to the bus once and fans events out to the feeds
watching them; each feed turns the events it gets into fresh snapshots read from the
database, so a client never sees a state the database does not hold, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.events import HoldLimitReached
from app.chargers.events import ChargerConnected, ChargerDisconnected, ConnectorStatusChanged
from app.chargers.models import ChargePoint, Evse
from app.core.bus import Bus, Event
from app.driver_app.sessions import DriverSessionService, SessionOut
from app.drivers.models import User
from app.health.events import IncidentOpened, IncidentResolved
from app.health.words import PAYMENT_WORDS, for_driver
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted, TransactionUpdated
from app.sessions.models import Transaction
from payments.events import PaymentAuthorised, PaymentFailed, PaymentSettled
from payments.models import Payment

SUBJECTS = (
    TransactionStarted.subject,
    TransactionUpdated.subject,
    TransactionEnded.subject,
    MeterSampled.subject,
    PaymentAuthorised.subject,
    PaymentSettled.subject,
    PaymentFailed.subject,
    HoldLimitReached.subject,
    ConnectorStatusChanged.subject,
    ChargerConnected.subject,
    ChargerDisconnected.subject,
    IncidentOpened.subject,
    IncidentResolved.subject,
)
# A feed with nothing new still says so this often (keeps proxies from closing it).
KEEPALIVE_S = 15.0


def keys_of(event: Event) -> list[Hashable]:
    """The watch keys an event concerns."""
    keys: list[Hashable] = []
    tx_id = getattr(event, "transaction_id", None)
    if tx_id is not None:
        keys.append(("tx", tx_id))
    if isinstance(event, TransactionUpdated):
        keys.append(("txn", event.identity, event.number))
    elif isinstance(event, MeterSampled) and event.transaction_number is not None:
        keys.append(("txn", event.identity, event.transaction_number))
    payment_id = getattr(event, "payment_id", None)
    if payment_id is not None:
        keys.append(("pay", payment_id))
    if isinstance(event, ConnectorStatusChanged | ChargerConnected | ChargerDisconnected):
        keys.append(("cp", event.identity))
    if isinstance(event, IncidentOpened | IncidentResolved):
        keys.append(("cp", event.identity))
    return keys


class LiveHub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._watchers: dict[Hashable, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self) -> None:
        for subject in SUBJECTS:
            self.bus.subscribe(subject, self._on_event)

    def watch(self, keys: set[Hashable], queue: asyncio.Queue[Event]) -> None:
        for key in keys:
            self._watchers[key].add(queue)

    def unwatch(self, keys: set[Hashable], queue: asyncio.Queue[Event]) -> None:
        for key in keys:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[key]

    @property
    def watched(self) -> int:
        return len(self._watchers)

    async def _on_event(self, event: Event) -> None:
        seen: set[int] = set()
        for key in keys_of(event):
            for queue in self._watchers.get(key, ()):
                if id(queue) not in seen:
                    seen.add(id(queue))
                    queue.put_nowait(event)


class LiveFeed:
    """One client's feed of one session: snapshots after every change, charger news as it
    happens, until the session is over and its payment settled."""

    def __init__(
        self,
        hub: LiveHub,
        maker: async_sessionmaker[AsyncSession],
        sessions: Callable[[AsyncSession], DriverSessionService],
        driver: User,
        session_id: uuid.UUID,
    ) -> None:
        self.hub = hub
        self.maker = maker
        self.sessions = sessions
        self.driver = driver
        self.session_id = session_id

    async def first(self) -> SessionOut:
        """The current snapshot; raises SessionNotFound for someone else's session."""
        async with self.maker() as db:
            return await self.sessions(db).get(self.driver, self.session_id)

    async def messages(self, first: SessionOut) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        keys: set[Hashable] = {("pay", self.session_id), ("tx", self.session_id)}
        self.hub.watch(keys, queue)
        try:
            view = first
            more = await self._keys(view)
            self.hub.watch(more - keys, queue)
            keys |= more
            # Events between the first snapshot and the watch are covered by this one.
            view = await self.first()
            yield {"type": "session", "session": msgspec.to_builtins(view)}
            while not _over(view):
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        events = [await queue.get()]
                except TimeoutError:
                    yield {"type": "keepalive"}
                    continue
                while not queue.empty():
                    events.append(queue.get_nowait())
                for event in events:
                    news = _charger_news(event, view)
                    if news is not None:
                        yield news
                view = await self.first()
                more = await self._keys(view)
                self.hub.watch(more - keys, queue)
                keys |= more
                yield {"type": "session", "session": msgspec.to_builtins(view)}
        finally:
            self.hub.unwatch(keys, queue)

    async def _keys(self, view: SessionOut) -> set[Hashable]:
        keys: set[Hashable] = set()
        async with self.maker() as db:
            if view.transaction_id is not None:
                keys.add(("tx", view.transaction_id))
                row = (
                    await db.execute(
                        select(Transaction.number, ChargePoint.identity)
                        .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
                        .where(Transaction.id == view.transaction_id)
                    )
                ).one_or_none()
                if row is not None:
                    keys.add(("txn", row.identity, row.number))
                    keys.add(("cp", row.identity))
            elif view.kind == "paid":
                identity = await db.scalar(
                    select(ChargePoint.identity)
                    .join(Evse, Evse.charge_point_id == ChargePoint.id)
                    .join(Payment, Payment.evse_id == Evse.id)
                    .where(Payment.id == view.id)
                )
                if identity is not None:
                    keys.add(("cp", identity))
        return keys


def _over(view: SessionOut) -> bool:
    if view.status == "failed":
        return True
    if view.status != "finished":
        return False
    return view.payment is None or view.payment.status not in {"authorised", "capturing", "cancelling"}


def _charger_news(event: Event, view: SessionOut) -> dict[str, Any] | None:
    """What the driver should hear about the charger itself: a fault, going offline."""
    if isinstance(event, ConnectorStatusChanged) and event.status in {"Faulted", "Unavailable"}:
        with contextlib.suppress(ValueError, IndexError):
            if view.evse_id and int(view.evse_id.rsplit("*", 1)[-1]) not in (event.evse, 0):
                return None
        return {
            "type": "charger",
            "status": event.status,
            "errorCode": event.error_code,
            "info": event.info,
            "at": event.at.isoformat(),
        }
    if isinstance(event, ChargerDisconnected):
        return {
            "type": "charger",
            "status": "Offline",
            "errorCode": None,
            "info": event.reason,
            "at": event.at.isoformat(),
        }
    if isinstance(event, IncidentOpened):
        if event.evse is not None and view.evse_id:
            with contextlib.suppress(ValueError, IndexError):
                if int(view.evse_id.rsplit("*", 1)[-1]) != event.evse:
                    return None
        return {
            "type": "incident",
            "incidentId": str(event.incident_id),
            "cause": event.cause,
            "severity": event.severity,
            # What is wrong and what it means for the driver's money, in plain words; the
            # operator's technical summary stays with the operator.
            "message": for_driver(event.cause),
            "payment": PAYMENT_WORDS["en"],
            "at": event.opened_at.isoformat(),
        }
    if isinstance(event, IncidentResolved):
        if event.resolution == "merged":
            return None  # folded into a site incident: nothing recovered yet
        return {
            "type": "incident_resolved",
            "incidentId": str(event.incident_id),
            "message": "The charger has recovered.",
        }
    if isinstance(event, HoldLimitReached):
        return {
            "type": "hold_limit_reached",
            "costMinor": event.cost_minor,
            "holdMinor": event.hold_minor,
            "currency": event.currency,
        }
    return None
