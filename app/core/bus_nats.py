"""The bus on NATS JetStream: many processes share one network (``LADDNAT_BUS_URL=nats://...``).

Subjects (docs/operations.md tells the whole story):
- ``laddnat.ev.<subject>``: durable events (``Event.durable``), stored in the JetStream
  stream ``LADDNAT_EVENTS``, published with ``Nats-Msg-Id`` so a retried publish is stored once.
- ``laddnat.fanout.<subject>``: events nothing must act on exactly once; core NATS only.
- ``laddnat-cmd.<node id>``: commands for the chargers this node's bridge holds; the served
  subject travels in the ``Laddnat-Subject`` header. Which node holds what is the KV bucket
  ``laddnat_commands`` (served subject -> node id).

A subscriber without a group gets core fan-out of both kinds (``laddnat.*.<subject>``). A
grouped subscriber of a durable subject reads a durable pull consumer ``<group>__<subject>``
(one per group and subject, like the in-process bus's queue per subscription), handles its
messages one at a time in stream order and acks each after its handler returned; of a
fan-out-only subject, a core queue group (at most once).

``publish`` only appends to an in-memory outbox (bounded: ``OUTBOX_LIMIT`` events); one task
sends it in order, pipelined, and keeps every event until NATS has acknowledged it, so an
outage delays events and loses none while the process lives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import re
import socket
import uuid
from collections import OrderedDict, deque
from typing import Any
from urllib.parse import urlsplit

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from app.core.bus import (
    EVENT_TYPES,
    BusUnavailable,
    Event,
    EventHandler,
    Leadership,
    LeadershipHandler,
    NoResponders,
    RequestHandler,
)

log = logging.getLogger("laddnat.bus")

STREAM = "LADDNAT_EVENTS"
DURABLE_PREFIX = "laddnat.ev."
FANOUT_PREFIX = "laddnat.fanout."
COMMAND_PREFIX = "laddnat-cmd."
REGISTRY_BUCKET = "laddnat_commands"
LEADERS_BUCKET = "laddnat_leaders"
SUBJECT_HEADER = "Laddnat-Subject"
STATUS_HEADER = "Laddnat-Status"
MSG_ID_HEADER = "Nats-Msg-Id"

# Events waiting for NATS. ~1 KiB each at most: 100,000 is ~100 MiB and, at 1,000 events/s,
# ~100 s of outage; past it new events are dropped (logged, counted in ``dropped``).
OUTBOX_LIMIT = 100_000
PUBLISH_BATCH = 256  # in flight at once before their acks are awaited
ACK_TIMEOUT_S = 5.0
RETRY_S = 0.25
# A stored event lives a week (a worker down for a weekend catches up); a publisher's retry
# within two minutes is recognised by its message id and stored once.
STREAM_MAX_AGE_S = 7 * 24 * 3600
DUPLICATE_WINDOW_S = 120
MAX_DELIVER = 5  # a handler failing this often gives the event up (logged)
ACK_WAIT_S = 30
# Small batches: each message waits behind the ones before it, and one still unhandled when
# its ACK_WAIT_S runs out is delivered again (possibly to another process).
FETCH_BATCH = 16
FETCH_WAIT_S = 2.0
SEEN_IDS = 10_000  # per group: repeats recognised after a lost ack
CONNECT_TIMEOUT_S = 2.0
# A leader's key lives this long unless refreshed (every third of it): a leader that dies
# without a goodbye is replaced within about LEADER_TTL_S * 4/3.
LEADER_TTL_S = 5.0

_KEY_CHARS = re.compile(r"[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*")
_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def registry_key(subject: str) -> str:
    """A served subject as a KV key; anything outside the key alphabet is base64url-coded."""
    if _KEY_CHARS.fullmatch(subject) and not subject.startswith("="):
        return subject
    return "=" + base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=")


class NatsBus:
    """The ``Bus`` over NATS; ``node_id`` names this process in the command registry."""

    def __init__(
        self, url: str, node_id: str, *, outbox_limit: int = OUTBOX_LIMIT, leader_ttl_s: float = LEADER_TTL_S
    ) -> None:
        self.url = url
        self.leader_ttl_s = leader_ttl_s
        self.node_id = _TOKEN_UNSAFE.sub("_", node_id) or "node"
        self.outbox_limit = outbox_limit
        self.dropped = 0  # events refused because the outbox was full
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._connected = asyncio.Event()
        self._outbox: deque[tuple[str, bytes, bool, str]] = deque()
        # Message ids: unique per publish across processes and restarts, and cheap to make.
        self._id_prefix = f"{self.node_id}.{uuid.uuid4().hex[:12]}."
        self._ids = itertools.count()
        self._outbox_ready = asyncio.Event()
        self._fanout: list[tuple[str, EventHandler]] = []
        self._queue_groups: list[tuple[str, str, EventHandler]] = []
        self._consumers: dict[tuple[str, str], list[EventHandler]] = {}
        self._consuming: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._queue_subs: dict[str, list[Any]] = {}  # group -> its core queue subscriptions
        self._leaders: KeyValue | None = None
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._servers: dict[str, RequestHandler] = {}
        self._registry_ops: deque[tuple[str, str]] = deque()  # ("claim" | "release", subject)
        self._registry_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._closing = False

    # -- life ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, create or update the stream and the registry, start every subscription.

        Raises ``BusUnavailable`` ("cannot reach NATS at ...: reason") when NATS is not there."""
        await self._probe()
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    self.url,
                    name=f"laddnat-{self.node_id}",
                    connect_timeout=int(CONNECT_TIMEOUT_S),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,  # NATS coming back is recovered from by itself
                    reconnect_time_wait=1,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                ),
                timeout=CONNECT_TIMEOUT_S * 3,
            )
            self._nc = nc
            self._js = nc.jetstream(timeout=ACK_TIMEOUT_S)
            await self._ensure_stream()
            self._kv = await self._ensure_registry()
            await nc.subscribe(COMMAND_PREFIX + self.node_id, cb=self._on_command)
        except Exception as err:
            with contextlib.suppress(Exception):
                await nc.close()
            self._nc = None
            raise BusUnavailable(f"cannot reach NATS at {self.url}: {_reason(err)}") from None
        self._connected.set()
        self._started = True
        for subject, handler in self._fanout:
            await self._subscribe_fanout(subject, handler)
        for subject, group, handler in self._queue_groups:
            await self._subscribe_queue(subject, group, handler)
        for group, subject in self._consumers:
            # Bound before start returns: the consumer takes every event published after it.
            self._start_consumer(group, subject, await self._pull_subscription(group, subject))
        # The server has every subscription before start returns (another connection's
        # publish could otherwise overtake them).
        await self._nc.flush(timeout=int(ACK_TIMEOUT_S))
        self._spawn(self._publisher())
        self._spawn(self._registry_worker())

    async def _probe(self) -> None:
        """One TCP connect first: a clear reason (refused, unknown host) instead of retries."""
        parts = urlsplit(self.url)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as err:
            raise BusUnavailable(f"cannot reach NATS at {self.url}: {_reason(err)}") from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        config = api.StreamConfig(
            name=STREAM,
            subjects=[DURABLE_PREFIX + ">"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=STREAM_MAX_AGE_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await self._js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)
        else:
            await self._js.update_stream(config)

    async def _ensure_registry(self) -> KeyValue:
        assert self._js is not None
        try:
            return await self._js.key_value(REGISTRY_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            return await self._js.create_key_value(
                api.KeyValueConfig(bucket=REGISTRY_BUCKET, history=1, storage=api.StorageType.FILE)
            )

    async def close(self) -> None:
        """Send what the outbox still holds and the registry changes (a few seconds at most),
        then stop."""
        if self._nc is not None and self._nc.is_connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), ACK_TIMEOUT_S)
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._consuming.clear()
        self._queue_subs.clear()
        self._nc = self._js = self._kv = self._leaders = None
        self._started = self._closing = False
        self._connected.clear()

    async def _drained(self) -> None:
        while self._outbox or self._registry_ops:
            await asyncio.sleep(0.02)

    async def ping(self) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise BusUnavailable(f"cannot reach NATS at {self.url}: not connected")
        try:
            await nc.flush(timeout=1)
        except Exception as err:
            raise BusUnavailable(f"cannot reach NATS at {self.url}: {_reason(err)}") from None

    async def _on_disconnected(self) -> None:
        self._connected.clear()
        if self._closing:
            return
        log.warning("lost NATS; events wait in the outbox", extra={"url": self.url})

    async def _on_reconnected(self) -> None:
        log.info("NATS is back", extra={"url": self.url, "outbox": len(self._outbox)})
        self._connected.set()
        # A claim may have been lost with the server: say again what this node serves.
        for subject in self._servers:
            self._registry_ops.append(("claim", subject))
        self._registry_ready.set()

    async def _on_error(self, err: Exception) -> None:
        log.debug("NATS client error: %s", _reason(err))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- events out -------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if len(self._outbox) >= self.outbox_limit:
            self.dropped += 1
            log.error("bus outbox full: event dropped", extra={"subject": event.subject})
            return
        durable = type(event).durable
        subject = (DURABLE_PREFIX if durable else FANOUT_PREFIX) + event.subject
        self._outbox.append((subject, msgspec.json.encode(event), durable, f"{self._id_prefix}{next(self._ids)}"))
        self._outbox_ready.set()

    async def _publisher(self) -> None:
        """Sends the outbox in order; an event leaves it only once NATS has taken it."""
        while True:
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            if self._nc is None or not self._nc.is_connected:
                await self._connected.wait()
                continue
            batch = list(itertools.islice(self._outbox, PUBLISH_BATCH))
            sent = await self._send(batch)
            for _ in range(sent):
                self._outbox.popleft()
            if sent < len(batch):
                await asyncio.sleep(RETRY_S)

    async def _send(self, batch: list[tuple[str, bytes, bool, str]]) -> int:
        """How many of ``batch``, from its head, NATS has taken. One connection and one
        server keep them in order, so the rest is sent again from the first unconfirmed one
        (the stream drops the repeats of those it had stored by their message id)."""
        assert self._nc is not None and self._js is not None
        acks: list[asyncio.Future[Any] | None] = []
        done = 0
        try:
            for subject, data, durable, msg_id in batch:
                if durable:
                    acks.append(await self._js.publish_async(subject, data, headers={MSG_ID_HEADER: msg_id}))
                else:
                    await self._nc.publish(subject, data)
                    acks.append(None)
            deadline = asyncio.get_running_loop().time() + ACK_TIMEOUT_S
            for ack in acks:
                if ack is not None:
                    await asyncio.wait_for(ack, max(0.0, deadline - asyncio.get_running_loop().time()))
                done += 1
        except Exception as err:
            log.warning("publish to NATS failed, will retry: %s", _reason(err))
        finally:
            for ack in acks[done:]:
                if ack is not None and not ack.done():
                    ack.cancel()
        return done

    # -- events in ----------------------------------------------------------------------

    def subscribe(self, subject: str, handler: EventHandler, *, group: str | None = None) -> None:
        if group is None:
            self._fanout.append((subject, handler))
            if self._started:
                self._spawn(self._subscribe_fanout(subject, handler))
            return
        event_type = EVENT_TYPES.get(subject)
        if subject != "*" and event_type is not None and not event_type.durable:
            self._queue_groups.append((subject, group, handler))
            if self._started:
                self._spawn(self._subscribe_queue(subject, group, handler))
            return
        handlers = self._consumers.get((group, subject))
        if handlers is not None:
            handlers.append(handler)  # one consumer; each of its events goes to both
            return
        self._consumers[(group, subject)] = [handler]
        if self._started:
            self._start_consumer(group, subject)

    def _start_consumer(self, group: str, subject: str, psub: JetStreamContext.PullSubscription | None = None) -> None:
        task = asyncio.create_task(self._consume(group, subject, psub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._consuming[(group, subject)] = task

    def unsubscribe(self, group: str) -> None:
        """Stops the group's consumers now: a message being handled is cancelled with its
        handler and, never acked, goes to the next subscriber after ``ACK_WAIT_S``."""
        for key in [k for k in self._consumers if k[0] == group]:
            del self._consumers[key]
            task = self._consuming.pop(key, None)
            if task is not None:
                task.cancel()
        self._queue_groups = [q for q in self._queue_groups if q[1] != group]
        for sub in self._queue_subs.pop(group, []):
            self._spawn(_quietly(sub.unsubscribe()))

    def lead(self, name: str, *, on_elected: LeadershipHandler, on_deposed: LeadershipHandler) -> Leadership:
        return KvLeadership(self, name, on_elected, on_deposed)

    async def leaders(self) -> KeyValue:
        """The KV bucket of leaders (``LEADERS_BUCKET``): a key per role, expiring unless refreshed."""
        if self._leaders is None:
            if self._js is None or not self._connected.is_set():
                raise BusUnavailable(f"cannot reach NATS at {self.url}: not connected")
            try:
                self._leaders = await self._js.key_value(LEADERS_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._leaders = await self._js.create_key_value(
                    api.KeyValueConfig(
                        bucket=LEADERS_BUCKET, history=1, ttl=self.leader_ttl_s, storage=api.StorageType.MEMORY
                    )
                )
        return self._leaders

    async def _subscribe_fanout(self, subject: str, handler: EventHandler) -> None:
        assert self._nc is not None
        pattern = "laddnat.*.>" if subject == "*" else f"laddnat.*.{subject}"

        async def deliver(msg: Msg) -> None:
            event = _decode(msg)
            if event is not None:
                await _call(handler, event)

        await self._nc.subscribe(pattern, cb=deliver)

    async def _subscribe_queue(self, subject: str, group: str, handler: EventHandler) -> None:
        assert self._nc is not None

        async def deliver(msg: Msg) -> None:
            event = _decode(msg)
            if event is not None:
                await _call(handler, event)

        sub = await self._nc.subscribe(FANOUT_PREFIX + subject, queue=group, cb=deliver)
        self._queue_subs.setdefault(group, []).append(sub)

    async def _pull_subscription(self, group: str, subject: str) -> JetStreamContext.PullSubscription:
        """The group's durable consumer of ``subject`` (created at the group's first start)."""
        assert self._js is not None
        config = api.ConsumerConfig(
            durable_name=consumer_name(group, subject),
            ack_policy=api.AckPolicy.EXPLICIT,
            # A group's first start takes the events from then on, not the stream's week of history.
            deliver_policy=api.DeliverPolicy.NEW,
            max_deliver=MAX_DELIVER,
            ack_wait=ACK_WAIT_S,
        )
        filter_subject = DURABLE_PREFIX + (">" if subject == "*" else subject)
        return await self._js.pull_subscribe(
            filter_subject, durable=consumer_name(group, subject), stream=STREAM, config=config
        )

    async def _consume(self, group: str, subject: str, psub: JetStreamContext.PullSubscription | None = None) -> None:
        """One durable consumer of the group: fetched in stream order, one handled at a time,
        acked after its handlers returned; a failed one is redelivered (``MAX_DELIVER`` times)."""
        name = consumer_name(group, subject)
        seen = self._seen.setdefault(group, OrderedDict())
        while True:
            try:
                if psub is None:
                    psub = await self._pull_subscription(group, subject)
                msgs = await psub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.debug("consumer %s waits for NATS: %s", name, _reason(err))
                await asyncio.sleep(RETRY_S * 4)
                continue
            for msg in msgs:
                await self._handle(msg, self._consumers[(group, subject)], seen)

    async def _handle(self, msg: Msg, handlers: list[EventHandler], seen: OrderedDict[str, None]) -> None:
        msg_id = (msg.headers or {}).get(MSG_ID_HEADER, "")
        event = _decode(msg)
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

    # -- commands ---------------------------------------------------------------------

    def serve(self, subject: str, handler: RequestHandler) -> None:
        self._servers[subject] = handler
        self._registry_ops.append(("claim", subject))
        self._registry_ready.set()

    def unserve(self, subject: str) -> None:
        if self._servers.pop(subject, None) is not None:
            self._registry_ops.append(("release", subject))
            self._registry_ready.set()

    async def _registry_worker(self) -> None:
        """Applies claims and releases in the order they were made; retried while NATS is away."""
        while True:
            if not self._registry_ops:
                self._registry_ready.clear()
                await self._registry_ready.wait()
                continue
            # Claims in a row go out together (a reconnect storm brings thousands at once);
            # a release waits its turn, alone.
            ops = list(itertools.takewhile(lambda op: op[0] == "claim", itertools.islice(self._registry_ops, 256)))
            ops = ops or [self._registry_ops[0]]
            results = await asyncio.gather(*(self._apply(op, subject) for op, subject in ops), return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                if isinstance(failed, asyncio.CancelledError):
                    raise failed
                log.debug("registry changes wait for NATS: %s", _reason(failed))
                await asyncio.sleep(RETRY_S)
                continue  # all again: a claim is idempotent, a release checks first
            for _ in ops:
                self._registry_ops.popleft()

    async def _apply(self, op: str, subject: str) -> None:
        assert self._kv is not None
        key = registry_key(subject)
        if op == "claim":
            if subject in self._servers:  # not let go meanwhile
                await self._kv.put(key, self.node_id.encode())
            return
        if subject in self._servers:
            return  # served again since: the claim after this release stands
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.NotFoundError:
            return
        if entry.value == self.node_id.encode():
            # Only our own claim: a bridge the charger moved to has written its own.
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._kv.delete(key, last=entry.revision)

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> bytes:
        """Sent once to the node the registry names; never retried on another (a command
        reaches a charger at most once). ``NoResponders`` when no live node serves it."""
        nc, kv = self._nc, self._kv
        if nc is None or kv is None or not nc.is_connected:
            raise BusUnavailable(f"cannot reach NATS at {self.url}: not connected")
        try:
            entry = await kv.get(registry_key(subject))
        except nats.js.errors.NotFoundError:
            raise NoResponders(subject) from None
        except Exception as err:
            raise BusUnavailable(f"cannot reach NATS at {self.url}: {_reason(err)}") from None
        node = (entry.value or b"").decode()
        if not node:
            raise NoResponders(subject)
        try:
            reply = await nc.request(
                COMMAND_PREFIX + node, payload, timeout=timeout_s, headers={SUBJECT_HEADER: subject}
            )
        except nats.errors.NoRespondersError:
            raise NoResponders(subject) from None  # the node is gone (its connection closed)
        except nats.errors.TimeoutError:
            raise TimeoutError(f"no reply from node {node} within {timeout_s:g} s") from None
        status = (reply.headers or {}).get(STATUS_HEADER)
        if status == "no-server":
            raise NoResponders(subject)
        if status == "error":
            raise RuntimeError(f"the server of {subject} failed: {reply.data.decode(errors='replace')}")
        return reply.data

    async def _on_command(self, msg: Msg) -> None:
        # The client delivers one message at a time: each command runs beside the others.
        self._spawn(self._answer(msg))

    async def _answer(self, msg: Msg) -> None:
        assert self._nc is not None
        subject = (msg.headers or {}).get(SUBJECT_HEADER, "")
        handler = self._servers.get(subject)
        if handler is None:
            # The charger left this node after the requester read the registry.
            await self._nc.publish(msg.reply, b"", headers={STATUS_HEADER: "no-server"})
            return
        try:
            reply = await handler(msg.data)
        except Exception as err:
            log.exception("command handler failed", extra={"subject": subject})
            await self._nc.publish(msg.reply, str(err).encode(), headers={STATUS_HEADER: "error"})
            return
        await self._nc.publish(msg.reply, reply)


class KvLeadership:
    """Leadership as a key in ``LEADERS_BUCKET`` that expires after the bus's ``leader_ttl_s``.

    A candidate ``create``s the key (only one can: it fails while the key exists); the winner
    rewrites it every third of the TTL with an ``update`` on its last revision, so a leader
    whose key was taken over notices. A leader that cannot refresh steps down once half the
    TTL has passed since its last refresh: before its key can expire and a standby take over.
    """

    def __init__(self, bus: NatsBus, name: str, on_elected: LeadershipHandler, on_deposed: LeadershipHandler) -> None:
        self.bus = bus
        self.name = name
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._key = registry_key(name)
        self._revision: int | None = None  # of our key while we lead
        self._refreshed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._revision is not None

    async def start(self) -> None:
        if self._task is None:
            # The bus's task: a bus closed without a goodbye stops campaigning with it.
            self._task = asyncio.create_task(self._campaign(), name=f"leadership-{self.name}")
            self.bus._tasks.add(self._task)
            self._task.add_done_callback(self.bus._tasks.discard)

    async def close(self) -> None:
        """Stop campaigning; a leader deletes its key, so a standby takes over at its next try."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        revision, self._revision = self._revision, None
        kv = self.bus._leaders
        if revision is not None and kv is not None:
            with contextlib.suppress(Exception):
                await kv.delete(self._key, last=revision)

    async def _campaign(self) -> None:
        loop = asyncio.get_running_loop()
        value = self.bus.node_id.encode()
        while True:
            # Each write waits at most a third of the TTL: a leader cut off steps down in time.
            wait_s = self.bus.leader_ttl_s / 3
            try:
                kv = await self.bus.leaders()
                if self._revision is None:
                    self._revision = await asyncio.wait_for(kv.create(self._key, value), wait_s)
                    self._refreshed_at = loop.time()
                    log.info("leader of %s", self.name, extra={"node": self.bus.node_id})
                    await self._on_elected()
                else:
                    self._revision = await asyncio.wait_for(kv.update(self._key, value, last=self._revision), wait_s)
                    self._refreshed_at = loop.time()
            except asyncio.CancelledError:
                raise
            except nats.js.errors.KeyWrongLastSequenceError:
                if self._revision is not None:  # our key expired and another took it
                    await self._step_down("the key was taken over")
            except Exception as err:
                # The bucket is in memory: a NATS server restarted has none; made again next time.
                self.bus._leaders = None
                if self._revision is not None and loop.time() - self._refreshed_at >= self.bus.leader_ttl_s / 2:
                    await self._step_down(_reason(err))
            await asyncio.sleep(wait_s)

    async def _step_down(self, why: str) -> None:
        self._revision = None
        log.warning("no longer leader of %s: %s", self.name, why, extra={"node": self.bus.node_id})
        await self._on_deposed()


async def _quietly(work: Any) -> None:
    with contextlib.suppress(Exception):
        await work


def consumer_name(group: str, subject: str) -> str:
    """``<group>__<subject>`` (dots made underscores; ``"*"`` is ``all``)."""
    return f"{_TOKEN_UNSAFE.sub('_', group)}__{'all' if subject == '*' else _TOKEN_UNSAFE.sub('_', subject)}"


def _decode(msg: Msg) -> Event | None:
    subject = msg.subject.split(".", 2)[2]
    event_type = EVENT_TYPES.get(subject)
    if event_type is None:
        log.warning("event of unknown subject skipped", extra={"subject": subject})
        return None
    try:
        return msgspec.json.decode(msg.data, type=event_type)
    except msgspec.ValidationError:
        log.exception("undecodable event skipped", extra={"subject": subject})
        return None


async def _call(handler: EventHandler, event: Event) -> None:
    try:
        await handler(event)
    except Exception:
        log.exception("event handler failed", extra={"subject": event.subject})


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text or type(err).__name__
