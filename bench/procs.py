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
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bench.common import ROOT, raise_nofile_limit, wait_listening
from bench.loadgen import WorkerSpec, worker_main


def _child_limits() -> None:
    # Runs in the child between fork and exec: 19,000 sockets need the soft limit at the hard one.
    raise_nofile_limit()


class ServerProcess:
    """The bridge (``python -m app.cli bridge``) or the baseline server, as a real child process."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def bridge(cls, database_url: str, port: int, heartbeat_s: int, log_path: Path) -> ServerProcess:
        env = {
            **os.environ,
            "LADDNAT_DATABASE_URL": database_url,
            "LADDNAT_OCPP_HOST": "127.0.0.1",
            "LADDNAT_OCPP_PORT": str(port),
            "LADDNAT_LOG_LEVEL": "WARNING",
            "LADDNAT_HEARTBEAT_INTERVAL_S": str(heartbeat_s),
        }
        return cls("bridge", [sys.executable, "-m", "app.cli", "bridge"], env, port, log_path)

    @classmethod
    def baseline(cls, port: int, log_path: Path) -> ServerProcess:
        argv = [sys.executable, "-m", "bench.baseline_server", "--host", "127.0.0.1", "--port", str(port)]
        return cls("baseline", argv, dict(os.environ), port, log_path)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=log, preexec_fn=_child_limits
            )
        try:
            wait_listening(self.host, self.port, self.proc)
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

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_summary(self, top: int = 3) -> str:
        """The most frequent warning/error messages of its JSON log, e.g. ``3x database error``."""
        counts: Counter[str] = Counter()
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in lines:
            try:
                entry = json.loads(line)
                msg = str(entry.get("msg", "")).splitlines()[0] if entry.get("msg") else ""
                counts[f"{entry.get('level', '?')}: {msg[:60]}"] += 1
            except (ValueError, AttributeError):
                if line.strip() and not line.startswith(" "):
                    counts[line.strip()[:60]] += 1
        return "; ".join(f"{n}x {msg}" for msg, n in counts.most_common(top))


class Workers:
    """Load-generator processes (spawned, so they start clean), one command at a time for all."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(spec, child), daemon=True, name=f"bench-worker-{spec.index}")
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def run(
        self, command: str, timeout_s: float, per_worker: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, {**kwargs, **(per_worker[i] if per_worker else {})}))
        deadline = time.monotonic() + timeout_s
        results = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"worker {i} did not finish {command!r} within {timeout_s:.0f} s")
            result = pipe.recv()
            if "fatal" in result:
                raise RuntimeError(f"worker {i} failed in {command!r}: {result['fatal']}")
            results.append(result)
        return results

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in self.pipes:
            pipe.close()
