"""One holder of a role across every process: a key per role in the KV bucket
``laddnat_leaders``, expiring unless its holder refreshes it."""

from __future__ import annotations

import asyncio
import contextlib

import nats.js.errors
from nats.js import api
from nats.js.kv import KeyValue

from app.core.bus import LeadershipHandler
from app.core.bus_nats.link import Link
from app.core.bus_nats.wire import LEADERS_BUCKET, log, reason, registry_key
from app.core.tasks import stop_tasks

# A leader's key lives this long unless refreshed (every third of it): a leader that dies
# without a goodbye is replaced within about LEADER_TTL_S * 4/3.
LEADER_TTL_S = 5.0


class Leaders:
    """The bucket of leaders, made on first use. On disk: a NATS server restarted still has
    the keys, so a leader that kept its lead through a short outage refreshes its own key
    after it, and no standby can ``create`` one meanwhile (with the bucket in memory, a
    restart emptied it: a standby took the lead while the old leader still held it, for up
    to a third of the TTL). A bucket made in memory by an older release stays as it is."""

    def __init__(self, link: Link, ttl_s: float = LEADER_TTL_S) -> None:
        self.link = link
        self.ttl_s = ttl_s
        self.kv: KeyValue | None = None

    async def bucket(self) -> KeyValue:
        if self.kv is None:
            js = self.link.js
            if js is None or not self.link.connected.is_set():
                raise self.link.unavailable("not connected")
            try:
                self.kv = await js.key_value(LEADERS_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self.kv = await js.create_key_value(
                    api.KeyValueConfig(bucket=LEADERS_BUCKET, history=1, ttl=self.ttl_s, storage=api.StorageType.FILE)
                )
        return self.kv


class KvLeadership:
    """Leadership as a key in ``LEADERS_BUCKET`` that expires after the bus's leader TTL.

    A candidate ``create``s the key (only one can: it fails while the key exists); the winner
    rewrites it every third of the TTL with an ``update`` on its last revision, so a leader
    whose key was taken over notices. A leader that cannot refresh steps down once half the
    TTL has passed since its last refresh: before its key can expire and a standby take over.
    """

    def __init__(
        self, leaders: Leaders, name: str, on_elected: LeadershipHandler, on_deposed: LeadershipHandler
    ) -> None:
        self.leaders = leaders
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
            self._task = self.leaders.link.spawn(self._campaign(), name=f"leadership-{self.name}")

    async def close(self) -> None:
        """Stop campaigning; a leader deletes its key, so a standby takes over at its next try."""
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        revision, self._revision = self._revision, None
        kv = self.leaders.kv
        if revision is not None and kv is not None:
            with contextlib.suppress(Exception):
                await kv.delete(self._key, last=revision)

    async def _campaign(self) -> None:
        loop = asyncio.get_running_loop()
        value = self.leaders.link.node_id.encode()
        ttl_s = self.leaders.ttl_s
        while True:
            # Each write waits at most a third of the TTL: a leader cut off steps down in time.
            wait_s = ttl_s / 3
            try:
                kv = await self.leaders.bucket()
                if self._revision is None:
                    self._revision = await asyncio.wait_for(kv.create(self._key, value), wait_s)
                    self._refreshed_at = loop.time()
                    log.info("leader of %s", self.name, extra={"node": self.leaders.link.node_id})
                    await self._on_elected()
                else:
                    self._revision = await asyncio.wait_for(kv.update(self._key, value, last=self._revision), wait_s)
                    self._refreshed_at = loop.time()
            except asyncio.CancelledError:
                raise
            except nats.js.errors.KeyWrongLastSequenceError:
                if self._revision is not None:
                    revision = await self._still_ours(kv, value, wait_s)
                    if revision is None:  # our key expired and another took it
                        await self._step_down("the key was taken over")
                    else:
                        self._revision = revision
                        continue  # refresh on it at once
            except Exception as err:
                self.leaders.kv = None  # looked up again next time
                if self._revision is not None and loop.time() - self._refreshed_at >= ttl_s / 2:
                    await self._step_down(reason(err))
            await asyncio.sleep(wait_s)

    async def _still_ours(self, kv: KeyValue, value: bytes, wait_s: float) -> int | None:
        """The key's revision if it still names this node, else None.

        A refresh whose answer came too late (its ``wait_for`` gave up on a loop starved of
        CPU) may have landed all the same: the key is still ours, at a revision we never saw,
        and the next refresh fails on the old one. Stepping down there left the role without
        a leader until the key expired, then reloaded every charger's state on winning it
        back, which starved the leader again (it flapped every ~14 s)."""
        try:
            entry = await asyncio.wait_for(kv.get(self._key), wait_s)
        except asyncio.CancelledError:
            raise
        except Exception:  # gone (expired, deleted) or not answered: not provably ours
            return None
        return entry.revision if entry.value == value and entry.revision is not None else None

    async def _step_down(self, why: str) -> None:
        self._revision = None
        log.warning("no longer leader of %s: %s", self.name, why, extra={"node": self.leaders.link.node_id})
        await self._on_deposed()
