"""Commands: request/reply to the node whose bridge holds the charger.

``laddnat-cmd.<node id>`` carries the commands for the chargers this node's bridge holds; the
served subject travels in the ``Laddnat-Subject`` header. Which node holds what is the KV
bucket ``laddnat_commands`` (served subject -> node id): a bridge claims a charger's subject
when it connects and releases it (only its own claim) when it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api
from nats.js.kv import KeyValue

from app.core.bus import NoResponders, RequestHandler
from app.core.bus_nats.acks import AckedPublisher
from app.core.bus_nats.link import Link
from app.core.bus_nats.wire import (
    ACK_TIMEOUT_S,
    COMMAND_PREFIX,
    REGISTRY_BUCKET,
    RETRY_S,
    STATUS_HEADER,
    SUBJECT_HEADER,
    log,
    reason,
    registry_key,
    registry_put_subject,
)

CLAIMS_AT_ONCE = 256  # a reconnect storm brings thousands of claims at once


class Commands:
    def __init__(self, link: Link, publisher: AckedPublisher) -> None:
        self.link = link
        self.publisher = publisher
        self.kv: KeyValue | None = None
        self._servers: dict[str, RequestHandler] = {}
        self._ops: deque[tuple[str, str]] = deque()  # ("claim" | "release", subject)
        self._ready = asyncio.Event()
        link.on_reconnected.append(self._claim_again)

    @property
    def pending(self) -> int:
        """Registry changes not yet applied."""
        return len(self._ops)

    async def start(self) -> None:
        """The registry bucket and this node's command subject; then the registry worker."""
        js, nc = self.link.js, self.link.nc
        assert js is not None and nc is not None
        try:
            self.kv = await js.key_value(REGISTRY_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            self.kv = await js.create_key_value(
                api.KeyValueConfig(bucket=REGISTRY_BUCKET, history=1, storage=api.StorageType.FILE)
            )
        await nc.subscribe(COMMAND_PREFIX + self.link.node_id, cb=self._on_command)

    def stopped(self) -> None:
        self.kv = None

    def _claim_again(self) -> None:
        # A claim may have been lost with the server: say again what this node serves.
        for subject in self._servers:
            self._ops.append(("claim", subject))
        self._ready.set()

    def serve(self, subject: str, handler: RequestHandler) -> None:
        self._servers[subject] = handler
        self._ops.append(("claim", subject))
        self._ready.set()

    def unserve(self, subject: str) -> None:
        if self._servers.pop(subject, None) is not None:
            self._ops.append(("release", subject))
            self._ready.set()

    async def run(self) -> None:
        """Applies claims and releases in the order they were made; retried while NATS is away."""
        while True:
            if not self._ops:
                self._ready.clear()
                await self._ready.wait()
                continue
            # Claims in a row go out together, one window of puts; a release waits its turn, alone.
            claims = list(itertools.takewhile(lambda op: op[0] == "claim", itertools.islice(self._ops, CLAIMS_AT_ONCE)))
            try:
                if claims:
                    await self._claim([subject for _, subject in claims])
                else:
                    await self._release(self._ops[0][1])
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.debug("registry changes wait for NATS: %s", reason(err))
                await asyncio.sleep(RETRY_S)
                continue  # all again: a claim is idempotent, a release checks first
            for _ in range(len(claims) or 1):
                self._ops.popleft()

    async def _claim(self, subjects: list[str]) -> None:
        """This node holds these subjects: a KV put each (those still served), all at once."""
        node = self.link.node_id.encode()
        puts = [(registry_put_subject(registry_key(s)), node, True, "") for s in subjects if s in self._servers]
        taken, why = await self.publisher.send(puts, ACK_TIMEOUT_S)
        if taken < len(puts):
            raise RuntimeError(why)

    async def _release(self, subject: str) -> None:
        assert self.kv is not None
        if subject in self._servers:
            return  # served again since: the claim after this release stands
        key = registry_key(subject)
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.NotFoundError:
            return
        if entry.value == self.link.node_id.encode():
            # Only our own claim: a bridge the charger moved to has written its own.
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self.kv.delete(key, last=entry.revision)

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> bytes:
        """Sent once to the node the registry names; never retried on another (a command
        reaches a charger at most once). ``NoResponders`` when no live node serves it."""
        nc, kv = self.link.nc, self.kv
        if nc is None or kv is None or not nc.is_connected:
            raise self.link.unavailable("not connected")
        try:
            entry = await kv.get(registry_key(subject))
        except nats.js.errors.NotFoundError:
            raise NoResponders(subject) from None
        except Exception as err:
            raise self.link.unavailable(err) from None
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
        self.link.spawn(self._answer(msg))

    async def _answer(self, msg: Msg) -> None:
        nc = self.link.nc
        assert nc is not None
        subject = (msg.headers or {}).get(SUBJECT_HEADER, "")
        handler = self._servers.get(subject)
        if handler is None:
            # The charger left this node after the requester read the registry.
            await nc.publish(msg.reply, b"", headers={STATUS_HEADER: "no-server"})
            return
        try:
            reply = await handler(msg.data)
        except Exception as err:
            log.exception("command handler failed", extra={"subject": subject})
            await nc.publish(msg.reply, str(err).encode(), headers={STATUS_HEADER: "error"})
            return
        await nc.publish(msg.reply, reply)
