"""The load generator: one process per worker, raw WebSocket chargers, commands over a pipe.

Each worker binds its client sockets to its own loopback source address (127.0.0.2,
127.0.0.3, ...), so ephemeral ports never run out. A charger here is a bare
``websockets`` client that sends pre-formatted OCPP-J frames and parses the replies,
with exactly one CALL outstanding: no ``ocpp`` ChargePoint objects, which would cost
the generator more CPU than the server under test.

Every phase has a deadline; a worker whose parent goes away exits on EOF.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from bench.common import raise_nofile_limit, run_generator, serve_commands
from bench.wsclient import HandshakeFailed, LeanSocket, Refused, Upgrade

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
V16, V201 = "ocpp1.6", "ocpp2.0.1"
ID_TAG = "BENCHTAG"
# Per-charger message timestamps: unique per charger for a long run, formatted once.
_BASE = datetime(2026, 1, 1, tzinfo=UTC)
TIMESTAMPS = [(_BASE + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(50_000)]
LATENCY_SAMPLE_CAP = 200_000
FIRMWARE = "1.0"  # what every bench charger boots with (part of its boot-configuration hash)


@dataclass
class WorkerSpec:
    index: int
    src_ip: str
    host: str
    port: int
    password: str
    chargers: list[tuple[str, str]]  # (identity, subprotocol)
    open_timeout_s: float = 30.0
    expect_accepted: bool = True  # False for the baseline server, which answers {}


@dataclass(eq=False)
class Charger:
    identity: str
    version: str
    auth: str
    ws: LeanSocket | None = None
    reader: asyncio.Task[None] | None = None
    heartbeat: asyncio.Task[None] | None = None
    pending: asyncio.Future[list[Any]] | None = None
    pending_id: str = ""
    tx: int = 0
    n: int = 0
    interval: float = 300.0


class CallError(Exception):
    pass


@dataclass
class PhaseStats:
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add_latency(self, value: float) -> None:
        if len(self.latencies) < LATENCY_SAMPLE_CAP:
            self.latencies.append(value)


def boot_payload(version: str) -> str:
    if version == V16:
        return f'{{"chargePointVendor":"Laddnat","chargePointModel":"Bench","firmwareVersion":"{FIRMWARE}"}}'
    station = f'{{"model":"Bench","vendorName":"Laddnat","firmwareVersion":"{FIRMWARE}"}}'
    return f'{{"reason":"PowerUp","chargingStation":{station}}}'


def meter_values(tx: int, ts: str, wh: int) -> str:
    return (
        f'{{"connectorId":1,"transactionId":{tx},"meterValue":[{{"timestamp":"{ts}","sampledValue":['
        f'{{"value":"{wh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"}},'
        '{"value":"11000","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
        '{"value":"230.4","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N","unit":"V"}]}]}'
    )


def meter_values4(tx: int, ts: str, wh: int) -> str:
    """MeterValues of the outside harness's mix: four sampled values, every one persisted."""
    return (
        f'{{"connectorId":1,"transactionId":{tx},"meterValue":[{{"timestamp":"{ts}","sampledValue":['
        f'{{"value":"{wh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"}},'
        '{"value":"11000","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
        '{"value":"230.4","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N","unit":"V"},'
        '{"value":"15.9","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}'
    )


def status_notification(ts: str) -> str:
    return f'{{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"{ts}"}}'


MIXES = ("mixed", "meter")


def next_frame(c: Charger, mix: str = "mixed") -> tuple[str, str]:
    """The next CALL: of the ``mixed`` load 80% MeterValues, 10% Heartbeat, 10%
    StatusNotification; of ``meter`` (the outside harness's) only MeterValues of 4 samples.
    Every frame of a charger carries a timestamp of its own, so no sample is a repeat."""
    c.n += 1
    slot = c.n % 10
    ts = TIMESTAMPS[c.n % len(TIMESTAMPS)]
    if mix == "meter":
        return "MeterValues", f'[2,"{c.n}","MeterValues",{meter_values4(c.tx, ts, 1000 + 10 * c.n)}]'
    if slot == 3:
        return "Heartbeat", f'[2,"{c.n}","Heartbeat",{{}}]'
    if slot == 7:
        return "StatusNotification", f'[2,"{c.n}","StatusNotification",{status_notification(ts)}]'
    return "MeterValues", f'[2,"{c.n}","MeterValues",{meter_values(c.tx, ts, 1000 + 10 * c.n)}]'


def answer_csms_call(msg: list[Any]) -> str:
    """What a cooperative charger answers to the CSMS's own CALLs (boot configuration etc.)."""
    message_id, action = msg[1], msg[2]
    payload = msg[3] if len(msg) > 3 and isinstance(msg[3], dict) else {}
    if action == "SetVariables":
        results = [
            {"attributeStatus": "Accepted", "component": d.get("component"), "variable": d.get("variable")}
            for d in payload.get("setVariableData", [])
        ]
        return json.dumps([3, message_id, {"setVariableResult": results}])
    if action in {
        "ChangeConfiguration",
        "Reset",
        "ChangeAvailability",
        "UnlockConnector",
        "TriggerMessage",
        "ClearCache",
    }:
        return json.dumps([3, message_id, {"status": "Accepted"}])
    return json.dumps([4, message_id, "NotImplemented", f"the bench charger does not do {action}", {}])


async def exchange(c: Charger, frame: str) -> list[Any]:
    """Send one CALL (message id ``c.n``) and wait for its reply: one outstanding per charger."""
    ws = c.ws
    if ws is None:
        raise ConnectionError("not connected")
    fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
    c.pending, c.pending_id = fut, str(c.n)
    try:
        await ws.send(frame)
        return await fut
    finally:
        c.pending = None


async def call(c: Charger, action: str, payload: str) -> dict[str, Any]:
    c.n += 1
    reply = await exchange(c, f'[2,"{c.n}","{action}",{payload}]')
    if reply[0] != 3:
        raise CallError(f"{action}: {reply[2] if len(reply) > 2 else reply}")
    return reply[2]  # type: ignore[no-any-return]


class Worker:
    def __init__(self, spec: WorkerSpec, pipe: Connection) -> None:
        self.spec = spec
        self.pipe = pipe
        self.chargers = [
            Charger(identity, version, "Basic " + base64.b64encode(f"{identity}:{spec.password}".encode()).decode())
            for identity, version in spec.chargers
        ]
        self.heartbeats_ok = 0
        self.heartbeats_failed = 0
        self.csms_calls = 0
        self.stray_frames = 0

    # -- plumbing ------------------------------------------------------------------

    async def serve(self) -> None:
        handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
            "connect": self.connect,
            "start_tx": self.start_tx,
            "saturate": self.saturate,
            "paced": self.paced,
            "storm": self.storm,
            "counters": self.counters,
        }
        try:
            await serve_commands(self.pipe, handlers)
        finally:
            for c in self.chargers:
                self._drop(c)

    async def counters(self) -> dict[str, Any]:
        return {
            "heartbeats_ok": self.heartbeats_ok,
            "heartbeats_failed": self.heartbeats_failed,
            "csms_calls": self.csms_calls,
            "stray_frames": self.stray_frames,
        }

    def _drop(self, c: Charger, rst: bool = False) -> None:
        """Forget the charger's socket at once; ``rst``: close with a TCP reset."""
        for task in (c.heartbeat, c.reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        c.heartbeat = c.reader = None
        if c.ws is not None:
            if rst:
                sock = c.ws.transport.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    except OSError:  # closed already: the server went away first
                        pass
            c.ws.transport.abort()
            c.ws = None
        if c.pending is not None and not c.pending.done():
            c.pending.set_exception(ConnectionError("dropped"))

    async def _read(self, c: Charger, ws: LeanSocket) -> None:
        """Every frame from the server: replies resolve the pending CALL, CSMS CALLs are answered."""
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == 2:
                    self.csms_calls += 1
                    await ws.send(answer_csms_call(msg))
                elif c.pending is not None and not c.pending.done() and msg[1] == c.pending_id:
                    c.pending.set_result(msg)
                else:
                    self.stray_frames += 1
        except (ConnectionError, ValueError, IndexError, TypeError):
            pass
        finally:
            if c.pending is not None and not c.pending.done():
                c.pending.set_exception(ConnectionError("connection closed"))

    # -- connecting ----------------------------------------------------------------

    async def _open(self, c: Charger) -> LeanSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.spec.src_ip, 0))
            await loop.sock_connect(sock, (self.spec.host, self.spec.port))
        except BaseException:
            sock.close()
            raise
        # The caller's timeout covers TCP, the upgrade and the boot.
        upgrade = Upgrade(self.spec.host, self.spec.port, f"/ocpp/{c.identity}", c.version, c.auth)
        try:
            _, ws = await loop.create_connection(lambda: LeanSocket(upgrade), sock=sock)
        except BaseException:
            sock.close()
            raise
        try:
            await ws.handshake
        except BaseException:
            if ws.transport is not None:
                ws.transport.abort()
            raise
        return ws

    async def _open_and_boot(self, c: Charger) -> None:
        ws = c.ws = await self._open(c)
        c.reader = asyncio.create_task(self._read(c, ws))
        reply = await call(c, "BootNotification", boot_payload(c.version))
        if self.spec.expect_accepted and reply.get("status") != "Accepted":
            raise CallError(f"boot {reply.get('status')}")
        c.interval = float(reply.get("interval") or 300)

    async def connect(self, concurrency: int | None, deadline_s: float, heartbeat: bool = False) -> dict[str, Any]:
        """Connect and boot every charger not connected; retry failures until the deadline.

        ``concurrency`` None means all at once (the storm). ``refused`` counts HTTP
        answers other than 101, by status; ``failed`` anything else (timeout, reset,
        refused TCP connect, boot not Accepted), by kind. A failed charger waits
        0.5-1.5 s and tries again.
        """
        t0 = time.monotonic()
        deadline = t0 + deadline_s
        sem = asyncio.Semaphore(concurrency) if concurrency else None
        refused: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        failed_after: dict[str, list[float]] = {}
        accepted_at: list[float] = []

        cut = 0  # attempts the phase deadline ended (not started, or cut short): not failures

        async def attempt(c: Charger) -> bool:
            """True: Accepted. False: the deadline came first. Raises what went wrong."""
            nonlocal cut
            left = deadline - time.monotonic()
            if left <= 0:
                cut += 1
                return False
            try:
                async with asyncio.timeout(min(self.spec.open_timeout_s, left)):
                    await self._open_and_boot(c)
            except TimeoutError:
                if left < self.spec.open_timeout_s:
                    cut += 1
                    return False
                raise
            return True

        async def one(c: Charger) -> None:
            while time.monotonic() < deadline:
                began = time.monotonic()
                kind = ""
                try:
                    if sem is not None:
                        async with sem:
                            began = time.monotonic()
                            ok = await attempt(c)
                    else:
                        ok = await attempt(c)
                    if ok:
                        accepted_at.append(time.monotonic() - t0)
                        if heartbeat:
                            c.heartbeat = asyncio.create_task(self._heartbeat_loop(c))
                        return
                    self._drop(c)
                    return
                except Refused as exc:
                    refused[str(exc.status)] += 1
                except TimeoutError:
                    kind = "timeout"
                except (OSError, HandshakeFailed, CallError) as exc:
                    kind = type(exc).__name__
                if kind:
                    failed[kind] += 1
                    failed_after.setdefault(kind, []).append(time.monotonic() - began)
                self._drop(c)
                await asyncio.sleep(random.uniform(0.5, 1.5))

        todo = [c for c in self.chargers if c.ws is None]
        await asyncio.gather(*(one(c) for c in todo))
        return {
            "wanted": len(todo),
            "accepted": len(accepted_at),
            "refused": dict(refused),
            "failed": dict(failed),
            "failed_after": failed_after,
            "cut": cut,
            "accepted_at": accepted_at,
        }

    async def _heartbeat_loop(self, c: Charger) -> None:
        """An idle charger: a Heartbeat every interval the server gave it (the first one jittered)."""
        await asyncio.sleep(random.uniform(0.0, c.interval))
        while c.ws is not None:
            try:
                async with asyncio.timeout(30):
                    await call(c, "Heartbeat", "{}")
                self.heartbeats_ok += 1
            except (TimeoutError, ConnectionError, CallError):
                self.heartbeats_failed += 1
                return
            await asyncio.sleep(c.interval)

    async def storm(self, start_at: float, deadline_s: float, port: int | None = None) -> dict[str, Any]:
        """At ``start_at`` every charger drops its socket (RST), then all reconnect and boot at
        once; with ``port``, to the server there (its own was killed: it moves)."""
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        if port is not None:
            self.spec.port = port
        for c in self.chargers:
            self._drop(c, rst=True)
        return await self.connect(concurrency=None, deadline_s=deadline_s)

    # -- load ----------------------------------------------------------------------

    async def start_tx(self) -> dict[str, Any]:
        """One StartTransaction per charger; MeterValues then carry its transactionId."""
        failed = 0

        async def one(i: int, c: Charger) -> None:
            nonlocal failed
            ts = TIMESTAMPS[-1 - i % 1000]
            payload = f'{{"connectorId":1,"idTag":"{ID_TAG}","meterStart":1000,"timestamp":"{ts}"}}'
            try:
                async with asyncio.timeout(60):
                    reply = await call(c, "StartTransaction", payload)
                c.tx = int(reply.get("transactionId", 0))
            except (TimeoutError, ConnectionError, CallError, ValueError):
                failed += 1

        await asyncio.gather(*(one(i, c) for i, c in enumerate(self.chargers) if c.ws is not None))
        return {"started": sum(1 for c in self.chargers if c.tx), "failed": failed}

    def _live(self) -> list[Charger]:
        return [c for c in self.chargers if c.ws is not None]

    async def _run_bounded(
        self, loops: list[tuple[Charger, Coroutine[Any, Any, None]]], until: float, grace_s: float = 10.0
    ) -> int:
        """Run the charger loops; whatever still waits ``grace_s`` after ``until`` is cancelled.

        A cancelled charger may have a reply in flight, so its socket is dropped.
        """
        tasks = {asyncio.ensure_future(coro): c for c, coro in loops}
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, until - time.monotonic()) + grace_s)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in pending:
            self._drop(tasks[t])
        return len(pending)

    async def saturate(self, start_at: float, warmup_s: float, duration_s: float, mix: str = "mixed") -> dict[str, Any]:
        """Closed loop: every charger sends its next CALL as soon as the last reply arrived.

        Counts the replies that arrive inside the window [start + warmup, + duration].
        """
        begin = start_at + warmup_s
        end = begin + duration_s
        stats = PhaseStats()
        by_action: Counter[str] = Counter()

        async def loop(c: Charger) -> None:
            c.n += random.randrange(10)  # spread the mix across chargers
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            while True:
                sent = time.monotonic()
                if sent >= end:
                    return
                action, frame = next_frame(c, mix)
                try:
                    reply = await exchange(c, frame)
                except ConnectionError as exc:
                    stats.errors[type(exc).__name__] += 1
                    return
                now = time.monotonic()
                if begin <= now <= end:
                    if reply[0] == 3:
                        stats.ok += 1
                        by_action[action] += 1
                        stats.add_latency(now - sent)
                    else:
                        stats.errors[str(reply[2])] += 1

        stuck = await self._run_bounded([(c, loop(c)) for c in self._live()], end)
        return {
            "ok": stats.ok,
            "errors": dict(stats.errors),
            "by_action": dict(by_action),
            "latencies": stats.latencies,
            "stuck": stuck,
        }

    async def paced(
        self, start_at: float, warmup_s: float, duration_s: float, rate: float, mix: str = "mixed", grace_s: float = 5.0
    ) -> dict[str, Any]:
        """Open loop at ``rate`` msg/s for this worker, spread evenly over its chargers.

        Each charger sends on its own schedule; if its previous reply is late, the next
        CALL waits for it (one outstanding), and latency still counts from the scheduled
        time, so a slow server cannot hide its queueing.
        """
        live = self._live()
        begin = start_at + warmup_s
        end = begin + duration_s
        stats = PhaseStats()
        late = scheduled_in_window = in_window = 0
        if not live or rate <= 0:
            return {"ok": 0, "errors": {}, "latencies": [], "late": 0, "scheduled": 0, "in_window": 0, "stuck": 0}
        period = len(live) / rate

        async def loop(c: Charger, offset: float) -> None:
            nonlocal late, in_window
            c.n += random.randrange(10)
            k = 0
            while True:
                scheduled = start_at + offset + k * period
                k += 1
                if scheduled >= end:
                    return
                wait = scheduled - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.001:
                    late += 1
                _, frame = next_frame(c, mix)
                try:
                    reply = await exchange(c, frame)
                except ConnectionError as exc:
                    stats.errors[type(exc).__name__] += 1
                    return
                now = time.monotonic()
                if begin <= now <= end:
                    in_window += 1
                if scheduled >= begin:
                    if reply[0] == 3:
                        stats.ok += 1
                        stats.add_latency(now - scheduled)
                    else:
                        stats.errors[str(reply[2])] += 1

        offsets = [random.uniform(0, period) for _ in live]
        for offset in offsets:  # sends scheduled inside [begin, end), answered or not
            first = max(0, math.ceil((begin - start_at - offset) / period))
            scheduled_in_window += max(0, math.ceil((end - start_at - offset) / period) - first)
        # An overloaded server leaves a backlog: give it ``grace_s`` past the window, then cut
        # (a cut charger's socket is dropped: a command still waiting for it fails as offline).
        loops = [(c, loop(c, o)) for c, o in zip(live, offsets, strict=True)]
        stuck = await self._run_bounded(loops, end, grace_s=grace_s)
        return {
            "ok": stats.ok,
            "errors": dict(stats.errors),
            "latencies": stats.latencies,
            "late": late,
            "scheduled": scheduled_in_window,
            "in_window": in_window,
            "stuck": stuck,
        }


def worker_main(spec: WorkerSpec, pipe: Connection) -> None:
    raise_nofile_limit()
    run_generator(Worker(spec, pipe).serve())
