"""Throughput measured the way an outside harness does: the server pinned to one core
(``taskset -c``), the load generator to the other, ``chargers`` chargers per server each in a
started transaction, every CALL a MeterValues of 4 samples with a timestamp of its own (so each
is validated and persisted), closed loop (the next CALL when the last was answered).

Configurations, each on fresh processes: the raw ``websockets`` server (bench/baseline_server.py,
the ceiling), one bridge, two bridges on the same core (what 2 cores allow with the generator on
the other), and two bridges a core each with the generator unpinned (it then competes with both).
PostgreSQL and NATS are not pinned: they take their share wherever the scheduler puts them, and
each process's share is printed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import free_port, pct
from bench.db import BenchCharger, pg_backend_pids
from bench.nats import JetStreamRates, NatsServer
from bench.procs import ServerProcess, Workers
from bench.scaleout.stack import CpuMeter, Stack, start_all, worker_pids

GENERATORS = 2  # load-generator processes per configuration, all on the generator's cores


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    bridges: int  # 0: the baseline server
    server_cores: tuple[tuple[int, ...], ...]  # per server process
    generator_cores: tuple[int, ...]  # () unpinned


def configs(cores: list[int]) -> list[Config]:
    a, b = cores[0], cores[1]
    return [
        Config("baseline", "raw websockets server, pinned", 0, ((a,),), (b,)),
        Config("one", "1 bridge, pinned", 1, ((a,),), (b,)),
        Config("two-shared", "2 bridges pinned to the same core", 2, ((a,), (a,)), (b,)),
        Config("two-own", "2 bridges a core each, generator unpinned", 2, ((a,), (b,)), ()),
    ]


@dataclass
class PinnedResult:
    config: Config
    chargers: int = 0
    transactions: int = 0
    msgs_per_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    server_cores: float = 0.0  # all the configuration's servers together
    cpu: str = ""
    published_per_s: float | None = None
    logs: str = ""


class PinnedPhase:
    def __init__(
        self,
        stack: Stack,
        nats: NatsServer,
        password: str,
        pg: tuple[str, str],
        warmup_s: float,
        duration_s: float,
        open_timeout_s: float,
        log: Callable[[str], None],
    ) -> None:
        self.stack = stack
        self.nats = nats
        self.password = password
        self.pg = pg
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.open_timeout_s = open_timeout_s
        self.log = log

    def run(self, config: Config, chargers: list[list[BenchCharger]]) -> PinnedResult:
        """``chargers``: one list per server, each charger a 1.6 one not connected anywhere."""
        result = PinnedResult(config)
        servers: list[ServerProcess] = []
        groups: list[Workers] = []
        cores = set(config.generator_cores) or None
        try:
            if config.bridges == 0:
                server = ServerProcess.baseline(free_port(), self.stack.tmp / "scaleout-baseline.log")
                server.argv = ["taskset", "-c", ",".join(map(str, config.server_cores[0])), *server.argv]
                self.stack.servers.append(server)
                server.start()
                servers.append(server)
            else:
                wanted = [("bridge", f"pinned-{config.key}-{i + 1}", c) for i, c in enumerate(config.server_cores)]
                servers += start_all(self.stack, wanted)
            per_server = max(1, GENERATORS // len(servers))
            for server, mine in zip(servers, chargers, strict=True):
                groups.append(
                    self.stack.generators(
                        server, mine, per_server, self.password, self.open_timeout_s, cores, config.bridges > 0
                    )
                )
            timeout = self.open_timeout_s + 90
            connected = [x for g in groups for x in g.run("connect", timeout, concurrency=48, deadline_s=60)]
            result.chargers = sum(x["accepted"] for x in connected)
            started = [x for g in groups for x in g.run("start_tx", 120)]
            result.transactions = sum(x["started"] for x in started)
            self.saturate(result, servers, groups)
            result.logs = "; ".join(s.log_summary() for s in servers if s.log_summary())
        finally:
            for g in groups:
                g.close()
            for s in servers:
                s.stop()
        self.log(f"pinned {config.label}: {result.msgs_per_s:.0f} msg/s ({result.cpu})")
        return result

    def saturate(self, result: PinnedResult, servers: list[ServerProcess], groups: list[Workers]) -> None:
        groups_cpu: dict[str, Callable[[], list[int]]] = {
            s.name: (lambda s=s: [s.pid])
            for s in servers  # type: ignore[misc]
        }
        groups_cpu |= {
            "load gen": lambda: worker_pids(*groups),
            "nats": lambda: [self.nats.pid],
            "postgres": lambda: pg_backend_pids(*self.pg),
        }
        meter = CpuMeter(groups_cpu)
        start_at = time.monotonic() + 1.0
        begin, end = start_at + self.warmup_s, start_at + self.warmup_s + self.duration_s
        readings: list[Any] = []

        def at_edge() -> None:
            readings.append(self.nats.jetstream())
            (meter.start if len(readings) == 1 else meter.stop)()

        timers = [threading.Timer(max(0.0, t - time.monotonic()), at_edge) for t in (begin, end)]
        for t in timers:
            t.start()
        for g in groups:
            g.send("saturate", start_at=start_at, warmup_s=self.warmup_s, duration_s=self.duration_s, mix="meter")
        out = [x for g in groups for x in g.collect("saturate", self.warmup_s + self.duration_s + 60)]
        for t in timers:
            t.join()
        result.msgs_per_s = sum(x["ok"] for x in out) / self.duration_s
        errors: dict[str, int] = {}
        for x in out:
            for k, v in x["errors"].items():
                errors[k] = errors.get(k, 0) + int(v)
        result.errors = errors
        p50 = pct([v for x in out for v in x["latencies"]], 50)
        result.p50_ms = None if p50 is None else p50 * 1000.0
        result.server_cores = sum(meter.cores.get(s.name, 0.0) for s in servers)
        result.cpu = meter.line()
        if len(readings) == 2 and result.config.bridges > 0:
            result.published_per_s = JetStreamRates.between(*readings).published


def two_cores() -> list[int] | None:
    """The first two cores this process may run on, or None on a machine with fewer."""
    cores = sorted(os.sched_getaffinity(0))
    return cores[:2] if len(cores) >= 2 else None
