"""Events in: fan-out subscriptions, core queue groups and durable JetStream consumers.

A subscriber without a group gets core fan-out of both kinds (``laddnat.*.<subject>``). A
grouped subscriber of a durable subject reads a durable pull consumer ``<group>__<subject>``
(one per group and subject, like the in-process bus's queue per subscription), handles its
messages one at a time in stream order and acks each after its handler returned; of a
fan-out-only subject, a core queue group (at most once).

Takeover. A message fetched and not acked within the consumer's ack wait goes to another
member of the group. The wait is short (``ACK_WAIT_S``), so the messages a killed process
held come back within seconds; while this process holds them (handling one, the rest of its
batch waiting their turn) it says "in progress" every ``ack_wait_s / 4``, so a slow handler
is not delivered twice while it runs. A consumer stopped here (a leader deposed, a process
shutting down) gives what it holds back at once (a nak).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from app.core.bus import EVENT_TYPES, EventHandler
from app.core.bus_nats.link import Link
from app.core.bus_nats.wire import (
    DURABLE_PREFIX,
    FANOUT_PREFIX,
    MSG_ID_HEADER,
    RETRY_S,
    STREAM,
    call,
    consumer_name,
    decode,
    log,
    reason,
)

MAX_DELIVER = 5  # a handler failing this often gives the event up (logged)
# How long a fetched message may go without an ack or an "in progress" before it is given to
# another member: the takeover delay after a kill -9. Four missed "in progress" in a row
# (an event loop stalled that long) cost a repeat, which the consumers tolerate.
ACK_WAIT_S = 5.0
# Small batches: each message waits behind the ones before it, kept alive meanwhile.
FETCH_BATCH = 16
FETCH_WAIT_S = 2.0
SEEN_IDS = 10_000  # per group: repeats recognised after a lost ack

Key = tuple[str, str]  # group, subject


class Subscriptions:
    def __init__(self, link: Link, ack_wait_s: float = ACK_WAIT_S) -> None:
        self.link = link
        self.ack_wait_s = ack_wait_s
        self.progress_sent = 0  # "in progress" acks sent (tests watch time pass by it)
        self._fanout: list[tuple[str, EventHandler]] = []
        self._queue_groups: list[tuple[str, str, EventHandler]] = []
        self._consumers: dict[Key, list[EventHandler]] = {}
        self._consuming: dict[Key, asyncio.Task[None]] = {}
        self._held: dict[Key, deque[Msg]] = {}  # fetched, not yet acked or nak'd
        self._queue_subs: dict[str, list[Any]] = {}  # group -> its core queue subscriptions
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._started = False

    async def start(self) -> None:
        """Every subscription made so far; each consumer bound before this returns, so it
        takes every event published after."""
        self._started = True
        for subject, handler in self._fanout:
            await self._subscribe_fanout(subject, handler)
        for subject, group, handler in self._queue_groups:
            await self._subscribe_queue(subject, group, handler)
        for key in list(self._consumers):
            psub = await self._pull_subscription(*key)
            if key in self._consumers and key not in self._consuming:  # not left meanwhile
                self._start_consumer(*key, psub)
        self.link.spawn(self._keep_alive(), name="bus-in-progress")

    def stopped(self) -> None:
        """The link closed (its tasks are cancelled): subscribe again at the next start."""
        self._started = False
        self._consuming.clear()
        self._held.clear()
        self._queue_subs.clear()

    def subscribe(self, subject: str, handler: EventHandler, *, group: str | None = None) -> None:
        if group is None:
            self._fanout.append((subject, handler))
            if self._started:
                self.link.spawn(self._subscribe_fanout(subject, handler))
            return
        event_type = EVENT_TYPES.get(subject)
        if subject != "*" and event_type is not None and not event_type.durable:
            self._queue_groups.append((subject, group, handler))
            if self._started:
                self.link.spawn(self._subscribe_queue(subject, group, handler))
            return
        handlers = self._consumers.get((group, subject))
        if handlers is not None:
            handlers.append(handler)  # one consumer; each of its events goes to both
            return
        self._consumers[(group, subject)] = [handler]
        if self._started:
            self._start_consumer(group, subject)

    def unsubscribe(self, group: str) -> None:
        """Stops the group's consumers now: a message being handled is cancelled with its
        handler and, with the rest of the batch, given back for the next subscriber."""
        for key in [k for k in self._consumers if k[0] == group]:
            del self._consumers[key]
            task = self._consuming.pop(key, None)
            if task is not None:
                task.cancel()
        self._queue_groups = [q for q in self._queue_groups if q[1] != group]
        for sub in self._queue_subs.pop(group, []):
            self.link.spawn(_quietly(sub.unsubscribe()))

    def _start_consumer(self, group: str, subject: str, psub: JetStreamContext.PullSubscription | None = None) -> None:
        self._consuming[(group, subject)] = self.link.spawn(self._consume(group, subject, psub))

    async def _subscribe_fanout(self, subject: str, handler: EventHandler) -> None:
        assert self.link.nc is not None
        pattern = "laddnat.*.>" if subject == "*" else f"laddnat.*.{subject}"

        async def deliver(msg: Msg) -> None:
            event = decode(msg)
            if event is not None:
                await call(handler, event)

        await self.link.nc.subscribe(pattern, cb=deliver)

    async def _subscribe_queue(self, subject: str, group: str, handler: EventHandler) -> None:
        assert self.link.nc is not None

        async def deliver(msg: Msg) -> None:
            event = decode(msg)
            if event is not None:
                await call(handler, event)

        sub = await self.link.nc.subscribe(FANOUT_PREFIX + subject, queue=group, cb=deliver)
        self._queue_subs.setdefault(group, []).append(sub)

    async def _pull_subscription(self, group: str, subject: str) -> JetStreamContext.PullSubscription:
        """The group's durable consumer of ``subject``: created at the group's first start,
        its ack wait brought to this process's on every start."""
        js = self.link.js
        assert js is not None
        name = consumer_name(group, subject)
        filter_subject = DURABLE_PREFIX + (">" if subject == "*" else subject)
        config = api.ConsumerConfig(
            durable_name=name,
            filter_subject=filter_subject,
            ack_policy=api.AckPolicy.EXPLICIT,
            # A group's first start takes the events from then on, not the stream's week of history.
            deliver_policy=api.DeliverPolicy.NEW,
            max_deliver=MAX_DELIVER,
            ack_wait=self.ack_wait_s,
        )
        try:
            # Creates it, or updates one made with another ack wait (an older release's 30 s).
            await js.add_consumer(STREAM, config)
        except nats.js.errors.APIError as err:
            log.warning("consumer %s keeps its settings: %s", name, reason(err))
        return await js.pull_subscribe(filter_subject, durable=name, stream=STREAM, config=config)

    async def _consume(self, group: str, subject: str, psub: JetStreamContext.PullSubscription | None = None) -> None:
        """One durable consumer of the group: fetched in stream order, one handled at a time,
        acked after its handlers returned; a failed one is redelivered (``MAX_DELIVER`` times)."""
        key = (group, subject)
        name = consumer_name(group, subject)
        seen = self._seen.setdefault(group, OrderedDict())
        held: deque[Msg] = deque()
        self._held[key] = held
        try:
            while True:
                try:
                    if psub is None:
                        psub = await self._pull_subscription(group, subject)
                    held.extend(await psub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S))
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    log.debug("consumer %s waits for NATS: %s", name, reason(err))
                    await asyncio.sleep(RETRY_S * 4)
                    continue
                while held:
                    handlers = self._consumers.get(key)
                    if handlers is None:
                        return  # the group was left: ``finally`` gives the rest back
                    await self._handle(held[0], handlers, seen)
                    held.popleft()
        finally:
            if self._held.get(key) is held:
                del self._held[key]
            # Stopped here: what is left goes to the next member now, not after the ack wait
            # (a second at most: a stop never waits on NATS; the ack wait covers the rest).
            if held:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(_nak_all(held), 1.0)

    async def _handle(self, msg: Msg, handlers: list[EventHandler], seen: OrderedDict[str, None]) -> None:
        msg_id = (msg.headers or {}).get(MSG_ID_HEADER, "")
        event = decode(msg)
        if event is not None and msg_id not in seen:
            try:
                for handler in handlers:
                    await handler(event)
            except Exception:
                delivered = msg.metadata.num_delivered
                if delivered >= MAX_DELIVER:
                    log.exception("event handler failed %d times: given up", delivered, extra={"subject": msg.subject})
                else:
                    log.exception("event handler failed: redelivered", extra={"subject": msg.subject})
                with contextlib.suppress(Exception):
                    await msg.nak()
                return
            if msg_id:
                seen[msg_id] = None
                if len(seen) > SEEN_IDS:
                    seen.popitem(last=False)
        with contextlib.suppress(Exception):
            await msg.ack()  # a lost ack: redelivered, and then recognised in ``seen``

    async def _keep_alive(self) -> None:
        """Every message this process holds is "in progress" (resets its ack wait) four
        times per ack wait, so only a process that is gone loses its messages to another."""
        while True:
            await asyncio.sleep(self.ack_wait_s / 4)
            for held in list(self._held.values()):
                for msg in list(held):
                    if msg.is_acked:
                        continue
                    with contextlib.suppress(Exception):
                        await msg.in_progress()
                        self.progress_sent += 1


async def _nak_all(msgs: deque[Msg]) -> None:
    for msg in msgs:
        if not msg.is_acked:
            await msg.nak()


async def _quietly(work: Any) -> None:
    with contextlib.suppress(Exception):
        await work
