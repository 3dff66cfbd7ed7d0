"""Paid sessions end to end: simulator chargers over real sockets, the real API server, the
real Stripe SDK against localstripe (behind the quirks proxy) and the real Adyen SDK against
our fake Checkout API; notifications arrive over HTTP, signed the real way.

Hold -> remote start -> charge -> stop -> the exact price captured; a zero-energy session
releases the hold; a session that reaches its hold is stopped; a charger that never starts
releases the hold; capture notifications twice and out of order count once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select

from app.billing.errors import StartFailed
from app.billing.service import BillingService
from app.billing.worker import PaymentWorker
from app.core.settings import StripeSettings
from app.tariffs.pricing import TariffTerms, format_minor
from devtools.fakes.adyen.server import AdyenFake
from devtools.fakes.stripe.proxy import StripeQuirksProxy
from devtools.fakes.stripe.webhooks import sign_webhook, stripe_event
from payments.events import PaymentSettled
from payments.models import Payment, Refund, WebhookEvent
from payments.notifications import NotificationService
from payments.provider import ProviderEvent
from payments.service import PaymentService, SavedCard
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.payments.paid_stack import (
    TERMS,
    Stack,
    capture_confirmed,
    eventually,
    operator_headers,
    processed,
    reached_status,
    receipt_and_revenue,
    saved_visa,
    started,
    stripe_client,
)
from tests.support import RawCharger


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

        linked = await started(stack, payment.id, sim, "the charger starts a transaction with the payment")
        for _ in range(3):
            await sim.send_meter_values(seconds=600)  # 10 minutes at 11 kW each
        running = await stack.transaction(linked.id)
        assert running.status == "active", running.stop_reason
        await stack.stop(linked)

        captured = await reached_status(stack, payment.id, "captured", "the payment is captured")
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


async def test_refunds_through_the_api_never_exceed_the_capture(stack: Stack, stripe_settings: StripeSettings) -> None:
    captured = await captured_session(stack, stripe_settings, seconds=1200)
    headers = await operator_headers(stack, captured.operator_id)
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


async def test_a_refund_notification_that_overtakes_the_psps_answer_counts_once(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    captured = await captured_session(stack, stripe_settings, seconds=900)
    # Our refund is recorded and counted, and the PSP's answer with its id is still on its way
    # (what PaymentService.refund has committed before it calls the PSP).
    async with stack.maker() as db:
        row = await db.get(Payment, captured.id)
        assert row is not None
        row.refunded_minor, row.status = 100, "partially_refunded"
        db.add(Refund(payment_id=captured.id, seq=1, amount_minor=100, reason="slow charging"))
        await db.commit()
    notification = ProviderEvent(
        provider="stripe",
        event_id="evt_refund_overtakes_answer",
        kind="refunded",
        raw_type="refund.created",
        payment_id=captured.id,
        provider_ref=captured.provider_ref,
        action_ref="re_overtakes_answer",
        amount_minor=100,
        currency=captured.currency,
    )
    async with stack.maker() as db:
        notifications = NotificationService(db, stack.bus)
        (row_id,) = await notifications.record([notification])
        assert await notifications.process(row_id) == "refund confirmed"
    async with stack.maker() as db:
        refunds = (await db.scalars(select(Refund).where(Refund.payment_id == captured.id))).all()
        assert [(r.amount_minor, r.status, r.provider_ref) for r in refunds] == [
            (100, "succeeded", "re_overtakes_answer")
        ]
        row = await db.get(Payment, captured.id, populate_existing=True)
        assert row is not None and row.refunded_minor == 100


async def test_capture_notifications_twice_and_out_of_order_count_once(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    captured = await captured_session(stack, stripe_settings, seconds=900)
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
    await eventually(lambda: processed(stack, captured.id, 2), "both notifications are applied")
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
        assert r.json()["code"] == "payment.webhook_invalid"
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
        linked = await started(stack, payment.id, sim, "started after the notification")
        await sim.send_meter_values(seconds=60)
        await stack.stop(linked)
        cancelled = await reached_status(stack, payment.id, "cancelled", "the hold is released")
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
        linked = await started(stack, payment.id, sim, "started")
        for _ in range(80):  # a minute at 11 kW each: 0.55 SEK a step
            await sim.send_meter_values(seconds=60)
            # What the worker does on each meter event, awaited here so the test does not
            # outrun it: the simulator reports minutes of charging in milliseconds.
            await stack.worker.check_hold_limit(payment.id)
            if (await stack.payment(payment.id)).limit_stop_at is not None:
                break
        stopped = await reached_status(stack, payment.id, "captured", "stopped at the limit")
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
            await BillingService(db, stack.bus, stack.providers).open_hold(site.evse_id, saved_card=declined)
    assert getattr(raised.value, "code", None) == "payment.declined"
    async with stack.maker() as db:
        payment = await db.scalar(select(Payment).where(Payment.evse_id == site.evse_id))
        assert payment is not None and payment.status == "failed" and payment.failure_code


async def test_adyen_drop_in_session_on_201_captures_the_exact_price(stack: Stack, adyen_fake: AdyenFake) -> None:
    site = await stack.site("ADY")
    sim = await stack.charger(site, version="2.0.1")
    try:
        payment = await stack.start(site, return_url="http://127.0.0.1/return")
        assert payment.provider == "adyen" and payment.status == "created"
        assert payment.session_ref and payment.session_data
        # The shopper pays in the Drop-in; Adyen sends AUTHORISATION, signed, to /webhooks/adyen.
        await adyen_fake.complete_session(payment.session_ref)
        linked = await started(stack, payment.id, sim, "started after AUTHORISATION")
        await sim.send_meter_values(seconds=1200)
        await stack.stop(linked)
        # Seen once to take more than 30 s under CI load (see test_checkout's fault case).
        captured = await reached_status(stack, payment.id, "captured", "captured", timeout_s=90.0)
        tx = await stack.transaction(linked.id)
        assert captured.captured_minor == tx.cost_minor and 0 < captured.captured_minor < captured.hold_minor
        assert captured.method_brand and captured.method_last4
        confirmed = await eventually(lambda: capture_confirmed(stack, payment.id), "Adyen's CAPTURE notification")
        assert confirmed.captured_minor == captured.captured_minor
        receipt, revenue = await receipt_and_revenue(stack, confirmed, site)
        assert receipt["capturedMinor"] == confirmed.captured_minor and receipt["methodLast4"] == "1111"
        assert revenue["revenueMinor"] == confirmed.captured_minor and revenue["paidSessions"] == 1
    finally:
        await sim.close()


async def test_a_hold_whose_session_never_starts_is_released_by_the_sweeper(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    """The charger accepts the remote start but no car is plugged in within its connection
    timeout: no transaction ever comes, and the hold must not stay on the card."""
    site = await stack.site("STR")
    charger = await RawCharger.open(stack.ocpp_url, site.identity, PASSWORD)
    try:
        await charger.ok("BootNotification", {"chargePointVendor": "Raw", "chargePointModel": "R1"})
        await charger.ok("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        starting = asyncio.create_task(stack.start(site, saved_card=await saved_visa(stack, stripe_settings)))
        call = json.loads(await asyncio.wait_for(charger.ws.recv(), 20))
        assert call[0] == 2 and call[2] == "RemoteStartTransaction"
        await charger.ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))  # ...and then nothing
        payment = await starting
        assert payment.status == "authorised" and payment.transaction_id is None
        now = datetime.now(UTC)
        await PaymentWorker(stack.maker, stack.bus, stack.providers, stack.settings, clock=lambda: now).sweep()
        assert (await stack.payment(payment.id)).status == "authorised"  # still within the start timeout
        later = now + timedelta(seconds=stack.settings.payments.start_timeout_s + 1)
        await PaymentWorker(stack.maker, stack.bus, stack.providers, stack.settings, clock=lambda: later).sweep()
        released = await stack.payment(payment.id)
        assert released.status == "cancelled" and released.captured_minor == 0
        intent = await asyncio.to_thread(
            stripe_client(stripe_settings).v1.payment_intents.retrieve, payment.provider_ref
        )
        assert intent.status == "canceled"
    finally:
        await charger.close()


async def test_the_receipt_is_emailed_once_to_the_payer(stack: Stack, stripe_settings: StripeSettings) -> None:
    email = f"payer-{uuid.uuid4().hex[:6]}@example.test"
    captured = await captured_session(stack, stripe_settings, seconds=900, payer_email=email)
    (mail,) = await eventually(lambda: _inbox(stack, email), "the receipt reaches the SMTP server")
    amount = format_minor(captured.captured_minor, "SEK")
    assert mail["Subject"] == f"Your charging receipt: {amount}"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert amount in text.get_content() and "4242" in text.get_content()
    assert amount in html.get_content()
    # The settled event again (a second API process, a replay): no second e-mail.
    stack.bus.publish(
        PaymentSettled(
            payment_id=captured.id,
            status="captured",
            captured_minor=captured.captured_minor,
            currency="SEK",
            transaction_id=captured.transaction_id,
        )
    )
    await stack.mail_worker.send_due()
    assert len(stack.inbox.to(email)) == 1


async def _inbox(stack: Stack, address: str) -> list[Any] | None:
    return stack.inbox.to(address) or None


async def test_a_refund_the_psp_did_not_answer_is_sent_again_once(
    stack: Stack, stripe_settings: StripeSettings, stripe_proxy: StripeQuirksProxy
) -> None:
    captured = await captured_session(stack, stripe_settings, seconds=900)
    headers = await operator_headers(stack, captured.operator_id)
    refunds_before = stripe_proxy.upstream_count("POST", "/v1/refunds")
    stripe_proxy.fail_next(r"/v1/refunds", 1, mode="500")
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
        first = await http.post(f"/api/v1/operator/payments/{captured.id}/refunds", json={"amountMinor": 100})
    assert first.status_code == 503 and first.json()["code"] == "payment.provider_unavailable"
    later = datetime.now(UTC) + timedelta(minutes=5)
    await PaymentWorker(stack.maker, stack.bus, stack.providers, stack.settings, clock=lambda: later).sweep()
    async with stack.maker() as db:
        refunds = await PaymentService(db, stack.bus, stack.providers).refunds(captured.id)
    assert [(r.amount_minor, r.status) for r in refunds] == [(100, "succeeded")]
    # The first attempt never reached Stripe (the injected 500); the resend did, once.
    assert stripe_proxy.upstream_count("POST", "/v1/refunds") == refunds_before + 1


async def captured_session(
    stack: Stack, stripe_settings: StripeSettings, *, seconds: int, payer_email: str | None = None
) -> Payment:
    """A saved-card session charged for ``seconds`` of meter time, stopped and captured."""
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        payment = await stack.start(site, saved_card=await saved_visa(stack, stripe_settings), payer_email=payer_email)
        linked = await started(stack, payment.id, sim, "started")
        await sim.send_meter_values(seconds=seconds)
        await stack.stop(linked)
        return await reached_status(stack, payment.id, "captured", "captured")
    finally:
        await sim.close()
