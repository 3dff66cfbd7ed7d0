"""What operators see: Prometheus metrics on the bridge's own port and JSON log lines.

Metrics live in the process-wide default registry, shared with every other test in the
run, so they are compared as "at least" or as deltas, never as exact counts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.logging import JsonFormatter
from app.core.settings import MetricsSettings, Settings
from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, register
from tests.support import RawCharger

Key = tuple[str, frozenset[tuple[str, str]]]

BOOT_16 = {"chargePointVendor": "Laddnät", "chargePointModel": "OBS-1"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "Laddnät", "model": "OBS-1"}}
# StatusNotification without its required evseId.
BAD_STATUS_201 = {"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available", "connectorId": 1}


METRICS_TOKEN = "observability-metrics-token"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """The suite's settings with a metrics token: without one the bridge serves no /metrics."""
    return dataclasses.replace(
        settings, ocpp=dataclasses.replace(settings.ocpp, metrics=MetricsSettings(token=METRICS_TOKEN))
    )


async def scrape(system: System) -> str:
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            f"http://127.0.0.1:{system.bridge.port}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def parse(text: str) -> dict[Key, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: dict[Key, float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_after_traffic(system: System) -> None:
    before = parse(await scrape(system))
    a = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16)
    b = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V201)
    try:
        await a.ok("BootNotification", BOOT_16)
        await a.ok("Heartbeat", {})
        await b.ok("BootNotification", BOOT_201)
        await b.ok("Heartbeat", {})
        code, _ = await b.error("StatusNotification", BAD_STATUS_201)
        assert code == "OccurrenceConstraintViolation"
        await a.ok("Heartbeat", {})  # still answered after the other's bad call

        text = await scrape(system)
    finally:
        await a.close()
        await b.close()

    # The raw exposition format, as a scraper's config or a dashboard query would spell it.
    assert 'laddnat_ocpp_connected_chargers{ocpp_version="1.6"}' in text
    assert 'laddnat_ocpp_connected_chargers{ocpp_version="2.0.1"}' in text
    assert 'laddnat_ocpp_messages_total{action="Heartbeat",outcome="ok"}' in text
    assert 'laddnat_ocpp_messages_total{action="StatusNotification",outcome="OccurrenceConstraintViolation"}' in text
    assert 'laddnat_ocpp_handling_seconds_bucket{action="Heartbeat",le="+Inf"}' in text
    assert 'laddnat_ocpp_handshakes_total{result="accepted"}' in text

    after = parse(text)
    assert value(after, "laddnat_ocpp_connected_chargers", ocpp_version="1.6") >= 1
    assert value(after, "laddnat_ocpp_connected_chargers", ocpp_version="2.0.1") >= 1

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("laddnat_ocpp_messages_total", action="Heartbeat", outcome="ok") >= 3
    assert (
        grew("laddnat_ocpp_messages_total", action="StatusNotification", outcome="OccurrenceConstraintViolation") >= 1
    )
    assert grew("laddnat_ocpp_handling_seconds_count", action="Heartbeat") >= 3
    handled = value(after, "laddnat_ocpp_handling_seconds_count", action="Heartbeat")
    assert value(after, "laddnat_ocpp_handling_seconds_bucket", action="Heartbeat", le="+Inf") == handled
    assert grew("laddnat_ocpp_handshakes_total", result="accepted") >= 2


async def test_gauge_drops_when_chargers_leave(system: System) -> None:
    identity = await register(system)
    charger = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    await charger.ok("Heartbeat", {})
    connected = value(parse(await scrape(system)), "laddnat_ocpp_connected_chargers", ocpp_version="1.6")
    assert connected >= 1
    await charger.close()
    for _ in range(100):  # the server notices the close a moment later
        now = value(parse(await scrape(system)), "laddnat_ocpp_connected_chargers", ocpp_version="1.6")
        if now <= connected - 1:
            break
        await asyncio.sleep(0.05)
    assert now <= connected - 1


async def test_health_endpoints(system: System) -> None:
    async with httpx.AsyncClient() as http:
        for path in ("/healthz", "/readyz"):
            reply = await http.get(f"http://127.0.0.1:{system.bridge.port}{path}", timeout=10)
            assert (reply.status_code, reply.text) == (200, "ok\n")


# -- logs --------------------------------------------------------------------------------


def test_json_formatter_one_line_with_context() -> None:
    logger = logging.getLogger("laddnat.test")
    record = logger.makeRecord(
        "laddnat.test",
        logging.INFO,
        __file__,
        1,
        "handled %s\nsecond line",
        ("Heartbeat",),
        None,
        extra={"identity": "CP1", "message_id": "42"},
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["identity"] == "CP1"
    assert entry["message_id"] == "42"
    assert entry["msg"] == "handled Heartbeat\nsecond line"
    assert entry["level"] == "info"
    assert entry["logger"] == "laddnat.test"
    assert entry["ts"].endswith("+00:00")
    assert "action" not in entry  # absent context is left out, not null


def test_json_formatter_keeps_the_exception_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("laddnat.test").makeRecord(
            "laddnat.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info(), extra={"identity": "CP2"}
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["identity"] == "CP2"
    assert "RuntimeError: boom" in entry["exc"]


@contextmanager
def json_log(name: str) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_connection_logs_carry_the_identity(system: System) -> None:
    identity = await register(system)
    with json_log("laddnat.ocpp") as stream:
        charger = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V201)
        await charger.ok("Heartbeat", {})
        await charger.error("StatusNotification", BAD_STATUS_201)
        await charger.close()
        for _ in range(100):
            if any(e["msg"] == "charger disconnected" for e in entries(stream) if e.get("identity") == identity):
                break
            await asyncio.sleep(0.05)
        lines = [e for e in entries(stream) if e.get("identity") == identity]

    [connected] = [e for e in lines if e["msg"] == "charger connected"]
    assert connected["ocpp_version"] == "2.0.1"
    assert connected["level"] == "info" and connected["logger"] == "laddnat.ocpp"
    [rejected] = [e for e in lines if e["msg"] == "call rejected"]
    assert rejected["action"] == "StatusNotification"
    assert rejected["code"] == "OccurrenceConstraintViolation"
    assert rejected["message_id"] == "m2"  # RawCharger numbers its calls m1, m2, ...
    assert any(e["msg"] == "charger disconnected" for e in lines)
