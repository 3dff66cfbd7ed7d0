"""The health phase's helpers beside the server: the webhook receiver and the fleet's processes."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench.common import cpu_seconds
from bench.health.fleet import FleetSpec, fleet_main


class WebhookSink:
    """An HTTP receiver for the bench's webhook endpoint: when each incident.opened arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # incident id -> time.monotonic()
        self.count = 0
        self._lock = threading.Lock()
        sink = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()
                sink.record(at, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="bench-webhooks")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/laddnat-webhooks"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for serve_forever(), which may never have run
            self.server.shutdown()
        self.server.server_close()

    def record(self, at: float, body: bytes) -> None:
        try:
            event = json.loads(body)
            incident = str(event["data"]["incidentId"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.count += 1
            if event.get("type") == "incident.opened":
                self.arrived.setdefault(incident, at)


class FleetWorkers:
    """The healthy fleet's processes (spawned, so they start clean); one command at a time for all."""

    def __init__(self, specs: list[FleetSpec]) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=fleet_main, args=(spec, child), daemon=True, name=f"bench-fleet-{spec.index}")
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def send(self, command: str, **kwargs: Any) -> None:
        for pipe in self.pipes:
            pipe.send((command, kwargs))

    def collect(self, command: str, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        results = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"fleet worker {i} did not finish {command!r} within {timeout_s:.0f} s")
            result = pipe.recv()
            if "fatal" in result:
                raise RuntimeError(f"fleet worker {i} failed in {command!r}: {result['fatal']}")
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


def merge_fleet(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        for k, v in r.items():
            if k == "events":
                out.setdefault(k, {}).update(v)
            elif isinstance(v, dict):
                counts = out.setdefault(k, {})
                for kk, vv in v.items():
                    counts[kk] = counts.get(kk, 0) + vv
            elif k == "volts":
                lo, hi = out.get(k, [1e9, 0.0])
                out[k] = [min(lo, v[0]), max(hi, v[1])]
            elif k == "max_celsius":
                out[k] = max(out.get(k, 0.0), v)
            else:
                out[k] = out.get(k, 0) + v
    return out


