"""The bus: events fan out to subscribers; commands go request/reply to one server.

Everything on it is message-shaped (a subject and a msgspec struct), so the in-process
implementation here and the NATS one (the app.core.bus_nats package, ``LADDNAT_BUS_URL=nats://...``)
share one interface and one behavioural test suite (tests/e2e/test_bus_contract.py).

Which group a subscription takes (the rule every call site follows):
- ``group=None`` when every process must see the event: a live view (a driver's stream), a
  per-process cache to drop (the bridge's credential cache), a recorder. On NATS: core
  fan-out, nothing stored; a process that is down misses it, and that is fine for these.
- a stable group name when the work must happen once across all processes: a capture, a
  receipt mail, a webhook delivery, an incident, a partner push ("billing", "receipts",
  "webhooks", "health", "playbooks", "roaming-..."). On NATS: a durable JetStream consumer
  per group and subject, at-least-once, so handlers must tolerate a repeat (the bus drops the
  repeats it can recognise by their message id).

An event class is ``durable`` (stored in the stream) unless it says otherwise: only events
that nothing must act on exactly once (cache invalidations) opt out. ``"*"`` means every
subject; with a group on NATS that is every durable subject.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

import msgspec

from app.core.tasks import stop_tasks

log = logging.getLogger("laddnat.bus")


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every bus event; ``subject`` names it on the wire (past tense).

    ``durable`` False: fan-out only, never stored (a cache to drop); grouped subscribers
    of such a subject share it at most once."""

    subject: ClassVar[str] = "event"
    durable: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A NATS bus decodes by subject: every event class is known by its subject.
        EVENT_TYPES[cls.subject] = cls


# subject -> event class, filled as event modules are imported (app.events imports them all).
EVENT_TYPES: dict[str, type[Event]] = {}


EventHandler = Callable[[Event], Awaitable[None]]
RequestHandler = Callable[[bytes], Awaitable[bytes]]
LeadershipHandler = Callable[[], Awaitable[None]]


class NoResponders(Exception):
    """Nobody serves the subject (e.g. the charger's bridge is not connected)."""


class BusUnavailable(Exception):
    """The bus cannot carry the message now (NATS unreachable); the text says where and why."""


class Leadership(Protocol):
    """One holder of a role across every process on the bus (the health monitor, the
    playbooks): ``start`` campaigns, calls ``on_elected`` once won and ``on_deposed`` once
    lost (the role is then someone else's: stop at once). ``close`` gives the role up."""

    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, event: Event) -> None: ...

    def subscribe(self, subject: str, handler: EventHandler, *, group: str | None = None) -> None:
        """``group`` None: every process's handler gets every event (a live view, a cache to
        drop). A group name: each event is handled once per group however many processes
        subscribe under it (work that must happen once: a capture, a webhook, an incident)."""
        ...

    def unsubscribe(self, group: str) -> None:
        """Stop every subscription of ``group`` in this process at once (a leader deposed);
        on NATS its durable consumers stay, for whoever subscribes next."""
        ...

    def lead(self, name: str, *, on_elected: LeadershipHandler, on_deposed: LeadershipHandler) -> Leadership:
        """The leadership of ``name`` (see ``Leadership``); in one process always this one."""
        ...

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> bytes: ...

    def serve(self, subject: str, handler: RequestHandler) -> None: ...

    def unserve(self, subject: str) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if the bus can carry messages now; raise otherwise (readiness)."""
        ...


class InProcessBus:
    """Events queue per subscriber and are delivered by one task each, in order.

    ``publish`` never blocks the publisher (the OCPP reply path): a slow subscriber
    only grows its own queue.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, list[asyncio.Queue[Event]]] = defaultdict(list)
        self._tasks: list[asyncio.Task[None]] = []
        self._servers: dict[str, RequestHandler] = {}
        self._pending_handlers: list[tuple[asyncio.Queue[Event], EventHandler]] = []
        self._delivering: dict[int, asyncio.Task[None]] = {}  # id(queue) -> its delivery task
        self._groups: dict[str, list[tuple[str, asyncio.Queue[Event]]]] = defaultdict(list)
        self._started = False
        # Deliveries queued and not yet handled; ``idle`` waits for none.
        self._unhandled = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def publish(self, event: Event) -> None:
        for queue in (*self._subscribers.get(event.subject, ()), *self._subscribers.get("*", ())):
            queue.put_nowait(event)
            self._unhandled += 1
            self._idle.clear()

    def subscribe(self, subject: str, handler: EventHandler, *, group: str | None = None) -> None:
        # One process: a group has one member, so every subscriber gets every event.
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers[subject].append(queue)
        if group is not None:
            self._groups[group].append((subject, queue))
        if self._started:
            self._begin(queue, handler)
        else:
            self._pending_handlers.append((queue, handler))

    def _begin(self, queue: asyncio.Queue[Event], handler: EventHandler) -> None:
        task = asyncio.create_task(self._deliver(queue, handler))
        self._tasks.append(task)
        self._delivering[id(queue)] = task

    def unsubscribe(self, group: str) -> None:
        for subject, queue in self._groups.pop(group, []):
            self._subscribers[subject].remove(queue)
            self._pending_handlers = [(q, h) for q, h in self._pending_handlers if q is not queue]
            task = self._delivering.pop(id(queue), None)
            if task is not None:
                task.cancel()
            # What it still held is dropped: nobody will handle it.
            self._unhandled -= queue.qsize()
            if self._unhandled <= 0:
                self._unhandled = 0
                self._idle.set()

    def lead(self, name: str, *, on_elected: LeadershipHandler, on_deposed: LeadershipHandler) -> Leadership:
        return SoleLeadership(on_elected)

    async def _deliver(self, queue: asyncio.Queue[Event], handler: EventHandler) -> None:
        while True:
            event = await queue.get()
            try:
                await handler(event)
            except Exception:
                log.exception("event handler failed", extra={"subject": event.subject})
            finally:
                self._unhandled -= 1
                if self._unhandled == 0:
                    self._idle.set()

    async def idle(self) -> None:
        """Return once every event published so far, and every event their handlers
        published in turn, has been handled by every subscriber (tests await it instead
        of sleeping: "nothing happened" then means the handlers saw it and did nothing)."""
        await self._idle.wait()

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> bytes:
        handler = self._servers.get(subject)
        if handler is None:
            raise NoResponders(subject)
        return await asyncio.wait_for(handler(payload), timeout_s)

    def serve(self, subject: str, handler: RequestHandler) -> None:
        self._servers[subject] = handler

    def unserve(self, subject: str) -> None:
        self._servers.pop(subject, None)

    async def start(self) -> None:
        self._started = True
        for queue, handler in self._pending_handlers:
            self._begin(queue, handler)
        self._pending_handlers.clear()

    async def ping(self) -> None:
        return None  # in this process: always there

    async def close(self) -> None:
        await stop_tasks(self._tasks)
        self._tasks.clear()
        self._delivering.clear()
        self._started = False


class SoleLeadership:
    """One process: it leads from the start and is never deposed."""

    def __init__(self, on_elected: LeadershipHandler) -> None:
        self._on_elected = on_elected

    @property
    def is_leader(self) -> bool:
        return True

    async def start(self) -> None:
        await self._on_elected()

    async def close(self) -> None:
        return None


class RecordingSubscriber:
    """Keeps every event of some subjects; handy for the CLI and tests alike."""

    def __init__(self, bus: Bus, *subjects: str) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        for subject in subjects or ("*",):
            bus.subscribe(subject, self._record)

    async def _record(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float = 5.0) -> Event:
        async def _wait() -> Event:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout_s)


def create_bus(url: str | None, *, node_id: str | None = None) -> Bus:
    """``url`` None: the in-process bus; ``nats://...``: the NATS one, as node ``node_id``
    (default host-pid), which names this process in the command registry."""
    if url is None:
        return InProcessBus()
    if url.startswith(("nats://", "tls://")):
        from app.core.bus_nats import NatsBus, default_node_id

        return NatsBus(url, node_id or default_node_id())
    raise ValueError(f"unsupported bus URL {url!r}")
