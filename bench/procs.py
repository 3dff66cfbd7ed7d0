"""Child processes of a bench run: the server under test and the load-generator workers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bench.common import ROOT, cpu_seconds, raise_nofile_limit, wait_listening
from bench.loadgen import worker_main

# The API signs its tokens with it (32+ characters); a bench run's tokens never leave the machine.
SECRET_KEY = "laddnat-bench-secret-key-not-for-production"
# A command the charger never answers fails after this (the default 30 s would stretch a run).
COMMAND_TIMEOUT_S = 10


def _child_limits() -> None:
    # Runs in the child between fork and exec: 19,000 sockets need the soft limit at the hard one.
    raise_nofile_limit()


class ServerProcess:
    """The server under test as a real child process: the bridge alone (``python -m app.cli
    bridge``), the whole system (``python -m app.cli run --no-seed``: API + bridge + bus in
    one process, which the command path needs), or the baseline server.

    stderr (the JSON log) goes to ``log_path``; stdout (``run`` prints a banner) to
    ``<log_path stem>.stdout.log`` beside it.
    """

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path, http_port: int | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.host = "127.0.0.1"
        self.port = port
        self.http_port = http_port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        # How long it may take to listen: more for processes started side by side on a busy machine.
        self.start_timeout_s = 30.0

    @classmethod
    def bridge(
        cls, database_url: str, port: int, heartbeat_s: int, log_path: Path, http_port: int | None = None
    ) -> ServerProcess:
        """The bridge alone; with ``http_port``, the whole system (``run --no-seed``) with its API there."""
        env = {
            **os.environ,
            "LADDNAT_DATABASE_URL": database_url,
            "LADDNAT_OCPP_HOST": "127.0.0.1",
            "LADDNAT_OCPP_PORT": str(port),
            "LADDNAT_LOG_LEVEL": "WARNING",
            "LADDNAT_HEARTBEAT_INTERVAL_S": str(heartbeat_s),
        }
        if http_port is None:
            return cls("bridge", [sys.executable, "-m", "app.cli", "bridge"], env, port, log_path)
        env |= {
            "LADDNAT_HTTP_HOST": "127.0.0.1",
            "LADDNAT_HTTP_PORT": str(http_port),
            "LADDNAT_SECRET_KEY": SECRET_KEY,
            "LADDNAT_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S),
            # The health phase's webhook receiver is on loopback.
            "LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        }
        env.pop("LADDNAT_PUBLIC_BASE_URL", None)
        argv = [sys.executable, "-m", "app.cli", "run", "--no-seed", "--no-demo-payments"]
        return cls("run", argv, env, port, log_path, http_port=http_port)

    @classmethod
    def baseline(cls, port: int, log_path: Path) -> ServerProcess:
        argv = [sys.executable, "-m", "bench.baseline_server", "--host", "127.0.0.1", "--port", str(port)]
        return cls("baseline", argv, dict(os.environ), port, log_path)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def api_url(self) -> str:
        assert self.http_port is not None, f"{self.name} has no API"
        return f"http://{self.host}:{self.http_port}"

    def start(self) -> None:
        stdout_path = self.log_path.with_name(self.log_path.stem + ".stdout.log")
        with self.log_path.open("ab") as log, stdout_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=log, preexec_fn=_child_limits
            )
        try:
            # `run` opens the OCPP port first, then the API's.
            for port in (self.port, self.http_port):
                if port is not None:
                    wait_listening(self.host, port, self.proc, self.start_timeout_s)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name}: {exc}\n{self.log_tail()}") from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within 10 s. Safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: the process dies without a goodbye (its sockets are closed by the kernel)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_summary(self, top: int = 3) -> str:
        """The most frequent warning/error messages of its log, e.g. ``3x error: database error``.

        Lines are JSON (``configure_logging``) or, when something reconfigured logging,
        ``LEVEL - time - logger - module - message``; info and debug lines are skipped,
        as are a traceback's indented lines.
        """
        counts: Counter[str] = Counter()
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in lines:
            try:
                entry = json.loads(line)
                level = str(entry.get("level", "?")).lower()
                msg = str(entry.get("msg", "")).splitlines()[0] if entry.get("msg") else ""
            except (ValueError, AttributeError):
                if not line.strip() or line.startswith(" "):
                    continue
                parts = line.split(" - ", 4)
                if len(parts) == 5 and parts[0].isupper():
                    level, msg = parts[0].lower(), parts[4]
                else:
                    level, msg = "", line.strip()
            if level in {"debug", "info"}:
                continue
            counts[f"{level}: {msg[:60]}" if level else msg[:60]] += 1
        return "; ".join(f"{n}x {msg}" for msg, n in counts.most_common(top))


class Workers:
    """Bench processes (spawned, so they start clean), one command at a time for all: the
    load generator's by default, or any ``target(spec, pipe)`` (the health phase's fleet)."""

    def __init__(
        self, specs: Sequence[Any], target: Callable[[Any, Connection], None] = worker_main, name: str = "bench-worker"
    ) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=target, args=(spec, child), daemon=True, name=f"{name}-{spec.index}")
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def run(
        self, command: str, timeout_s: float, per_worker: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        self.send(command, per_worker, **kwargs)
        return self.collect(command, timeout_s)

    def send(self, command: str, per_worker: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, {**kwargs, **(per_worker[i] if per_worker else {})}))

    def collect(self, command: str, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        results = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"{self.name} {i} did not finish {command!r} within {timeout_s:.0f} s")
            result = pipe.recv()
            if "fatal" in result:
                raise RuntimeError(f"{self.name} {i} failed in {command!r}: {result['fatal']}")
            results.append(result)
        return results

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                total += cpu_seconds(proc.pid) if proc.pid is not None else 0.0
            except OSError:
                pass
        return total

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in self.pipes:
            pipe.close()
