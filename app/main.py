"""The HTTP API: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import events as _every_event  # noqa: F401  (a NATS bus decodes any subject: app/events.py)
from app.billing.invoices.controllers import FleetAccountController, InvoiceController
from app.billing.payment_controllers import PaymentController
from app.billing.receipts.controllers import ReceiptController
from app.billing.receipts.mail import ReceiptMailer
from app.billing.reconcile.controllers import ReconciliationController
from app.billing.reports.controllers import ReportController
from app.billing.worker import PaymentWorker
from app.chargers.command_controllers import CommandController, UploadController
from app.chargers.controllers import ChargerController, LocationController, QrCodeController
from app.checkout.controllers import TEMPLATE_DIR, checkout_router, checkout_static_router
from app.core.auth import (
    BEARER_SCHEME,
    BEARER_SECURITY,
    can_read,
    provide_caller,
    provide_tenant_id,
    requires_platform_admin,
)
from app.core.bus import Bus, create_bus
from app.core.database import create_engine, create_sessionmaker, ping
from app.core.errors import DatabaseUnavailable, NotFound, Unauthenticated
from app.core.http import EXCEPTION_HANDLERS, document_bounds, document_problems, problems, provide_page
from app.core.metrics import Access, MetricsListener, metrics_access, render
from app.core.settings import Settings
from app.driver_app.charger_controllers import DriverChargerController
from app.driver_app.live import LiveHub
from app.driver_app.receipt_controllers import DriverReceiptController
from app.driver_app.session_controllers import DriverSessionController, live_session
from app.driver_app.signup_controllers import SignUpController
from app.drivers.controllers import (
    AuthController,
    IdTokenController,
    MeController,
    MyIdTokenController,
    MyPaymentMethodController,
)
from app.drivers.deps import load_active_user, provide_current_user
from app.health.controllers import IncidentController
from app.health.monitor import HealthMonitor
from app.health.playbooks import Remediator
from app.notify.mail import create_mailer
from app.notify.operator_webhooks import WebhookDispatcher
from app.notify.outbox import MailWorker
from app.operators.api_keys import load_api_key
from app.operators.audit import AuditMiddleware
from app.operators.company_controllers import CompanyController
from app.operators.controllers import ApiKeyController, AuditLogController, StaffController, TenantController
from app.operators.webhooks.controllers import WebhookEndpointController
from app.operators.webhooks.worker import WebhookWorker
from app.roaming.cdrs.ledger import CdrLedger
from app.roaming.cdrs.service import CdrIssuer
from app.roaming.commands.worker import CommandWorker
from app.roaming.locations.pusher import LocationPusher
from app.roaming.operator.controllers import RoamingPartnerController
from app.roaming.push import PushWorker
from app.roaming.routes import ocpi_router, unrouted
from app.roaming.sessions.updates import SessionUpdates
from app.sessions.command_controllers import SendCommandController
from app.sessions.controllers import TransactionController
from app.tariffs.controllers import TariffAssignmentController, TariffController
from app.uptime.controllers import UPTIME_CONTROLLERS
from payments.controllers import WebhookController
from payments.registry import Providers

API_TITLE = "Laddnät API"
API_VERSION = "0.1.0"
# Readiness answers fast either way: a load balancer waiting on us is worse than a 503.
READY_TIMEOUT_S = 5.0


class StatusOut(msgspec.Struct, kw_only=True):
    status: Literal["ok"] = "ok"


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """Dependency ``db``: one session per request, closed (rolled back if open) after it."""
    async with state.sessionmaker() as db:
        yield db


@get("/healthz", operation_id="Healthz", tags=["ops"], summary="The process is alive")
async def healthz() -> StatusOut:
    return StatusOut()


@get(
    "/readyz",
    operation_id="Readyz",
    tags=["ops"],
    summary="The database answers",
    responses=problems(DatabaseUnavailable),
)
async def readyz(state: State) -> StatusOut:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await ping(state.engine)
    except Exception as exc:  # whatever stops a SELECT 1 means not ready
        raise DatabaseUnavailable(f"the database did not answer ({type(exc).__name__})") from exc
    return StatusOut()


@get(
    "/metrics",
    operation_id="Metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    description=(
        "For `Authorization: Bearer <LADDNAT_METRICS_TOKEN>` only; without that setting not served here "
        "(404): LADDNAT_METRICS_BIND gives the metrics a listener of their own."
    ),
    responses=problems(Unauthenticated, NotFound),
    media_type="text/plain; version=0.0.4; charset=utf-8",
)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    access = metrics_access(state.settings.metrics, request.headers.get("authorization"))
    if access is Access.HIDDEN:
        raise NotFound("Not Found")  # what any path that does not exist answers
    if access is Access.UNAUTHORIZED:
        raise Unauthenticated("send Authorization: Bearer <LADDNAT_METRICS_TOKEN>")
    body, content_type = render()
    return Response(body, media_type=content_type)


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    bus: Bus | None = None,
    providers: Providers | None = None,
    health_monitor: HealthMonitor | None = None,
    ocpi_push_worker: PushWorker | None = None,
) -> Litestar:
    """The API over ``engine`` and ``bus``; what it creates itself it also closes.

    A given bus is the caller's to start and close (the bridge may share it). A given
    health monitor (tests: one on a hand-moved clock) runs in the API's lifespan like its own,
    and so does a given OCPI push worker.
    """
    own_engine, own_bus = engine is None, bus is None
    db_engine = engine if engine is not None else create_engine(settings.db)
    app_bus = bus if bus is not None else create_bus(settings.bus.url, node_id=settings.bus.node_id)
    maker = create_sessionmaker(db_engine)
    psps = providers if providers is not None else Providers(settings.payments)
    payment_worker = PaymentWorker(maker, app_bus, psps, settings)
    payment_worker.subscribe()
    live_hub = LiveHub(app_bus)
    live_hub.subscribe()
    mail_worker = MailWorker(maker, create_mailer(settings.mail), settings.mail.from_address)
    ReceiptMailer(maker, app_bus, psps, mail_worker).subscribe()
    webhook_worker = WebhookWorker(
        maker, settings.auth.secret_key, allow_private_targets=settings.webhooks.allow_private_targets
    )
    WebhookDispatcher(maker, app_bus, webhook_worker).subscribe()
    if ocpi_push_worker is None:
        ocpi_push_worker = PushWorker(maker, settings.ocpi)
    ocpi_command_worker = CommandWorker(maker, app_bus, settings, on_result=ocpi_push_worker.poke)
    SessionUpdates(maker, app_bus, settings.ocpi).subscribe()
    ocpi_cdr_issuer = CdrIssuer(maker, app_bus, on_issued=ocpi_push_worker.poke)
    ocpi_cdr_issuer.subscribe()
    # Live EVSE status and new locations to every partner of the tenant.
    location_pusher = LocationPusher(maker, app_bus, ocpi_push_worker)
    location_pusher.subscribe()
    if health_monitor is None:
        health_monitor = HealthMonitor(maker, app_bus, settings)
    health_monitor.subscribe()
    remediator = Remediator(maker, app_bus, settings)
    if settings.health.enabled and (settings.health.self_healing or settings.health.collect_diagnostics):
        remediator.subscribe()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if own_bus:
            await app_bus.start()
        MetricsListener.acquire(settings.metrics)
        await payment_worker.start()
        await mail_worker.start()
        await health_monitor.start()
        await webhook_worker.start()
        await ocpi_push_worker.start()
        await ocpi_command_worker.start()
        await ocpi_cdr_issuer.start()
        await location_pusher.start()
        try:
            yield
        finally:
            await location_pusher.close()
            await ocpi_cdr_issuer.close()
            await ocpi_command_worker.close()
            await ocpi_push_worker.close()
            await webhook_worker.close()
            await remediator.close()
            await health_monitor.close()
            await mail_worker.close()
            await payment_worker.close()
            MetricsListener.release(settings.metrics)
            if own_bus:
                await app_bus.close()
            if own_engine:
                await db_engine.dispose()

    operator = Router(
        "/api/v1/operator",
        route_handlers=[
            ChargerController,
            CommandController,
            SendCommandController,
            LocationController,
            QrCodeController,
            TransactionController,
            IdTokenController,
            PaymentController,
            TariffController,
            TariffAssignmentController,
            IncidentController,
            ReceiptController,
            FleetAccountController,
            InvoiceController,
            ReportController,
            ReconciliationController,
            *UPTIME_CONTROLLERS,
            WebhookEndpointController,
            RoamingPartnerController,
            CompanyController,
            ApiKeyController,
            StaffController,
            AuditLogController,
        ],
        guards=[can_read],
        # Every successful change is in the tenant's audit log (app/operators/audit.py).
        middleware=[AuditMiddleware],
        security=BEARER_SECURITY,
    )
    platform = Router(
        "/api/v1/platform",
        route_handlers=[TenantController],
        guards=[requires_platform_admin],
        middleware=[AuditMiddleware],
        security=BEARER_SECURITY,
    )
    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            AuthController,
            SignUpController,
            MeController,
            DriverChargerController,
            MyIdTokenController,
            MyPaymentMethodController,
            UploadController,
            WebhookController,
            DriverSessionController,
            DriverReceiptController,
            live_session,
            operator,
            platform,
            ocpi_router(),
            checkout_router(settings),
            checkout_static_router(),
        ],
        dependencies={
            "db": Provide(provide_db),
            "current_user": Provide(provide_current_user),
            "caller": Provide(provide_caller),
            "tenant_id": Provide(provide_tenant_id),
            "page": Provide(provide_page, sync_to_thread=False),
        },
        # A path or method no route takes under /ocpi answers in the OCPI envelope.
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: unrouted, MethodNotAllowedException: unrouted},
        # The web checkout's pages (app/checkout/templates); the API itself renders none.
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title=API_TITLE,
            version=API_VERSION,
            path="/schema",
            components=Components(
                security_schemes={BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        state=State(
            {
                "settings": settings,
                "engine": db_engine,
                "sessionmaker": maker,
                # app/core/auth.py resolves bearer tokens with it: accounts are the drivers area's.
                "load_active_user": load_active_user,
                # ... and API keys (lnk_...) with this: keys are the operators area's.
                "load_api_key": load_api_key,
                "bus": app_bus,
                "providers": psps,
                "payment_worker": payment_worker,
                "live_hub": live_hub,
                "mail_worker": mail_worker,
                "webhook_worker": webhook_worker,
                "ocpi_push_worker": ocpi_push_worker,
                "ocpi_command_worker": ocpi_command_worker,
                "ocpi_cdr_issuer": ocpi_cdr_issuer,
                # Billing's roaming reports read roaming's CDRs through it (billing never imports roaming).
                "roaming_ledger": CdrLedger(),
                "ocpi_location_pusher": location_pusher,
                "health_monitor": health_monitor,
            }
        ),
        lifespan=[lifespan],
        # Logging is ours (app/core/logging.py, JSON lines, LADDNAT_LOG_LEVEL); Litestar's
        # default config would replace the root handler with its own text format.
        logging_config=None,
    )
    # Built now rather than on first request, so /schema and the exported file agree.
    document_problems(app.openapi_schema)
    document_bounds(app)
    return app
