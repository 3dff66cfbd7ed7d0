"""The paid-session stack for end-to-end tests: the bridge, the API server, the payment
worker, localstripe behind the quirks proxy and the fake Adyen, plus the steps the tests share."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import stripe
import uvicorn
from sqlalchemy import func, select

from app.billing.paid_sessions import PaidSessionService
from app.billing.worker import PaymentWorker
from app.chargers.models import ChargePoint, Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import AdyenSettings, HttpSettings, MailSettings, PaymentSettings, Settings, StripeSettings
from app.main import create_app
from app.notify.outbox import MailWorker
from app.operators.models import Operator
from app.runner import _EmbeddedServer
from app.sessions.models import Transaction
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from devtools.fakes.adyen.server import AdyenFake
from devtools.fakes.stripe.proxy import StripeQuirksProxy
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import Bridge, create_bridge
from payments.models import Payment, PaymentTransition, WebhookEvent
from payments.registry import Providers
from payments.service import SavedCard
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_settings  # noqa: F401 (fixtures)
from tests.e2e.test_restart import free_port
from tests.fakes.smtp import Inbox, running_smtp
from tests.support import create_staff

T = TypeVar("T")

# 3.00 SEK/kWh + 0.10 SEK/min, incl. 25 % VAT; 300 SEK held.
TERMS = TariffTerms(
    id=None,
    name="Standard",
    currency="SEK",
    price_per_kwh_minor=300,
    price_per_minute_minor=10,
    session_fee_minor=0,
    idle_fee_per_minute_minor=0,
    idle_grace_minutes=0,
    vat_rate_bp=2500,
    min_price_minor=None,
    max_price_minor=None,
    hold_amount_minor=30_000,
    time_zone="Europe/Stockholm",
    bands=(),
)


@dataclass
class Site:
    operator_id: uuid.UUID
    identity: str
    evse_id: uuid.UUID


@dataclass
class Stack:
    settings: Settings
    maker: Any
    bus: InProcessBus
    bridge: Bridge
    providers: Providers
    port: int
    worker: PaymentWorker
    inbox: Inbox
    mail_worker: MailWorker

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge.port}/ocpp"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def site(self, party: str, *, version: str = "1.6", terms: TariffTerms = TERMS) -> Site:
        """An operator (its party id picks the PSP), a location, a charger with one EVSE, a tariff."""
        identity = f"PAY-{uuid.uuid4().hex[:8]}"
        async with self.maker() as db:
            operator = await db.scalar(select(Operator).where(Operator.party_id == party))
            if operator is None:
                operator = Operator(name=f"Operator {party}", country_code="SE", party_id=party)
                db.add(operator)
                await db.flush()
            location = Location(operator_id=operator.id, name=f"Site {identity}", time_zone="Europe/Stockholm")
            db.add(location)
            await db.commit()
            cp = await ChargerService(db, self.bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
            evse_id = await db.scalar(select(Evse.id).where(Evse.charge_point_id == cp.id))
            assert evse_id is not None
            tariffs = TariffService(db, self.bus)
            tariff = await tariffs.create(terms, operator_id=operator.id)
            await tariffs.assign("location", location.id, tariff.id)
            return Site(operator.id, identity, evse_id)

    async def charger(self, site: Site, *, version: str = "1.6", power_kw: float = 11.0) -> SimulatedCharger:
        sim = SimulatedCharger(
            SimConfig(
                url=self.ocpp_url,
                identity=site.identity,
                password=PASSWORD,
                version=version,
                power_kw=power_kw,
                auto_heartbeat=False,
            )
        )
        await sim.connect()
        await sim.boot()
        for connector in sim.connectors:
            await sim.status(connector, "Available")
        return sim

    async def payment(self, payment_id: uuid.UUID) -> Payment:
        async with self.maker() as db:
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            return payment

    async def transaction(self, transaction_id: uuid.UUID) -> Transaction:
        async with self.maker() as db:
            tx = await db.get(Transaction, transaction_id)
            assert tx is not None
            return tx

    async def start(self, site: Site, **kwargs: Any) -> Payment:
        async with self.maker() as db:
            return await PaidSessionService(db, self.bus, self.providers, self.settings).start(site.evse_id, **kwargs)

    async def stop(self, tx: Transaction) -> None:
        async with self.maker() as db:
            from app.sessions.commands import CommandService

            await CommandService(db, self.bus, public_base_url=self.base_url, timeout_s=10).send(
                tx.charge_point_id, "remote-stop", {"transactionId": str(tx.id)}
            )

    async def transitions(self, payment_id: uuid.UUID, to_status: str) -> int:
        async with self.maker() as db:
            return int(
                await db.scalar(
                    select(func.count()).where(
                        PaymentTransition.payment_id == payment_id, PaymentTransition.to_status == to_status
                    )
                )
                or 0
            )


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy (the system works in the background)."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover (timeout raises first)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Inbox]]:
    """A real SMTP server on loopback: the receipts the app e-mails land in its inbox."""
    with running_smtp() as server:
        yield server


@pytest.fixture(scope="module")
async def stack(
    settings: Settings,
    stripe_settings: StripeSettings,
    stripe_proxy: StripeQuirksProxy,
    adyen_settings: AdyenSettings,  # noqa: F811 (fixture)
    adyen_fake: AdyenFake,  # noqa: F811 (fixture)
    smtp: tuple[str, Inbox],
) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=10.0),
        mail=MailSettings(smtp_url=smtp[0]),
        payments=PaymentSettings(
            stripe=stripe_settings,
            adyen=adyen_settings,
            default_provider="stripe",
            provider_by_operator={"SE*ADY": "adyen"},
            sweep_interval_s=1.0,
            hold_check_interval_s=0.0,
        ),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    providers = Providers(settings.payments)
    app = create_app(settings, engine=engine, bus=bus, providers=providers)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    stripe_proxy.register_webhook(f"http://127.0.0.1:{port}/webhooks/stripe", stripe_settings.webhook_secret)
    adyen_fake.webhook_url = f"http://127.0.0.1:{port}/webhooks/adyen"
    yield Stack(settings, maker, bus, bridge, providers, port, app.state.payment_worker, smtp[1], app.state.mail_worker)
    server.should_exit = True
    await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


def stripe_client(s: StripeSettings) -> stripe.StripeClient:
    """What the shopper's browser or phone does with Stripe.js, done with the SDK."""
    assert s.api_base is not None
    return stripe.StripeClient(s.secret_key, base_addresses={"api": s.api_base})


async def saved_visa(stack: Stack, stripe_settings: StripeSettings) -> SavedCard:
    provider = stack.providers.get("stripe")
    setup = await provider.setup_saved_method(
        f"user-{uuid.uuid4().hex[:6]}", "driver@example.test", None, idempotency_key=uuid.uuid4().hex
    )
    assert setup.client_secret is not None
    setup_intent_id = setup.client_secret.split("_secret_")[0]
    client = stripe_client(stripe_settings)
    await asyncio.to_thread(client.v1.setup_intents.confirm, setup_intent_id, {"payment_method": "pm_card_visa"})
    methods = await provider.saved_methods(setup.customer_ref)
    assert methods, "the confirmed card is listed"
    return SavedCard(customer_ref=setup.customer_ref, payment_method_ref=methods[0].ref)


async def operator_headers(stack: Stack, operator_id: uuid.UUID) -> dict[str, str]:
    """An admin of ``operator_id``, the operator company whose payments the test manages."""
    email = f"ops-{uuid.uuid4().hex[:6]}@pay.test"
    async with stack.maker() as db:
        await create_staff(db, email, "ops-password-123", operator_id=operator_id)
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": email, "password": "ops-password-123"})).json()
    return {"Authorization": f"Bearer {token['accessToken']}"}


async def receipt_and_revenue(stack: Stack, payment: Payment, site: Site) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paid session's receipt, and its location's row in today's revenue report."""
    headers = await operator_headers(stack, site.operator_id)
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
        receipt = await http.get(f"/api/v1/operator/payments/{payment.id}/receipt")
        assert receipt.status_code == 200, receipt.text
        pdf = await http.get(f"/api/v1/operator/payments/{payment.id}/receipt.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        today = datetime.now(UTC).date()
        report = await http.get(
            "/api/v1/operator/reports/revenue",
            params={
                "from": today.isoformat() + "T00:00:00Z",
                "to": (today + timedelta(days=1)).isoformat() + "T00:00:00Z",
                "groupBy": "location",
                "period": "day",
            },
        )
        assert report.status_code == 200, report.text
    async with stack.maker() as db:
        location_id = await db.scalar(
            select(Location.id)
            .join(ChargePoint, ChargePoint.location_id == Location.id)
            .where(ChargePoint.identity == site.identity)
        )
    rows = [row for row in report.json()["rows"] if row["groupId"] == str(location_id)]
    assert len(rows) == 1, report.json()
    return receipt.json(), rows[0]


# -- probes ----------------------------------------------------------------------------


async def linked_transaction(stack: Stack, payment_id: uuid.UUID) -> Transaction | None:
    payment = await stack.payment(payment_id)
    if payment.transaction_id is None:
        return None
    return await stack.transaction(payment.transaction_id)


async def started(stack: Stack, payment_id: uuid.UUID, sim: SimulatedCharger, what: str) -> Transaction:
    """The payment's transaction once the server has linked it and the charger's own start is
    done: the server links it before the charger has its answer, and a meter reading sent
    in between counts nothing (the session then ends at 0 due and the hold is released)."""
    linked = await eventually(lambda: linked_transaction(stack, payment_id), what)
    await sim.wait_background()
    return linked


async def in_status(stack: Stack, payment_id: uuid.UUID, status: str) -> Payment | None:
    payment = await stack.payment(payment_id)
    if payment.status in {"failed"} and status != "failed":
        raise AssertionError(f"payment failed: {payment.failure_code} {payment.failure_message}")
    return payment if payment.status == status else None


async def reached_status(
    stack: Stack, payment_id: uuid.UUID, status: str, what: str, timeout_s: float = 30.0
) -> Payment:
    """``eventually(in_status(...))`` that, when it times out, says where the payment and its
    session stand (a rare late capture left no trace to go on before)."""
    try:
        return await eventually(lambda: in_status(stack, payment_id, status), what, timeout_s)
    except TimeoutError:
        raise AssertionError(
            f"{what}: not within {timeout_s:.0f} s; {await payment_story(stack, payment_id)}"
        ) from None


async def payment_story(stack: Stack, payment_id: uuid.UUID) -> str:
    payment = await stack.payment(payment_id)
    story = f"payment {payment.status} (due {payment.amount_due_minor}, hold {payment.hold_minor})"
    async with stack.maker() as db:
        moves = await db.scalars(
            select(PaymentTransition).where(PaymentTransition.payment_id == payment_id).order_by(PaymentTransition.id)
        )
        story += "; history: " + ", ".join(
            f"{m.at:%H:%M:%S} {m.from_status}->{m.to_status} {m.action} by {m.source}" for m in moves
        )
    if payment.transaction_id is not None:
        tx = await stack.transaction(payment.transaction_id)
        story += (
            f"; transaction {tx.status}, stopped at {tx.stopped_at}, reason {tx.stop_reason}, priced at {tx.priced_at}"
        )
    return story


async def capture_confirmed(stack: Stack, payment_id: uuid.UUID) -> Payment | None:
    payment = await stack.payment(payment_id)
    return payment if payment.capture_confirmed_at is not None else None


async def processed(stack: Stack, payment_id: uuid.UUID, at_least: int) -> bool:
    async with stack.maker() as db:
        done = await db.scalar(
            select(func.count()).where(WebhookEvent.payment_id == payment_id, WebhookEvent.processed_at.is_not(None))
        )
    return int(done or 0) >= at_least
