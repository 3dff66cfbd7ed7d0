"""Prometheus metrics shared by the API and the bridge (one registry per process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


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
