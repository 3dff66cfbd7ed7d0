"""The network: two bridges holding all the chargers between them, one API, one worker, on NATS.

1. Both bridges' chargers connect and boot at once (idle ones heartbeat at the bridges'
   interval); the active ones, a share on each bridge, start a transaction.
2. The open-loop load (``rate`` msg/s, the throughput phase's mix) on the active chargers of
   both bridges; meanwhile ``commands`` clear-cache commands through the API to random active
   chargers. The API holds no charger: every command goes API -> registry (NATS KV) ->
   ``laddnat-cmd.<node>`` -> the bridge holding the charger -> the charger -> back. JetStream's
   counters are read at the window's edges (events stored and acked per second).
3. A fresh bridge is started, then the first bridge is killed (SIGKILL): every charger it held
   reconnects (and boots) onto the fresh one, which has never seen them (no credential cache).
   Time from the kill until the last is Accepted; then a few commands to the moved chargers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.commands import CommandProbe, CommandResult, sign_in
from bench.common import listen_stats, pct, rss_kib
from bench.db import BenchCharger, pg_backend_pids
from bench.loadgen import V16
from bench.nats import JetStreamRates, NatsServer
from bench.procs import COMMAND_TIMEOUT_S, ServerProcess, Workers
from bench.scaleout.stack import CpuMeter, Stack, start_all, worker_pids

MOVED_COMMANDS = 20  # sent to moved chargers after the storm: the registry followed them
# The active chargers stay connected this long after the window: a command sent at its end can
# still be answered (the API gives up after COMMAND_TIMEOUT_S) rather than find them dropped.
COMMAND_GRACE_S = COMMAND_TIMEOUT_S + 5.0
DRAIN_S = 5.0
# The kill -9 storm starts once the consumers have caught up with the load before it (or
# after this long): it measures the storm, not the connect phase's events still queued.
SETTLE_MAX_S = 240.0


@dataclass
class NetworkOptions:
    chargers: int
    active: int
    rate: float
    commands: int
    warmup_s: float
    duration_s: float
    password: str
    open_timeout_s: float
    connect_timeout_s: float
    storm_timeout_s: float
    concurrency: int
    generators_per_bridge: int = 2  # idle chargers' processes per bridge (the active ones have one more)


@dataclass
class NetworkResult:
    wanted: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # per bridge
    connect_s: float = 0.0
    connect_refused: dict[str, int] = field(default_factory=dict)
    connect_failed: dict[str, int] = field(default_factory=dict)
    connect_cpu: str = ""
    connect_cut: int = 0  # attempts still under way (or not begun) at the deadline
    rss0_kib: dict[str, int] = field(default_factory=dict)
    rss1_kib: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    paced_ok: int = 0
    paced_scheduled: int = 0
    paced_errors: dict[str, int] = field(default_factory=dict)
    paced_cut: int = 0  # active chargers still waiting for a reply COMMAND_GRACE_S after the window
    paced_p50_ms: float | None = None
    paced_p99_ms: float | None = None
    paced_cpu: str = ""
    commands: CommandResult | None = None
    jetstream: JetStreamRates | None = None
    drain: JetStreamRates | None = None  # while the consumers catch up after the window
    drain_worker_cores: float = 0.0
    settle_s: float = 0.0  # waited for the consumers to catch up before the storm
    settle_left: int = 0  # events they still had not been given when it started
    storm_wanted: int = 0
    storm_accepted: int = 0
    storm_all_s: float | None = None
    storm_p50_s: float | None = None
    storm_refused: dict[str, int] = field(default_factory=dict)
    storm_failed: dict[str, int] = field(default_factory=dict)
    storm_cut: int = 0
    storm_listen: dict[str, int] = field(default_factory=dict)  # TcpExt counters that rose (SYNs dropped)
    storm_deciles: list[float] = field(default_factory=list)  # s from the kill until 10 %, 20 % ... Accepted
    storm_cpu: str = ""
    storm_jetstream: JetStreamRates | None = None
    fresh_bridge_start_s: float = 0.0
    moved_commands: CommandResult | None = None
    logs: dict[str, str] = field(default_factory=dict)


def _merge(results: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r.get(key, {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _run_all(groups: list[Workers], command: str, timeout_s: float, **kwargs: Any) -> list[list[dict[str, Any]]]:
    """One command to every group at once; each group's results."""
    for g in groups:
        g.send(command, **kwargs)
    return [g.collect(command, timeout_s) for g in groups]


class NetworkPhase:
    def __init__(
        self,
        options: NetworkOptions,
        stack: Stack,
        nats: NatsServer,
        chargers: list[BenchCharger],
        charger_ids: dict[str, uuid.UUID],
        pg_admin_url: str,
        pg_database: str,
        log: Callable[[str], None],
    ) -> None:
        self.o = options
        self.stack = stack
        self.nats = nats
        self.chargers = chargers
        self.charger_ids = charger_ids
        self.pg = (pg_admin_url, pg_database)
        self.log = log
        self.result = NetworkResult(wanted=len(chargers))
        self.groups: list[Workers] = []

    def meter(self, bridges: list[ServerProcess], api: ServerProcess, worker: ServerProcess) -> CpuMeter:
        groups: dict[str, Callable[[], list[int]]] = {b.name: (lambda b=b: [b.pid]) for b in bridges}  # type: ignore[misc]
        groups |= {
            "api": lambda: [api.pid],
            "worker": lambda: [worker.pid],
            "nats": lambda: [self.nats.pid],
            "postgres": lambda: pg_backend_pids(*self.pg),
            "load gen": lambda: worker_pids(*self.groups),
        }
        return CpuMeter(groups)

    def run(self) -> NetworkResult:
        o, r = self.o, self.result
        roles = [("bridge", "bridge-1"), ("bridge", "bridge-2"), ("api", "api-1"), ("worker", "worker-1")]
        *bridges, api, worker = start_all(self.stack, [(role, node, ()) for role, node in roles])
        half = len(self.chargers) // 2
        held = {bridges[0].name: self.chargers[:half], bridges[1].name: self.chargers[half:]}
        per_bridge_active = max(1, o.active // 2)
        active: dict[str, list[BenchCharger]] = {}
        by_bridge: dict[str, list[Workers]] = {}
        try:
            for b in bridges:
                mine = held[b.name]
                busy = [c for c in mine if c.version == V16][:per_bridge_active]
                chosen = {c.identity for c in busy}
                idle = [c for c in mine if c.identity not in chosen]
                active[b.name] = busy
                gens = [self.stack.generators(b, busy, 1, o.password, o.open_timeout_s)]
                if idle:
                    gens.append(self.stack.generators(b, idle, o.generators_per_bridge, o.password, o.open_timeout_s))
                by_bridge[b.name] = gens
                self.groups += gens
            time.sleep(1.0)
            r.rss0_kib = {b.name: rss_kib(b.pid) for b in bridges}
            self.connect(bridges, api, worker, by_bridge)
            r.rss1_kib = {b.name: rss_kib(b.pid) for b in bridges}
            actives = [g[0] for g in by_bridge.values()]
            r.transactions = sum(x["started"] for res in _run_all(actives, "start_tx", 120) for x in res)
            token = sign_in(api.api_url)
            targets = [self.charger_ids[c.identity] for cs in active.values() for c in cs]
            self.paced(actives, bridges, api, worker, token, targets)
            self.drain(worker)
            self.settle()
            self.storm(bridges, api, worker, by_bridge[bridges[0].name], token, active[bridges[0].name])
            for p in (*bridges, api, worker):
                r.logs[p.name] = p.log_summary()
            return r
        finally:
            for g in self.groups:
                g.close()
            self.groups = []

    def connect(
        self,
        bridges: list[ServerProcess],
        api: ServerProcess,
        worker: ServerProcess,
        by_bridge: dict[str, list[Workers]],
    ) -> None:
        o, r = self.o, self.result
        meter = self.meter(bridges, api, worker)
        meter.start()
        t0 = time.monotonic()
        groups = [g for gs in by_bridge.values() for g in gs]
        idle = {id(g) for gs in by_bridge.values() for g in gs[1:]}
        for g in groups:
            g.send("connect", concurrency=o.concurrency, deadline_s=o.connect_timeout_s, heartbeat=id(g) in idle)
        results = {id(g): g.collect("connect", o.connect_timeout_s + o.open_timeout_s + 30) for g in groups}
        r.connect_s = time.monotonic() - t0
        meter.stop()
        r.connect_cpu = meter.line()
        for name, gs in by_bridge.items():
            r.accepted[name] = sum(x["accepted"] for g in gs for x in results[id(g)])
        every = [x for res in results.values() for x in res]
        r.connect_refused, r.connect_failed = _merge(every, "refused"), _merge(every, "failed")
        r.connect_cut = sum(x["cut"] for x in every)
        self.log(f"scale-out: {sum(r.accepted.values())}/{r.wanted} connected in {r.connect_s:.1f} s")

    def paced(
        self,
        actives: list[Workers],
        bridges: list[ServerProcess],
        api: ServerProcess,
        worker: ServerProcess,
        token: str,
        targets: list[uuid.UUID],
    ) -> None:
        o, r = self.o, self.result
        start_at = time.monotonic() + 1.0
        begin, end = start_at + o.warmup_s, start_at + o.warmup_s + o.duration_s
        probe = CommandProbe(api.api_url, token, targets, o.commands, start_at=begin, window_s=o.duration_s)
        if o.commands > 0:
            probe.start()
        meter = self.meter(bridges, api, worker)
        readings: list[Any] = []

        def at_edge() -> None:
            readings.append(self.nats.jetstream())
            (meter.start if len(readings) == 1 else meter.stop)()

        timers = [threading.Timer(max(0.0, t - time.monotonic()), at_edge) for t in (begin, end)]
        for t in timers:
            t.start()
        per = o.rate / max(1, len(actives))
        out = [
            x
            for res in _run_all(
                actives, "paced", o.warmup_s + o.duration_s + 60, start_at=start_at, warmup_s=o.warmup_s,
                duration_s=o.duration_s, rate=per, grace_s=COMMAND_GRACE_S,
            )
            for x in res
        ]  # fmt: skip
        for t in timers:
            t.join()
        if o.commands > 0:
            r.commands = probe.join()
        if len(readings) == 2:
            r.jetstream = JetStreamRates.between(*readings)
        r.paced_cpu = meter.line()
        latencies = [x for res in out for x in res["latencies"]]
        r.paced_ok = sum(x["ok"] for x in out)
        r.paced_scheduled = sum(x["scheduled"] for x in out)
        r.paced_errors = _merge(out, "errors")
        r.paced_cut = sum(x["stuck"] for x in out)
        r.paced_p50_ms = _ms(pct(latencies, 50))
        r.paced_p99_ms = _ms(pct(latencies, 99))
        c = r.commands
        self.log(
            f"scale-out: {o.rate:g} msg/s p50 {r.paced_p50_ms} ms; commands "
            + (f"{c.answered}/{c.wanted}, p50 {_ms(pct(c.latencies, 50))} ms" if c else "none")
        )

    def drain(self, worker: ServerProcess) -> None:
        """The consumers' pace when they are behind (not limited by what arrives): acks per
        second over DRAIN_S and the worker's CPU meanwhile, if events are still waiting."""
        before = self.nats.jetstream()
        if before.pending == 0:
            return
        meter = CpuMeter({"worker": lambda: [worker.pid]})
        meter.start()
        time.sleep(DRAIN_S)
        meter.stop()
        self.result.drain = JetStreamRates.between(before, self.nats.jetstream())
        self.result.drain_worker_cores = meter.cores.get("worker", 0.0)

    def settle(self) -> None:
        """Wait (up to SETTLE_MAX_S) until no consumer has an event it was not given yet."""
        t0 = time.monotonic()
        pending = self.nats.jetstream().pending
        while pending > 0 and time.monotonic() - t0 < SETTLE_MAX_S:
            time.sleep(1.0)
            pending = self.nats.jetstream().pending
        self.result.settle_s, self.result.settle_left = time.monotonic() - t0, pending
        self.log(f"scale-out: consumers caught up after {self.result.settle_s:.0f} s ({pending} events left)")

    def storm(
        self,
        bridges: list[ServerProcess],
        api: ServerProcess,
        worker: ServerProcess,
        groups: list[Workers],
        token: str,
        moved_active: list[BenchCharger],
    ) -> None:
        o, r = self.o, self.result
        killed = bridges[0]
        r.storm_wanted = r.accepted.get(killed.name, 0)
        t0 = time.monotonic()
        fresh = self.stack.laddnat("bridge", "bridge-3")
        r.fresh_bridge_start_s = time.monotonic() - t0
        meter = self.meter([fresh, bridges[1]], api, worker)
        before = self.nats.jetstream()
        listen0 = listen_stats()
        meter.start()
        killed.kill()
        start_at = time.monotonic()
        for g in groups:
            g.send("storm", start_at=start_at, deadline_s=o.storm_timeout_s, port=fresh.port)
        out = [x for g in groups for x in g.collect("storm", o.storm_timeout_s + o.open_timeout_s + 30)]
        meter.stop()
        r.storm_jetstream = JetStreamRates.between(before, self.nats.jetstream())
        r.storm_cpu = meter.line()
        times = [t for x in out for t in x["accepted_at"]]
        r.storm_accepted = sum(x["accepted"] for x in out)
        if r.storm_accepted >= r.storm_wanted and times:
            r.storm_all_s = max(times)
        r.storm_p50_s = pct(times, 50)
        r.storm_refused, r.storm_failed = _merge(out, "refused"), _merge(out, "failed")
        r.storm_cut = sum(x["cut"] for x in out)
        r.storm_listen = {k: v - listen0.get(k, 0) for k, v in listen_stats().items() if v > listen0.get(k, 0)}
        r.storm_deciles = [round(pct(times, q) or 0.0, 1) for q in range(10, 100, 10)] if times else []
        self.log(f"scale-out storm: {r.storm_accepted}/{r.storm_wanted} Accepted, all after {r.storm_all_s} s")
        if moved_active:
            ids = [self.charger_ids[c.identity] for c in moved_active]
            probe = CommandProbe(api.api_url, token, ids, MOVED_COMMANDS, start_at=time.monotonic(), window_s=2.0)
            probe.start()
            r.moved_commands = probe.join()
        r.logs[fresh.name] = fresh.log_summary()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
