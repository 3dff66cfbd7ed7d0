"""The health phase's helpers beside the server: the webhook receiver and the fleet's processes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.health.fleet import FleetSpec, fleet_main
from bench.procs import Workers


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


def fleet_workers(specs: list[FleetSpec]) -> Workers:
    """The healthy fleet's processes."""
    return Workers(specs, target=fleet_main, name="bench-fleet")


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
