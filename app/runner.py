"""Start the processes: the whole system (``run``), or one role of it: ``api``, ``bridge``, ``worker``.

Each names itself in its metrics (``laddnat_process_info{role,node,event_loop}``) and answers
/healthz and /readyz: the API and the worker on their HTTP port, the bridge on its OCPP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, Evse
from app.core.bus import Bus, create_bus
from app.core.database import create_engine, create_sessionmaker
from app.core.metrics import MetricsListener, announce_process
from app.core.settings import Settings
from app.roaming.tokens.authorize import RoamingTokens
from ocpp_bridge.server import create_bridge

# The API's, the workers', the migrations' and the demo's modules are imported where they
# are used: `laddnat bridge` needs none of them and starts in ~1 s instead of ~2.5 s (a
# bridge replacing a lost one should listen as soon as it can).
if TYPE_CHECKING:
    from litestar import Litestar

    from app.demo_payments import DemoStripe
    from app.workers import WorkerKind

log = logging.getLogger("laddnat")


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


SHUTDOWN_GRACE_S = 10


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own loop: we own SIGINT/SIGTERM and shut everything down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _api_app(settings: Settings, engine: AsyncEngine, bus: Bus, kinds: Iterable[WorkerKind]) -> Litestar:
    """The HTTP API with the chosen background workers in its lifespan."""
    from app.main import create_app
    from app.workers import Workers
    from payments.registry import Providers

    workers = Workers.build(settings, create_sessionmaker(engine), bus, Providers(settings.payments), kinds=kinds)
    return create_app(settings, engine=engine, bus=bus, workers=workers)


async def _serve(app: Litestar, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """uvicorn serving ``app``, returned once it listens (its lifespan has run); a port
    it cannot bind stops the process with one line."""
    # Live streams (console pages, the driver app's session feed) never end by themselves:
    # at shutdown, requests in flight get SHUTDOWN_GRACE_S to finish, then what is left is cut.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            with contextlib.suppress(BaseException):
                await task
            raise SystemExit(f"laddnat: the HTTP server did not start on {host}:{port}")
        await asyncio.sleep(0.05)
    return server, task


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    # End the app's live streams first: the server waits for open responses to finish.
    state = getattr(server.config.app, "state", None)
    for stop in state.get("stop_streams", ()) if state is not None else ():
        stop()
    server.should_exit = True
    await task


async def run_all(settings: Settings, *, migrate: bool = True, seed: bool = True, demo_payments: bool = True) -> None:
    """`laddnat run`: API + bridge + in-process bus in one process."""
    from app.demo_payments import DemoStripe
    from app.demo_payments import available as demo_available

    tune_gc()
    demo_stripe = None
    if demo_payments and settings.payments.stripe is None and settings.payments.adyen is None and demo_available():
        demo_stripe = DemoStripe()
        host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host
        stripe = await asyncio.to_thread(demo_stripe.start, f"http://{host}:{settings.http.port}/webhooks/stripe")
        settings = dataclasses.replace(settings, payments=dataclasses.replace(settings.payments, stripe=stripe))
    try:
        await _run_all(settings, migrate=migrate, seed=seed, demo_stripe=demo_stripe)
    finally:
        if demo_stripe is not None:
            await asyncio.to_thread(demo_stripe.stop)


async def _run_all(settings: Settings, *, migrate: bool, seed: bool, demo_stripe: DemoStripe | None) -> None:
    from app.core.migrate import upgrade
    from app.demo import seed_demo
    from app.workers import ALL_WORKERS

    if migrate:
        await upgrade(settings.db)
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = create_bus(settings.bus.url, node_id=settings.bus.node)
    await bus.start()
    seeded = await seed_demo(maker, bus) if seed else False
    bridge = create_bridge(settings.ocpp, maker, bus, foreign_tokens=RoamingTokens(settings.ocpi))
    await bridge.start()
    announce_process("run", settings.bus.node, ALL_WORKERS)
    http, http_task = await _serve(_api_app(settings, engine, bus, ALL_WORKERS), settings.http.host, settings.http.port)
    checkout = await _demo_checkout_url(maker, settings) if seed else None
    _print_banner(settings, seeded, checkout=checkout, demo_stripe=demo_stripe)
    try:
        await _until_signalled()
    finally:
        await _stop(http, http_task)
        await bridge.close()
        await bus.close()
        await engine.dispose()


async def run_api(settings: Settings, workers: Iterable[WorkerKind] = ()) -> None:
    """`laddnat api`: the HTTP API, with the background ``workers`` asked for (none by default)."""
    kinds = frozenset(workers)
    engine = create_engine(settings.db)
    bus = create_bus(settings.bus.url, node_id=settings.bus.node)
    await bus.start()
    announce_process("api", settings.bus.node, kinds)
    try:
        http, task = await _serve(_api_app(settings, engine, bus, kinds), settings.http.host, settings.http.port)
        log.info("api listening", extra={"node": settings.bus.node, "workers": ",".join(sorted(kinds)) or "none"})
        try:
            await _until_signalled()
        finally:
            await _stop(http, task)
    finally:
        await bus.close()
        await engine.dispose()


async def run_worker(settings: Settings, workers: Iterable[WorkerKind]) -> None:
    """`laddnat worker`: the chosen background workers and their bus subscribers, without the
    public API; /healthz, /readyz and /metrics on LADDNAT_WORKER_HTTP_HOST:PORT."""
    from app.core.ops import create_ops_app
    from app.workers import Workers
    from payments.registry import Providers

    kinds = frozenset(workers)
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = create_bus(settings.bus.url, node_id=settings.bus.node)
    running = Workers.build(settings, maker, bus, Providers(settings.payments), kinds=kinds)
    await bus.start()
    announce_process("worker", settings.bus.node, kinds)
    MetricsListener.acquire(settings.metrics)
    try:
        await running.start()
        try:
            host, port = settings.worker.http_host, settings.worker.http_port
            http, task = await _serve(create_ops_app(settings, engine, bus), host, port)
            log.info(
                "worker running",
                extra={"node": settings.bus.node, "workers": ",".join(running.names), "path": f"http://{host}:{port}"},
            )
            try:
                await _until_signalled()
            finally:
                await _stop(http, task)
        finally:
            await running.close()
    finally:
        MetricsListener.release(settings.metrics)
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
    bus = create_bus(settings.bus.url, node_id=settings.bus.node)
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus, foreign_tokens=RoamingTokens(settings.ocpi))
    await bridge.start()
    announce_process("bridge", settings.bus.node)
    log.info("bridge listening", extra={"path": _ocpp_url(settings), "node": settings.bus.node})
    try:
        await _until_signalled()
    finally:
        await bridge.close()
        await bus.close()
        await engine.dispose()


def _ocpp_url(settings: Settings) -> str:
    scheme = "wss" if settings.ocpp.tls_enabled else "ws"
    return f"{scheme}://{settings.ocpp.host}:{settings.ocpp.port}/ocpp"


async def _demo_checkout_url(maker: async_sessionmaker[AsyncSession], settings: Settings) -> str | None:
    """The web checkout of the first demo charger's first EVSE."""
    from app.demo import DEMO_CHARGERS

    async with maker() as db:
        evse_id = await db.scalar(
            select(Evse.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.identity == DEMO_CHARGERS[0].identity)
            .order_by(Evse.evse_number)
            .limit(1)
        )
    return f"{settings.http.public_base_url}/c/{evse_id}" if evse_id else None


def _metrics_where(settings: Settings, api: str) -> str:
    metrics = settings.metrics
    if metrics.bind_port is not None:
        return f"http://{metrics.bind_host}:{metrics.bind_port}/metrics"
    if metrics.token is not None:
        return f"{api}/metrics (Authorization: Bearer $LADDNAT_METRICS_TOKEN)"
    return "off (set LADDNAT_METRICS_TOKEN or LADDNAT_METRICS_BIND)"


def _print_banner(
    settings: Settings, seeded: bool, *, checkout: str | None = None, demo_stripe: DemoStripe | None = None
) -> None:
    from app.demo import (
        DEMO_CHARGERS,
        DEMO_OPERATOR_EMAIL,
        DEMO_OPERATOR_PASSWORD,
        DEMO_PLATFORM_EMAIL,
        DEMO_PLATFORM_PASSWORD,
        NORRSKEN_CHARGERS,
        NORRSKEN_EMAIL,
        NORRSKEN_PASSWORD,
    )

    api = f"http://{settings.http.host}:{settings.http.port}"
    ocpp = _ocpp_url(settings)
    first = DEMO_CHARGERS[0]
    lines = [
        "",
        "Laddnät is running" + (" (demo network seeded)" if seeded else ""),
        f"  API docs        {api}/schema",
        f"  API health      {api}/healthz   metrics {_metrics_where(settings, api)}",
        f"  OCPP endpoint   {ocpp}/{{identity}}   (subprotocols ocpp1.6, ocpp2.0.1; HTTP Basic auth)",
        f"  OCPI versions   {settings.http.public_base_url}/ocpi/versions   (token A: laddnat ocpi issue-token)",
        f"  Database        {settings.db.url}",
        "  Demo chargers:",
        *[f"    {c.identity:<12} OCPP {c.version:<6} password {c.password}" for c in DEMO_CHARGERS],
        *[f"    {c.identity:<12} OCPP {c.version:<6} password {c.password}   (Norrsken)" for c in NORRSKEN_CHARGERS],
        f"  Console         {settings.http.public_base_url}/console   (sign in as the demo operator)",
        f"  Demo operator   {DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}   (POST {api}/api/v1/auth/token)",
        f"  Second tenant   {NORRSKEN_EMAIL} / {NORRSKEN_PASSWORD}   (Norrsken Laddning, SE*NRK: sees only its own)",
        f"  Platform admin  {DEMO_PLATFORM_EMAIL} / {DEMO_PLATFORM_PASSWORD}   (GET {api}/api/v1/platform/tenants)",
        "  Try a charger:",
        f"    .venv/bin/laddnat simulate --url {ocpp} --identity {first.identity}"
        f" --password {first.password} --duration 20 --interval 2",
        "  Then see its transaction:",
        f"    TOKEN=$(curl -s -X POST {api}/api/v1/auth/token -H 'content-type: application/json'"
        f' -d \'{{"email":"{DEMO_OPERATOR_EMAIL}","password":"{DEMO_OPERATOR_PASSWORD}"}}\''
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')",
        f'    curl -s {api}/api/v1/operator/transactions -H "Authorization: Bearer $TOKEN"',
    ]
    if checkout is not None and (settings.payments.stripe is not None or settings.payments.adyen is not None):
        lines += [
            "  Pay at a charger with no account (the web checkout behind its QR code):",
            f"    .venv/bin/laddnat simulate --url {ocpp} --identity {first.identity}"
            f" --password {first.password} --scenario serve --interval 2 --speed 30",
            f"    then open {checkout}",
        ]
        if demo_stripe is not None:
            lines.append(
                f"  Payments        a local fake Stripe on {demo_stripe.url} (no LADDNAT_STRIPE_* keys set):"
                " card 4242 4242 4242 4242, any future date, any CVC"
            )
    lines += ["  Stop with Ctrl-C.", ""]
    print("\n".join(lines), file=sys.stdout, flush=True)
