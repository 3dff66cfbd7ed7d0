"""The scale-out phase's processes: `laddnat bridge|api|worker` on the bench's NATS and one
PostgreSQL database, load-generator groups aimed at one bridge each, and who used the CPU."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import cpu_seconds, free_port, machine_busy, pin
from bench.db import BenchCharger
from bench.loadgen import WorkerSpec
from bench.procs import COMMAND_TIMEOUT_S, SECRET_KEY, ServerProcess, Workers

# Several processes importing the application at once on a busy 2-core machine took over 30 s.
START_TIMEOUT_S = 120.0
WORKER_KINDS = ("--health", "--payments", "--webhooks")  # what the network's one worker runs


@dataclass
class Stack:
    """What every process of the phase shares: where the database and NATS are, where logs go."""

    database_url: str
    nats_url: str
    tmp: Path
    heartbeat_s: int
    servers: list[ServerProcess]  # the run's: stopped at its end whatever happens
    _next_source: int = 2  # load generators bind to 127.0.0.2, .3, ...: never the same twice at once

    def laddnat(self, role: str, node: str, cores: Sequence[int] = ()) -> ServerProcess:
        """``laddnat <role>`` as node ``node``, started; with ``cores``, under ``taskset -c``."""
        port = free_port()
        env = {
            **os.environ,
            "LADDNAT_DATABASE_URL": self.database_url,
            "LADDNAT_BUS_URL": self.nats_url,
            "LADDNAT_NODE_ID": node,
            "LADDNAT_LOG_LEVEL": "WARNING",
            "LADDNAT_SECRET_KEY": SECRET_KEY,
            "LADDNAT_HEARTBEAT_INTERVAL_S": str(self.heartbeat_s),
            "LADDNAT_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S),
        }
        env.pop("LADDNAT_PUBLIC_BASE_URL", None)
        args = [role]
        if role == "bridge":
            env |= {"LADDNAT_OCPP_HOST": "127.0.0.1", "LADDNAT_OCPP_PORT": str(port)}
        elif role == "api":
            env |= {"LADDNAT_HTTP_HOST": "127.0.0.1", "LADDNAT_HTTP_PORT": str(port)}
        else:
            env |= {"LADDNAT_WORKER_HTTP_HOST": "127.0.0.1", "LADDNAT_WORKER_HTTP_PORT": str(port)}
            args += WORKER_KINDS
        argv = [sys.executable, "-m", "app.cli", *args]
        if cores:
            argv = ["taskset", "-c", ",".join(map(str, cores)), *argv]
        http_port = port if role == "api" else None
        server = ServerProcess(node, argv, env, port, self.tmp / f"scaleout-{node}.log", http_port=http_port)
        server.start_timeout_s = START_TIMEOUT_S
        self.servers.append(server)
        server.start()
        return server

    def generators(
        self,
        server: ServerProcess,
        chargers: Sequence[BenchCharger],
        processes: int,
        password: str,
        open_timeout_s: float,
        cores: set[int] | None = None,
        expect_accepted: bool = True,
    ) -> Workers:
        """Load-generator processes for ``chargers`` on ``server``, each on a source address of its own."""
        n = max(1, min(processes, len(chargers)))
        specs = []
        for i in range(n):
            specs.append(
                WorkerSpec(
                    index=self._next_source,
                    src_ip=f"127.0.0.{self._next_source}",
                    host=server.host,
                    port=server.port,
                    password=password,
                    chargers=[(c.identity, c.version) for c in chargers[i::n]],
                    open_timeout_s=open_timeout_s,
                    expect_accepted=expect_accepted,
                )
            )
            self._next_source = 2 + (self._next_source - 1) % 250  # 127.0.0.2 - 127.0.0.251
        workers = Workers(specs, name="scaleout-gen")
        if cores:
            for proc in workers.procs:
                if proc.pid is not None:
                    pin(proc.pid, cores)
        return workers


def start_all(stack: Stack, wanted: Sequence[tuple[str, str, Sequence[int]]]) -> list[ServerProcess]:
    """``stack.laddnat(role, node, cores)`` for each, started side by side (each spends
    seconds importing the application before it listens)."""
    with ThreadPoolExecutor(max(1, len(wanted))) as pool:
        return list(pool.map(lambda w: stack.laddnat(*w), wanted))


def worker_pids(*groups: Workers) -> list[int]:
    return [p.pid for w in groups for p in w.procs if p.pid is not None]


@dataclass
class CpuMeter:
    """CPU cores each named group of processes used between start() and stop(), and the machine.

    A group is a function giving its pids now (PostgreSQL's backends come and go): a pid seen
    at both ends counts its difference, one only at the end all its time (it started inside)."""

    groups: dict[str, Callable[[], list[int]]]
    cores: dict[str, float] = field(default_factory=dict)
    machine_pct: float = 0.0
    _t0: float = 0.0
    _cpu0: dict[str, dict[int, float]] = field(default_factory=dict)
    _m0: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def _read(pids: list[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            try:
                out[pid] = cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                pass
        return out

    def start(self) -> None:
        self._cpu0 = {name: self._read(pids()) for name, pids in self.groups.items()}
        self._m0 = machine_busy()
        self._t0 = time.monotonic()

    def stop(self) -> None:
        wall = max(time.monotonic() - self._t0, 1e-9)
        for name, pids in self.groups.items():
            before = self._cpu0.get(name, {})
            now = self._read(pids())
            self.cores[name] = sum(v - before.get(pid, 0.0) for pid, v in now.items()) / wall
        busy, total = machine_busy()
        self.machine_pct = 100.0 * (busy - self._m0[0]) / max(total - self._m0[1], 1.0)

    def line(self) -> str:
        """``bridge-1 0.95, load gen 0.98, ... cores; machine 97% busy``."""
        parts = ", ".join(f"{name} {cores:.2f}" for name, cores in self.cores.items())
        return f"{parts} cores; machine {self.machine_pct:.0f}% busy"
