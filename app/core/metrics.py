"""Prometheus metrics shared by the API and the bridge (one registry per process)."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable
from enum import Enum
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server

from app.core.event_loop import running_event_loop
from app.core.settings import MetricsSettings

CONNECTED_CHARGERS = Gauge("laddnat_ocpp_connected_chargers", "Chargers connected to this bridge", ["ocpp_version"])
OCPP_MESSAGES = Counter(
    "laddnat_ocpp_messages_total", "OCPP calls from chargers, by action and outcome", ["action", "outcome"]
)
OCPP_HANDLING_SECONDS = Histogram(
    "laddnat_ocpp_handling_seconds",
    "Time from a charger's CALL arriving to our reply being sent",
    ["action"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DB_ERRORS = Counter("laddnat_db_errors_total", "Database errors while handling requests", ["where"])
HANDSHAKES = Counter("laddnat_ocpp_handshakes_total", "WebSocket handshakes by result", ["result"])
PROCESS_INFO = Gauge(
    "laddnat_process_info", "1 for this process: its role, node id and event loop", ["role", "node", "event_loop"]
)
WORKERS_RUNNING = Gauge("laddnat_worker_running", "1 for each background worker this process runs", ["worker"])


def announce_process(role: str, node: str, workers: Iterable[str] = ()) -> None:
    """Name this process in its metrics: ``role`` is api, bridge, worker or run (all in one).
    One process has one role: a second call (tests build many apps) replaces the first.
    Called on the process's loop, which it names as it is (``LADDNAT_EVENT_LOOP``)."""
    PROCESS_INFO.clear()
    PROCESS_INFO.labels(role, node, running_event_loop()).set(1)
    WORKERS_RUNNING.clear()
    for worker in workers:
        WORKERS_RUNNING.labels(worker).set(1)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class Access(Enum):
    ALLOWED = "allowed"
    UNAUTHORIZED = "unauthorized"  # a token is configured and was not sent: 401
    HIDDEN = "hidden"  # not served to this caller at all: 404, as if there were no /metrics


def metrics_access(settings: MetricsSettings, authorization: str | None) -> Access:
    """Whether ``/metrics`` on a public port (the API's, the bridge's) answers this caller.

    The metrics name chargers' versions, error rates and load: an attacker's map. The public
    ports serve them only to the bearer of ``LADDNAT_METRICS_TOKEN``; without a token they
    are not there at all (404), whoever asks: a reverse proxy on the same host would make
    every caller look local. ``LADDNAT_METRICS_BIND`` serves them on a listener of its own.
    """
    if settings.token is None:
        return Access.HIDDEN
    expected = f"Bearer {settings.token}".encode()
    given = (authorization or "").encode()
    return Access.ALLOWED if hmac.compare_digest(given, expected) else Access.UNAUTHORIZED


class MetricsListener:
    """The separate ``/metrics`` listener of ``LADDNAT_METRICS_BIND``: one per process
    (the API and the bridge share the registry), opened by the first user, closed by the last."""

    _lock = threading.Lock()
    _users = 0
    _server: Any = None

    @classmethod
    def acquire(cls, settings: MetricsSettings) -> None:
        if settings.bind_port is None or settings.bind_host is None:
            return
        with cls._lock:
            if cls._users == 0:
                cls._server, _thread = start_http_server(settings.bind_port, addr=settings.bind_host)
            cls._users += 1

    @classmethod
    def release(cls, settings: MetricsSettings) -> None:
        if settings.bind_port is None:
            return
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._server is not None:
                cls._server.shutdown()
                cls._server.server_close()
                cls._server = None


# Label children looked up once per (action, outcome): .labels() on every message shows in profiles.
_message_counters: dict[tuple[str, str], Counter] = {}
_latency_histograms: dict[str, Histogram] = {}


def count_message(action: str, outcome: str, seconds: float | None = None) -> None:
    key = (action, outcome)
    counter = _message_counters.get(key)
    if counter is None:
        counter = _message_counters[key] = OCPP_MESSAGES.labels(action, outcome)
    counter.inc()
    if seconds is not None:
        histogram = _latency_histograms.get(action)
        if histogram is None:
            histogram = _latency_histograms[action] = OCPP_HANDLING_SECONDS.labels(action)
        histogram.observe(seconds)
