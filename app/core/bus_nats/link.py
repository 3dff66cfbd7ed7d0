"""The one connection a process keeps to NATS, shared by the bus's parts: connecting with a
clear reason when NATS is not there, the event stream, reconnecting by itself, the tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from app.core.bus import BusUnavailable
from app.core.bus_nats.wire import ACK_TIMEOUT_S, CONNECT_TIMEOUT_S, DURABLE_PREFIX, STREAM, log, reason
from app.core.tasks import stop_tasks

# A stored event lives a week (a worker down for a weekend catches up); a publisher's retry
# within two minutes is recognised by its message id and stored once.
STREAM_MAX_AGE_S = 7 * 24 * 3600
DUPLICATE_WINDOW_S = 120
CLOSE_TIMEOUT_S = 5.0


class Link:
    """``nc`` and ``js`` are None until ``connect`` and after ``close``; ``connected`` is set
    while NATS is reachable. ``on_reconnected`` callbacks run each time NATS comes back."""

    def __init__(self, url: str, node_id: str) -> None:
        self.url = url
        self.node_id = node_id
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.connected = asyncio.Event()
        self.closing = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.on_reconnected: list[Callable[[], None]] = []

    def unavailable(self, why: BaseException | str) -> BusUnavailable:
        """The error every part raises: "cannot reach NATS at <url>: <reason>"."""
        text = why if isinstance(why, str) else reason(why)
        return BusUnavailable(f"cannot reach NATS at {self.url}: {text}")

    @property
    def is_up(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self) -> None:
        """Connect and create or update the event stream; the caller closes on failure."""
        await self._probe()
        nc = Client()
        self.nc = nc
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
        self.js = nc.jetstream(timeout=ACK_TIMEOUT_S)
        await self._ensure_stream()

    async def _probe(self) -> None:
        """One TCP connect first: a clear reason (refused, unknown host) instead of retries."""
        parts = urlsplit(self.url)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as err:
            raise self.unavailable(err) from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _ensure_stream(self) -> None:
        assert self.js is not None
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
            info = await self.js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            await self.js.add_stream(config)
            return
        if not _same_stream(info.config, config):
            # Only a real change: not a stream update from every process that starts.
            await self.js.update_stream(config)

    def started(self) -> None:
        self.connected.set()

    async def close(self) -> None:
        """Cancel every task, then close the connection (no goodbye beyond NATS's own)."""
        self.closing = True
        await stop_tasks(self.tasks)
        self.tasks.clear()
        if self.nc is not None:
            # Bounded too: a stop never waits on NATS (a half-open socket, a server gone).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), CLOSE_TIMEOUT_S)
        self.nc = self.js = None
        self.closing = False
        self.connected.clear()

    async def ping(self) -> None:
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise self.unavailable("not connected")
        try:
            await nc.flush(timeout=1)
        except Exception as err:
            raise self.unavailable(err) from None

    def spawn(self, work: Coroutine[Any, Any, None], name: str | None = None) -> asyncio.Task[None]:
        """A task that ``close`` cancels."""
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _on_disconnected(self) -> None:
        self.connected.clear()
        if not self.closing:
            log.warning("lost NATS; events wait in the outbox", extra={"url": self.url})

    async def _on_reconnected(self) -> None:
        log.info("NATS is back", extra={"url": self.url})
        self.connected.set()
        for callback in self.on_reconnected:
            callback()

    async def _on_error(self, err: Exception) -> None:
        log.debug("NATS client error: %s", reason(err))


def _same_stream(have: api.StreamConfig, want: api.StreamConfig) -> bool:
    fields = ("subjects", "retention", "storage", "discard", "max_age", "duplicate_window")
    return all(getattr(have, name) == getattr(want, name) for name in fields)
