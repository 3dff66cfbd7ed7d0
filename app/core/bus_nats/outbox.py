"""Events out: ``publish`` appends to an in-memory outbox; one task sends it in order,
pipelined, and keeps every event until NATS has acknowledged it, so an outage delays events
and loses none while the process lives."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import deque

import msgspec

from app.core.bus import Event
from app.core.bus_nats.acks import AckedPublisher, Publish
from app.core.bus_nats.wire import ACK_TIMEOUT_S, DURABLE_PREFIX, FANOUT_PREFIX, RETRY_S, log

# Events waiting for NATS, ~0.4-1 KiB each. An event the network depends on (durable: money,
# transactions, incidents, uptime) is kept up to DURABLE_LIMIT (~0.5-1 GiB: a reconnect storm
# onto a starved bridge, or minutes of outage at 1,000 events/s); a fan-out one (live views,
# cache drops) is shed first, once the outbox holds FANOUT_LIMIT. Past its limit an event is
# dropped (logged, counted in ``dropped``): the process would rather live than hold more.
FANOUT_LIMIT = 100_000
DURABLE_LIMIT = 1_000_000
# In flight at once before their acks are awaited: an ack takes a round trip and a stream
# write, so a small window caps a busy bridge's rate (256 did, below a storm's event rate).
PUBLISH_BATCH = 1024
DROP_LOG_EVERY = 1000  # a dropped event is logged, then only every 1000th: no log storm

Pending = Publish  # NATS subject, data, durable (stored in the stream), message id


class Outbox:
    def __init__(
        self, publisher: AckedPublisher, *, fanout_limit: int = FANOUT_LIMIT, durable_limit: int = DURABLE_LIMIT
    ) -> None:
        self.publisher = publisher
        self.link = link = publisher.link
        self.limits = {False: fanout_limit, True: durable_limit}
        self.dropped = 0  # events refused because the outbox was full
        self.pending: deque[Pending] = deque()
        self._ready = asyncio.Event()
        # Message ids: unique per publish across processes and restarts, and cheap to make.
        self._id_prefix = f"{link.node_id}.{uuid.uuid4().hex[:12]}."
        self._ids = itertools.count()

    def publish(self, event: Event) -> None:
        durable = type(event).durable
        if len(self.pending) >= self.limits[durable]:
            if self.dropped % DROP_LOG_EVERY == 0:
                log.error(
                    "bus outbox full: event dropped",
                    extra={"subject": event.subject, "durable": durable, "dropped": self.dropped + 1},
                )
            self.dropped += 1
            return
        subject = (DURABLE_PREFIX if durable else FANOUT_PREFIX) + event.subject
        self.pending.append((subject, msgspec.json.encode(event), durable, f"{self._id_prefix}{next(self._ids)}"))
        self._ready.set()

    async def run(self) -> None:
        """Sends the outbox in order; an event leaves it only once NATS has taken it."""
        link = self.link
        while True:
            if not self.pending:
                self._ready.clear()
                await self._ready.wait()
                continue
            if not link.is_up:
                await link.connected.wait()
                continue
            batch = list(itertools.islice(self.pending, PUBLISH_BATCH))
            sent = await self._send(batch)
            for _ in range(sent):
                self.pending.popleft()
            if sent < len(batch):
                await asyncio.sleep(RETRY_S)

    async def _send(self, batch: list[Pending]) -> int:
        """How many of ``batch``, from its head, NATS has taken. One connection and one
        server keep them in order, so the rest is sent again from the first unconfirmed one
        (the stream drops the repeats of those it had stored by their message id)."""
        taken, why = await self.publisher.send(batch, ACK_TIMEOUT_S)
        if taken < len(batch):
            log.warning("publish to NATS failed, will retry: %s", why)
        return taken
