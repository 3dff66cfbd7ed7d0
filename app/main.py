"""The HTTP API: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
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
from app.billing.reconcile.controllers import ReconciliationController
from app.billing.reports.controllers import ReportController
from app.chargers.command_controllers import CommandController, UploadController
from app.chargers.controllers import ChargerController, LocationController, QrCodeController
from app.checkout.controllers import TEMPLATE_DIR, checkout_router, checkout_static_router
from app.console.live import ConsoleLiveHub
from app.console.routes import TEMPLATE_DIR as CONSOLE_TEMPLATE_DIR
from app.console.routes import console_router, console_static_router
from app.core.auth import (
    BEARER_SCHEME,
    BEARER_SECURITY,
    can_read,
    provide_caller,
    provide_tenant_id,
    requires_platform_admin,
)
from app.core.bus import Bus, create_bus
from app.core.database import create_engine, create_sessionmaker
from app.core.http import EXCEPTION_HANDLERS, document_bounds, document_problems, provide_page
from app.core.metrics import MetricsListener
from app.core.ops import OPS_HANDLERS
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
from app.operators.api_keys import load_api_key
from app.operators.audit import AuditMiddleware
from app.operators.company_controllers import CompanyController
from app.operators.controllers import ApiKeyController, AuditLogController, StaffController, TenantController
from app.operators.webhooks.controllers import WebhookEndpointController
from app.roaming.cdrs.ledger import CdrLedger
from app.roaming.operator.controllers import RoamingPartnerController
from app.roaming.push import PushWorker
from app.roaming.routes import ocpi_router, unrouted
from app.sessions.command_controllers import SendCommandController
from app.sessions.controllers import TransactionController
from app.tariffs.controllers import TariffAssignmentController, TariffController
from app.uptime.controllers import UPTIME_CONTROLLERS
from app.workers import Workers
from payments.controllers import WebhookController
from payments.registry import Providers

API_TITLE = "Laddnät API"
API_VERSION = "0.1.0"


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """Dependency ``db``: one session per request, closed (rolled back if open) after it."""
    async with state.sessionmaker() as db:
        yield db


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    bus: Bus | None = None,
    providers: Providers | None = None,
    health_monitor: HealthMonitor | None = None,
    ocpi_push_worker: PushWorker | None = None,
    workers: Workers | None = None,
) -> Litestar:
    """The API over ``engine`` and ``bus``; what it creates itself it also closes.

    A given bus is the caller's to start and close (the bridge may share it). ``workers``:
    the background work run in the API's lifespan (app/workers.py); None: every kind, as
    ``laddnat run`` does. Without ``workers``, a given health monitor (tests: one on a
    hand-moved clock) runs like its own, and so does a given OCPI push worker.
    """
    own_engine, own_bus = engine is None, bus is None
    db_engine = engine if engine is not None else create_engine(settings.db)
    app_bus = bus if bus is not None else create_bus(settings.bus.url, node_id=settings.bus.node_id)
    if workers is None:
        maker = create_sessionmaker(db_engine)
        psps = providers if providers is not None else Providers(settings.payments)
        workers = Workers.build(
            settings, maker, app_bus, psps, health_monitor=health_monitor, ocpi_push_worker=ocpi_push_worker
        )
    else:
        maker, psps = workers.payment_worker.maker, workers.payment_worker.providers
    live_hub = LiveHub(app_bus)
    live_hub.subscribe()
    console_hub = ConsoleLiveHub(app_bus, maker)
    console_hub.subscribe()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if own_bus:
            await app_bus.start()
        MetricsListener.acquire(settings.metrics)
        await workers.start()
        try:
            yield
        finally:
            await workers.close()
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
            *OPS_HANDLERS,
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
            console_router(settings),
            console_static_router(),
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
        # The web checkout's and the operator console's pages; the API itself renders none.
        template_config=TemplateConfig(directory=[TEMPLATE_DIR, CONSOLE_TEMPLATE_DIR], engine=JinjaTemplateEngine),
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
                "workers": workers,
                "payment_worker": workers.payment_worker,
                "live_hub": live_hub,
                "console_hub": console_hub,
                # Called by the runner before the HTTP server stops: streams that never end by themselves.
                "stop_streams": [console_hub.close],
                "mail_worker": workers.mail_worker,
                "webhook_worker": workers.webhook_worker,
                "ocpi_push_worker": workers.ocpi_push_worker,
                "ocpi_command_worker": workers.ocpi_command_worker,
                "ocpi_cdr_issuer": workers.ocpi_cdr_issuer,
                # Billing's roaming reports read roaming's CDRs through it (billing never imports roaming).
                "roaming_ledger": CdrLedger(),
                "ocpi_location_pusher": workers.ocpi_location_pusher,
                "health_monitor": workers.health_monitor,
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
