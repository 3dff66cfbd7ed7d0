"""Paid sessions end to end: simulator chargers over real sockets, the real API server, the
real Stripe SDK against localstripe (behind the quirks proxy) and the real Adyen SDK against
our fake Checkout API; notifications arrive over HTTP, signed the real way.

Hold -> remote start -> charge -> stop -> the exact price captured; a zero-energy session
releases the hold; a session that reaches its hold is stopped; a charger that never starts
releases the hold; capture notifications twice and out of order count once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import msgspec
import pytest
import stripe
import uvicorn
from sqlalchemy import func, select

from app.chargers.models import ChargePoint, Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import AdyenSettings, HttpSettings, PaymentSettings, Settings, StripeSettings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.models import Operator
from app.runner import _EmbeddedServer
from app.sessions.models import Transaction
from app.sessions.paid import PaidSessionService, PaymentWorker, StartFailed
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from ocpp_bridge.server import Bridge, create_bridge
from ocpp_bridge.simulator import SimConfig, SimulatedCharger
from payments.models import Payment, PaymentTransition, WebhookEvent
from payments.registry import Providers
from payments.service import PaymentService, SavedCard
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_settings  # noqa: F401 (fixtures)
from tests.e2e.test_restart import free_port
from tests.fakes.adyen_fake import AdyenFake
from tests.fakes.stripe_servers import StripeQuirksProxy, sign_webhook, stripe_event

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
            from app.chargers.command_service import CommandService

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
async def stack(
    settings: Settings,
    stripe_settings: StripeSettings,
    stripe_proxy: StripeQuirksProxy,
    adyen_settings: AdyenSettings,  # noqa: F811 (fixture)
    adyen_fake: AdyenFake,  # noqa: F811 (fixture)
) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=10.0),
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
    yield Stack(settings, maker, bus, bridge, providers, port, app.state.payment_worker)
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


async def test_stripe_saved_card_session_captures_the_exact_price(
    stack: Stack, stripe_settings: StripeSettings, stripe_proxy: StripeQuirksProxy
) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        card = await saved_visa(stack, stripe_settings)
        payment = await stack.start(site, saved_card=card)
        assert payment.status == "authorised"
        assert payment.hold_minor == TERMS.hold_amount_minor

        linked = await eventually(
            lambda: _linked_transaction(stack, payment.id), "the charger starts a transaction with the payment"
        )
        for _ in range(3):
            await sim.send_meter_values(seconds=600)  # 10 minutes at 11 kW each
        running = await stack.transaction(linked.id)
        assert running.status == "active", running.stop_reason
        await stack.stop(linked)

        captured = await eventually(lambda: _in_status(stack, payment.id, "captured"), "the payment is captured")
        tx = await stack.transaction(linked.id)
        assert tx.status == "completed" and tx.energy_wh > 5000
        assert tx.tariff_snapshot is not None
        terms = TariffTerms.from_json(tx.tariff_snapshot)
        assert terms.price_per_kwh_minor == TERMS.price_per_kwh_minor
        assert captured.captured_minor == tx.cost_minor == captured.amount_due_minor
        assert 0 < captured.captured_minor < captured.hold_minor
        # Stripe holds the same figure: exactly the cost was taken, the rest released.
        intent = await asyncio.to_thread(
            stripe_client(stripe_settings).v1.payment_intents.retrieve, captured.provider_ref
        )
        assert intent.amount_received == captured.captured_minor
        assert stripe_proxy.upstream_count("POST", f"/v1/payment_intents/{captured.provider_ref}/capture") == 1
        receipt, revenue = await receipt_and_revenue(stack, captured, site)
        assert receipt["capturedMinor"] == receipt["priceMinor"] == captured.captured_minor
        assert receipt["methodLast4"] == "4242" and receipt["evseId"]
        assert sum(v["netMinor"] + v["vatMinor"] for v in receipt["vat"]) == captured.captured_minor
        assert revenue["capturedMinor"] == revenue["revenueMinor"] == captured.captured_minor
        assert revenue["sessions"] == revenue["paidSessions"] == 1
    finally:
        await sim.close()


async def operator_headers(stack: Stack) -> dict[str, str]:
    email = f"ops-{uuid.uuid4().hex[:6]}@pay.test"
    async with stack.maker() as db:
        await UserService(db).create_user(email, "ops-password-123", "operator")
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": email, "password": "ops-password-123"})).json()
    return {"Authorization": f"Bearer {token['accessToken']}"}


async def receipt_and_revenue(stack: Stack, payment: Payment, site: Site) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paid session's receipt, and its location's row in today's revenue report."""
    headers = await operator_headers(stack)
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


async def test_refunds_through_the_api_never_exceed_the_capture(stack: Stack, stripe_settings: StripeSettings) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        payment = await stack.start(site, saved_card=await saved_visa(stack, stripe_settings))
        linked = await eventually(lambda: _linked_transaction(stack, payment.id), "started")
        await sim.send_meter_values(seconds=1200)
        await stack.stop(linked)
        captured = await eventually(lambda: _in_status(stack, payment.id, "captured"), "captured")
    finally:
        await sim.close()
    headers = await operator_headers(stack)
    path = f"/api/v1/operator/payments/{captured.id}/refunds"
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
        too_much = await http.post(path, json={"amountMinor": captured.captured_minor + 1})
        assert too_much.status_code == 422 and too_much.json()["field"] == "amountMinor"
        unknown_field = await http.post(path, json={"amount": 1})
        assert unknown_field.status_code in (400, 422)
        part = await http.post(path, json={"amountMinor": 100, "reason": "slow charging"})
        assert part.status_code == 201, part.text
        assert part.json()["status"] == "succeeded"
        rest = await http.post(path, json={})
        assert rest.status_code == 201 and rest.json()["amountMinor"] == captured.captured_minor - 100
        again = await http.post(path, json={"amountMinor": 1})
        assert again.status_code == 409 and again.json()["code"] == "payment.refund_not_allowed"
        detail = (await http.get(f"/api/v1/operator/payments/{captured.id}")).json()
        assert detail["status"] == "refunded" and detail["refundedMinor"] == captured.captured_minor
        assert [r["amountMinor"] for r in detail["refunds"]] == [100, captured.captured_minor - 100]
        missing = await http.get(f"/api/v1/operator/payments/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["code"] == "payment.not_found"
    intent = await asyncio.to_thread(
        stripe_client(stripe_settings).v1.payment_intents.retrieve, captured.provider_ref, {"expand": ["latest_charge"]}
    )
    assert intent.amount_received == captured.captured_minor


async def test_capture_notifications_twice_and_out_of_order_count_once(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        payment = await stack.start(site, saved_card=await saved_visa(stack, stripe_settings))
        linked = await eventually(lambda: _linked_transaction(stack, payment.id), "started")
        await sim.send_meter_values(seconds=900)
        await stack.stop(linked)
        captured = await eventually(lambda: _in_status(stack, payment.id, "captured"), "captured")
    finally:
        await sim.close()
    intent = {
        "id": captured.provider_ref,
        "object": "payment_intent",
        "amount": captured.hold_minor,
        "amount_capturable": 0,
        "amount_received": captured.captured_minor,
        "currency": "sek",
        "status": "succeeded",
        "capture_method": "manual",
        "metadata": {"payment_id": str(captured.id)},
    }
    succeeded = stripe_event("payment_intent.succeeded", intent, event_id=f"evt_{uuid.uuid4().hex[:16]}")
    # The authorisation notification arrives last, after the capture's (Stripe does not promise order).
    authorised = stripe_event(
        "payment_intent.amount_capturable_updated",
        {**intent, "status": "requires_capture", "amount_capturable": captured.hold_minor, "amount_received": 0},
        event_id=f"evt_{uuid.uuid4().hex[:16]}",
    )
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        for body in (succeeded, succeeded, authorised, succeeded):
            r = await http.post(
                "/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": sign_webhook(body, stripe_settings.webhook_secret)},
            )
            assert r.status_code == 200, r.text
    await eventually(lambda: _processed(stack, captured.id, 2), "both notifications are applied")
    after = await stack.payment(captured.id)
    assert after.status == "captured"
    assert after.captured_minor == captured.captured_minor
    assert after.capture_confirmed_at is not None
    assert await stack.transitions(captured.id, "captured") == 1


async def test_forged_or_stale_stripe_notifications_are_refused_and_change_nothing(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    body = stripe_event("payment_intent.succeeded", {"id": "pi_forged", "object": "payment_intent"})
    async with stack.maker() as db:
        before = await db.scalar(select(func.count()).select_from(WebhookEvent))
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        forged = await http.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign_webhook(body, "whsec_wrong")}
        )
        stale = await http.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": sign_webhook(body, stripe_settings.webhook_secret, timestamp=1_000_000)},
        )
        unsigned = await http.post("/webhooks/stripe", content=body)
    for r in (forged, stale, unsigned):
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "webhook.invalid"
    async with stack.maker() as db:
        assert await db.scalar(select(func.count()).select_from(WebhookEvent)) == before


async def test_web_checkout_zero_energy_session_releases_the_hold(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site, power_kw=0.0)
    try:
        payment = await stack.start(site, payer_email="walkup@example.test")
        assert payment.status == "created" and payment.client_secret
        # The shopper pays in the Payment Element; Stripe notifies us; the charger starts.
        await asyncio.to_thread(
            stripe_client(stripe_settings).v1.payment_intents.confirm,
            payment.provider_ref,
            {"payment_method": "pm_card_visa"},
        )
        linked = await eventually(lambda: _linked_transaction(stack, payment.id), "started after the notification")
        await sim.send_meter_values(seconds=60)
        await stack.stop(linked)
        cancelled = await eventually(lambda: _in_status(stack, payment.id, "cancelled"), "the hold is released")
        assert cancelled.captured_minor == 0
        intent = await asyncio.to_thread(
            stripe_client(stripe_settings).v1.payment_intents.retrieve, payment.provider_ref
        )
        assert intent.status == "canceled"
    finally:
        await sim.close()


async def test_a_session_that_reaches_its_hold_is_stopped_and_never_charged_more(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    small_hold = msgspec.structs.replace(TERMS, hold_amount_minor=2_000)  # 20 SEK: under 7 kWh
    site = await stack.site("STR", terms=small_hold)
    sim = await stack.charger(site)
    try:
        payment = await stack.start(site, saved_card=await saved_visa(stack, stripe_settings))
        linked = await eventually(lambda: _linked_transaction(stack, payment.id), "started")
        for _ in range(80):  # a minute at 11 kW each: 0.55 SEK a step
            await sim.send_meter_values(seconds=60)
            # What the worker does on each meter event, awaited here so the test does not
            # outrun it: the simulator reports minutes of charging in milliseconds.
            await stack.worker.check_hold_limit(payment.id)
            if (await stack.payment(payment.id)).limit_stop_at is not None:
                break
        stopped = await eventually(lambda: _in_status(stack, payment.id, "captured"), "stopped at the limit")
        assert stopped.limit_stop_at is not None
        tx = await stack.transaction(linked.id)
        assert tx.status == "completed" and tx.stop_reason == "Remote"
        # Stopped in time: the session cost what was captured, and that is within the hold.
        assert stopped.captured_minor == tx.cost_minor <= stopped.hold_minor
        assert stopped.captured_minor > stopped.hold_minor * 0.9
    finally:
        await sim.close()


async def test_a_charger_that_does_not_start_releases_the_hold(stack: Stack, stripe_settings: StripeSettings) -> None:
    site = await stack.site("STR")  # never connected: the remote start finds it offline
    with pytest.raises(StartFailed):
        await stack.start(site, saved_card=await saved_visa(stack, stripe_settings))
    async with stack.maker() as db:
        payment = await db.scalar(select(Payment).where(Payment.evse_id == site.evse_id))
        assert payment is not None
    assert payment.status == "cancelled" and payment.captured_minor == 0
    intent = await asyncio.to_thread(stripe_client(stripe_settings).v1.payment_intents.retrieve, payment.provider_ref)
    assert intent.status == "canceled"


async def test_declined_card_fails_the_payment_and_starts_nothing(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    site = await stack.site("STR")
    card = await saved_visa(stack, stripe_settings)
    declined = SavedCard(customer_ref=card.customer_ref, payment_method_ref="pm_card_chargeDeclined")
    async with stack.maker() as db:
        with pytest.raises(Exception) as raised:
            await PaymentService(db, stack.bus, stack.providers).open_hold(site.evse_id, saved_card=declined)
    assert getattr(raised.value, "code", None) == "payment.declined"
    async with stack.maker() as db:
        payment = await db.scalar(select(Payment).where(Payment.evse_id == site.evse_id))
        assert payment is not None and payment.status == "failed" and payment.failure_code


async def test_adyen_drop_in_session_on_201_captures_the_exact_price(stack: Stack, adyen_fake: AdyenFake) -> None:  # noqa: F811
    site = await stack.site("ADY")
    sim = await stack.charger(site, version="2.0.1")
    try:
        payment = await stack.start(site, return_url="http://127.0.0.1/return")
        assert payment.provider == "adyen" and payment.status == "created"
        assert payment.session_ref and payment.session_data
        # The shopper pays in the Drop-in; Adyen sends AUTHORISATION, signed, to /webhooks/adyen.
        await adyen_fake.complete_session(payment.session_ref)
        linked = await eventually(lambda: _linked_transaction(stack, payment.id), "started after AUTHORISATION")
        await sim.send_meter_values(seconds=1200)
        await stack.stop(linked)
        captured = await eventually(lambda: _in_status(stack, payment.id, "captured"), "captured")
        tx = await stack.transaction(linked.id)
        assert captured.captured_minor == tx.cost_minor and 0 < captured.captured_minor < captured.hold_minor
        assert captured.method_brand and captured.method_last4
        confirmed = await eventually(lambda: _capture_confirmed(stack, payment.id), "Adyen's CAPTURE notification")
        assert confirmed.captured_minor == captured.captured_minor
        receipt, revenue = await receipt_and_revenue(stack, confirmed, site)
        assert receipt["capturedMinor"] == confirmed.captured_minor and receipt["methodLast4"] == "1111"
        assert revenue["revenueMinor"] == confirmed.captured_minor and revenue["paidSessions"] == 1
    finally:
        await sim.close()


# -- probes ----------------------------------------------------------------------------


async def _linked_transaction(stack: Stack, payment_id: uuid.UUID) -> Transaction | None:
    payment = await stack.payment(payment_id)
    if payment.transaction_id is None:
        return None
    return await stack.transaction(payment.transaction_id)


async def _in_status(stack: Stack, payment_id: uuid.UUID, status: str) -> Payment | None:
    payment = await stack.payment(payment_id)
    if payment.status in {"failed"} and status != "failed":
        raise AssertionError(f"payment failed: {payment.failure_code} {payment.failure_message}")
    return payment if payment.status == status else None


async def _capture_confirmed(stack: Stack, payment_id: uuid.UUID) -> Payment | None:
    payment = await stack.payment(payment_id)
    return payment if payment.capture_confirmed_at is not None else None


async def _processed(stack: Stack, payment_id: uuid.UUID, at_least: int) -> bool:
    async with stack.maker() as db:
        done = await db.scalar(
            select(func.count()).where(WebhookEvent.payment_id == payment_id, WebhookEvent.processed_at.is_not(None))
        )
    return int(done or 0) >= at_least
