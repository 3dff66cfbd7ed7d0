"""Small helpers every bench process shares: file limits, /proc readings, ports."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (the machine caps it at 20,000); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def run_generator(main: Coroutine[Any, Any, None]) -> None:
    """A load-generating process's loop: uvloop, as the bridge's. On 2 cores the generator
    competes with the server it measures; its loop's own overhead is CPU the server lacks."""
    from app.core.event_loop import UVLOOP, run_role

    run_role(main, UVLOOP)


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` (and what they start later) onto ``cores`` (like ``taskset -a -p``)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:  # a thread that just ended
            pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"child exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100.0 * (len(ordered) - 1)))]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return float(total - idle), float(total)


@dataclass
class CpuWindow:
    """CPU used by one process and by the whole machine between start() and stop()."""

    pid: int | None = None
    _p0: float = 0.0
    _m0: tuple[float, float] = (0.0, 0.0)
    _t0: float = 0.0
    process_cores: float = 0.0
    machine_pct: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._p0 = cpu_seconds(self.pid) if self.pid else 0.0
        self._m0 = machine_busy()

    def stop(self) -> None:
        wall = max(time.monotonic() - self._t0, 1e-9)
        if self.pid:
            self.process_cores = (cpu_seconds(self.pid) - self._p0) / wall
        busy, total = machine_busy()
        self.machine_pct = 100.0 * (busy - self._m0[0]) / max(total - self._m0[1], 1.0)


def listen_stats() -> dict[str, int]:
    """ListenOverflows / ListenDrops (TcpExt) and SYN cookies sent, machine-wide."""
    wanted = {"ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop", "TCPReqQFullDoCookies"}
    out: dict[str, int] = {}
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if not head.startswith("TcpExt:"):
            continue
        for k, v in zip(head.split()[1:], values.split()[1:], strict=False):
            if k in wanted:
                out[k] = int(v)
    return out


def listen_queue(port: int) -> tuple[int, int] | None:
    """(accept queue now, backlog) of the listening socket on ``port``, from ``ss``."""
    try:
        text = subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "LISTEN":
            return int(parts[1]), int(parts[2])
    return None


def read_sysctl(name: str) -> str:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return "?"


def machine_line() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        f"{cores} cores, {model}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, RLIMIT_NOFILE {soft}/{hard}"
    )


async def serve_commands(pipe: Connection, handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]]) -> None:
    """A bench process's side of ``bench.procs.Workers``: run each command from the parent
    and send back its result (``fatal`` when it raised) with the CPU seconds it took, until
    ``exit``, a closed pipe (the parent died) or 15 minutes of silence."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            ready = await loop.run_in_executor(None, pipe.poll, 900.0)
            if not ready:
                return
            command, kwargs = await loop.run_in_executor(None, pipe.recv)
            if command == "exit":
                return
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            try:
                result = await handlers[command](**kwargs)
            except Exception as exc:
                result = {"fatal": f"{type(exc).__name__}: {exc}"}
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            result["cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            pipe.send(result)
    except (EOFError, OSError):
        return
