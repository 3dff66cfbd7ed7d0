"""Start the processes: the whole system, the API alone, or the bridge alone."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.bus import Bus, create_bus
from app.core.database import create_engine, create_sessionmaker
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.demo import DEMO_CHARGERS, DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, seed_demo
from ocpp_bridge.server import create_bridge

log = logging.getLogger("laddnat")


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own loop: we own SIGINT/SIGTERM and shut everything down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn(settings: Settings, engine: AsyncEngine, bus: Bus) -> uvicorn.Server:
    from app.main import create_app

    app = create_app(settings, engine=engine, bus=bus)
    config = uvicorn.Config(
        app, host=settings.http.host, port=settings.http.port, log_config=None, access_log=False, lifespan="on"
    )
    return _EmbeddedServer(config)


async def run_all(settings: Settings, *, migrate: bool = True, seed: bool = True) -> None:
    """`laddnat run`: API + bridge + in-process bus in one process."""
    tune_gc()
    if migrate:
        await upgrade(settings.db)
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = create_bus(settings.bus.url)
    await bus.start()
    seeded = await seed_demo(maker, bus) if seed else False
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    http = _uvicorn(settings, engine, bus)
    http_task = asyncio.create_task(http.serve())
    while not http.started:
        if http_task.done():
            await http_task
            raise SystemExit("laddnat: the HTTP server did not start")
        await asyncio.sleep(0.05)
    _print_banner(settings, seeded)
    try:
        await _until_signalled()
    finally:
        http.should_exit = True
        await http_task
        await bridge.close()
        await bus.close()
        await engine.dispose()


async def run_api(settings: Settings) -> None:
    engine = create_engine(settings.db)
    bus = create_bus(settings.bus.url)
    await bus.start()
    http = _uvicorn(settings, engine, bus)
    task = asyncio.create_task(http.serve())
    try:
        await _until_signalled()
    finally:
        http.should_exit = True
        await task
        await bus.close()
        await engine.dispose()


def tune_gc() -> None:
    """Tens of thousands of long-lived connection objects make the cyclic collector's passes
    long and frequent; what is alive after start-up is frozen out of them, and the young
    generation is collected less often (objects here die by reference counting)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def run_bridge(settings: Settings) -> None:
    tune_gc()
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = create_bus(settings.bus.url)
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    log.info("bridge listening", extra={"path": _ocpp_url(settings)})
    try:
        await _until_signalled()
    finally:
        await bridge.close()
        await bus.close()
        await engine.dispose()


def _ocpp_url(settings: Settings) -> str:
    scheme = "wss" if settings.ocpp.tls_enabled else "ws"
    return f"{scheme}://{settings.ocpp.host}:{settings.ocpp.port}/ocpp"


def _print_banner(settings: Settings, seeded: bool) -> None:
    api = f"http://{settings.http.host}:{settings.http.port}"
    ocpp = _ocpp_url(settings)
    first = DEMO_CHARGERS[0]
    lines = [
        "",
        "Laddnät is running" + (" (demo network seeded)" if seeded else ""),
        f"  API docs        {api}/schema",
        f"  API health      {api}/healthz   metrics {api}/metrics",
        f"  OCPP endpoint   {ocpp}/{{identity}}   (subprotocols ocpp1.6, ocpp2.0.1; HTTP Basic auth)",
        f"  Database        {settings.db.url}",
        "  Demo chargers:",
        *[f"    {c.identity:<12} OCPP {c.version:<6} password {c.password}" for c in DEMO_CHARGERS],
        f"  Demo operator   {DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}   (POST {api}/api/v1/auth/token)",
        "  Try a charger:",
        f"    .venv/bin/laddnat simulate --url {ocpp} --identity {first.identity}"
        f" --password {first.password} --duration 20 --interval 2",
        "  Then see its transaction:",
        f"    TOKEN=$(curl -s -X POST {api}/api/v1/auth/token -H 'content-type: application/json'"
        f' -d \'{{"email":"{DEMO_OPERATOR_EMAIL}","password":"{DEMO_OPERATOR_PASSWORD}"}}\''
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')",
        f'    curl -s {api}/api/v1/operator/transactions -H "Authorization: Bearer $TOKEN"',
        "",
    ]
    print("\n".join(lines), file=sys.stdout, flush=True)
