"""``NatsBus``: the ``Bus`` over one NATS connection, its parts put together."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from app.core.bus import BusUnavailable, Event, EventHandler, Leadership, LeadershipHandler, RequestHandler
from app.core.bus_nats.acks import AckedPublisher
from app.core.bus_nats.commands import Commands
from app.core.bus_nats.consumers import ACK_WAIT_S, Subscriptions
from app.core.bus_nats.leadership import LEADER_TTL_S, KvLeadership, Leaders
from app.core.bus_nats.link import Link
from app.core.bus_nats.outbox import Outbox
from app.core.bus_nats.wire import ACK_TIMEOUT_S, TOKEN_UNSAFE


class NatsBus:
    """The ``Bus`` over NATS; ``node_id`` names this process in the command registry.

    ``ack_wait_s``: how soon a durable event held by a process that died goes to another;
    ``leader_ttl_s``: how soon a dead leader is replaced (both shorter in tests)."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        leader_ttl_s: float = LEADER_TTL_S,
        ack_wait_s: float = ACK_WAIT_S,
    ) -> None:
        self.url = url
        self.node_id = TOKEN_UNSAFE.sub("_", node_id) or "node"
        self.link = Link(url, self.node_id)
        self.publisher = AckedPublisher(self.link)
        self.outbox = Outbox(self.publisher)
        self.subscriptions = Subscriptions(self.link, ack_wait_s)
        self.commands = Commands(self.link, self.publisher)
        self.leadership = Leaders(self.link, leader_ttl_s)

    @property
    def nc(self) -> Client | None:
        """The connection, None while the bus is not started."""
        return self.link.nc

    @property
    def js(self) -> JetStreamContext | None:
        return self.link.js

    @property
    def dropped(self) -> int:
        """Events refused because the outbox was full."""
        return self.outbox.dropped

    # -- life ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, create or update the stream and the registry, start every subscription.

        Raises ``BusUnavailable`` ("cannot reach NATS at ...: reason") when NATS is not there."""
        try:
            await self.link.connect()
            await self.publisher.start()
            await self.commands.start()
        except BusUnavailable:
            raise
        except Exception as err:
            await self.link.close()
            raise self.link.unavailable(err) from None
        self.link.started()
        await self.subscriptions.start()
        nc = self.link.nc
        assert nc is not None
        # The server has every subscription before start returns (another connection's
        # publish could otherwise overtake them).
        await nc.flush(timeout=int(ACK_TIMEOUT_S))
        self.link.spawn(self.outbox.run(), name="bus-outbox")
        self.link.spawn(self.commands.run(), name="bus-registry")

    async def close(self) -> None:
        """Send what the outbox still holds and the registry changes (a few seconds at most),
        give back the events held unhandled, then stop."""
        if self.link.is_up:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), ACK_TIMEOUT_S)
        await self.link.close()
        self.subscriptions.stopped()
        self.commands.stopped()
        self.leadership.kv = None

    async def _drained(self) -> None:
        while self.outbox.pending or self.commands.pending:
            await asyncio.sleep(0.02)

    async def ping(self) -> None:
        await self.link.ping()

    # -- events ---------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        self.outbox.publish(event)

    def subscribe(self, subject: str, handler: EventHandler, *, group: str | None = None) -> None:
        self.subscriptions.subscribe(subject, handler, group=group)

    def unsubscribe(self, group: str) -> None:
        self.subscriptions.unsubscribe(group)

    # -- leadership -------------------------------------------------------------------

    def lead(self, name: str, *, on_elected: LeadershipHandler, on_deposed: LeadershipHandler) -> Leadership:
        return KvLeadership(self.leadership, name, on_elected, on_deposed)

    async def leaders(self) -> KeyValue:
        """The KV bucket of leaders: a key per role, expiring unless refreshed."""
        return await self.leadership.bucket()

    # -- commands ---------------------------------------------------------------------

    def serve(self, subject: str, handler: RequestHandler) -> None:
        self.commands.serve(subject, handler)

    def unserve(self, subject: str) -> None:
        self.commands.unserve(subject)

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> bytes:
        return await self.commands.request(subject, payload, timeout_s)
