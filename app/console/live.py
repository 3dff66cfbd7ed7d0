"""The console's live updates: one ``ConsoleLiveHub`` per process listens to the bus and
tells each open console stream of the tenant concerned that something changed; the stream
then reads its page's data again (scoped by its own session's tenant), so what a browser
gets is what the database holds, and another tenant's events never reach it.

An event names a charger (``identity``); the hub learns each charger's tenant from the
database once and keeps it (a charger does not change owner while registered). With no
console stream open in the process it does nothing at all: an API process in a reconnect
storm otherwise spent a fifth of its CPU looking up tenants nobody was watching.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.events import ChargerConnected, ChargerDisconnected, ConnectorStatusChanged
from app.chargers.models import ChargePoint
from app.core.bus import Bus, Event
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.sessions.events import TransactionEnded, TransactionStarted

SUBJECTS = (
    ConnectorStatusChanged.subject,
    ChargerConnected.subject,
    ChargerDisconnected.subject,
    IncidentOpened.subject,
    IncidentChanged.subject,
    IncidentResolved.subject,
    TransactionStarted.subject,
    TransactionEnded.subject,
)
# A stream with nothing new still sends a comment this often (keeps proxies from closing it).
KEEPALIVE_S = 15.0
# Changes closer together than this become one refresh.
SETTLE_S = 0.5


class ConsoleLiveHub:
    def __init__(self, bus: Bus, maker: async_sessionmaker[AsyncSession]) -> None:
        self.bus = bus
        self.maker = maker
        self._tenant_of: dict[str, uuid.UUID | None] = {}
        self._watchers: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self.closed = False

    def subscribe(self) -> None:
        for subject in SUBJECTS:
            self.bus.subscribe(subject, self._on_event)

    async def _on_event(self, event: Event) -> None:
        if not self._watchers:
            return  # no console open here: nothing to tell, nothing to look up (a storm's worth)
        tenant = getattr(event, "operator_id", None)
        if tenant is None:
            identity = getattr(event, "identity", None)
            if identity is None:
                return
            tenant = await self._tenant(identity)
        for flag in self._watchers.get(tenant, ()) if tenant is not None else ():
            flag.set()

    async def _tenant(self, identity: str) -> uuid.UUID | None:
        if identity not in self._tenant_of:
            async with self.maker() as db:
                tenant = await db.scalar(select(ChargePoint.operator_id).where(ChargePoint.identity == identity))
            if tenant is None:
                return None  # not registered (yet): ask again next time
            self._tenant_of[identity] = tenant
        return self._tenant_of[identity]

    def close(self) -> None:
        """The process is stopping: every stream ends now (a browser reconnects elsewhere)."""
        self.closed = True
        for flags in self._watchers.values():
            for flag in flags:
                flag.set()

    async def changes(self, tenant_id: uuid.UUID) -> AsyncGenerator[bool, None]:
        """Yields True after each (settled) change in the tenant's network, False when
        KEEPALIVE_S passed without one; until the consumer stops or the hub closes."""
        flag = asyncio.Event()
        self._watchers[tenant_id].add(flag)
        try:
            while not self.closed:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        await flag.wait()
                except TimeoutError:
                    yield False
                    continue
                if self.closed:
                    return
                await asyncio.sleep(SETTLE_S)
                flag.clear()
                yield True
        finally:
            watchers = self._watchers.get(tenant_id)
            if watchers is not None:
                watchers.discard(flag)
                if not watchers:
                    del self._watchers[tenant_id]

    @property
    def watched(self) -> int:
        return sum(len(flags) for flags in self._watchers.values())
