"""Who may read /metrics: with LADDNAT_METRICS_TOKEN, the bearer of it; with
LADDNAT_METRICS_BIND, a listener of its own (the public ports answer 404); with neither,
nobody. The API over ASGI with a chosen peer address, the bridge
and the separate listener on real ports."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import MetricsSettings, Settings, SettingsError
from app.main import create_app
from ocpp_bridge.server import create_bridge
from tests.conftest import TEST_SECRET
from tests.e2e.test_api import problem, running
from tests.e2e.test_restart import free_port

pytestmark = pytest.mark.one_database

TOKEN = "metrics-token-0123456789abcdef"
STRANGER = ("203.0.113.7", 40000)
LOOPBACK = ("127.0.0.1", 40000)


@asynccontextmanager
async def api(settings: Settings, metrics: MetricsSettings, peer: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, metrics=metrics))
    transport = httpx.ASGITransport(app=app, client=peer)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_without_configuration_nobody_gets_them(settings: Settings) -> None:
    # Not even from this host: behind a reverse proxy on it, every caller looks local.
    for peer in (LOOPBACK, STRANGER, ("::ffff:127.0.0.1", 40000)):
        async with api(settings, MetricsSettings(), peer) as client:
            problem(await client.get("/metrics"), 404, "request.not_found")
            problem(await client.get("/metrics", headers={"Authorization": "Bearer guess"}), 404, "request.not_found")


async def test_with_a_token_it_takes_the_token_from_anywhere(settings: Settings) -> None:
    metrics = MetricsSettings(token=TOKEN)
    for peer in (STRANGER, LOOPBACK):
        async with api(settings, metrics, peer) as client:
            problem(await client.get("/metrics"), 401, "auth.unauthenticated")
            wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
            problem(wrong, 401, "auth.unauthenticated")
            r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200 and "laddnat_db_errors_total" in r.text


async def test_with_a_bind_it_is_served_there_and_not_on_the_api(settings: Settings) -> None:
    port = free_port()
    metrics = MetricsSettings(bind_host="127.0.0.1", bind_port=port)
    async with api(settings, metrics, LOOPBACK) as client:
        problem(await client.get("/metrics"), 404, "request.not_found")
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200 and "laddnat_db_errors_total" in r.text
    # Closed with the app.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)


@pytest.fixture
async def bridge_port(settings: Settings) -> AsyncIterator[int]:
    engine = create_engine(settings.db)
    bus = InProcessBus()
    await bus.start()
    ocpp = dataclasses.replace(settings.ocpp, metrics=MetricsSettings(token=TOKEN))
    bridge = create_bridge(ocpp, create_sessionmaker(engine), bus)
    await bridge.start()
    yield bridge.port
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def test_the_bridge_port_asks_for_the_token_too(bridge_port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge_port}", timeout=10) as http:
        assert (await http.get("/metrics")).status_code == 401
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "laddnat_ocpp_handshakes_total" in r.text


def test_metrics_settings_are_read_and_checked() -> None:
    base = {"LADDNAT_SECRET_KEY": TEST_SECRET}
    s = Settings.from_env({**base, "LADDNAT_METRICS_TOKEN": TOKEN, "LADDNAT_METRICS_BIND": "10.0.0.5:9100"})
    assert s.metrics == MetricsSettings(token=TOKEN, bind_host="10.0.0.5", bind_port=9100)
    assert s.ocpp.metrics == s.metrics  # the bridge's port follows the same rules
    assert Settings.from_env({**base, "LADDNAT_METRICS_BIND": "[::1]:9100"}).metrics.bind_host == "::1"
    assert Settings.from_env(base).metrics == MetricsSettings()
    for bad in ({"LADDNAT_METRICS_TOKEN": "short"}, {"LADDNAT_METRICS_BIND": "9100"}, {"LADDNAT_METRICS_BIND": "h:0"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env({**base, **bad})
