"""AdyenProvider with the real Adyen SDK against the fake Adyen on loopback.

The fake posts its notifications to a small webhook endpoint of this module, whose bodies
go through ``parse_webhook`` exactly as they arrived.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from devtools.fakes.adyen.server import AdyenFake
from payments.adyen import AdyenProvider
from payments.provider import HoldRequest, ProviderError, ProviderEvent, WebhookRejected, idempotency_key
from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_provider, adyen_settings

__all__ = ["adyen_fake", "adyen_provider", "adyen_settings"]  # fixtures, imported to be found

SHOPPER = "driver-7f3a"


@dataclass
class WebhookSink:
    """A webhook endpoint on loopback that keeps what it receives and answers [accepted]."""

    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture(scope="module")
async def webhook_sink(adyen_fake: AdyenFake) -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()

    async def receive(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        sink.received.append((await request.read(), headers))
        return web.Response(text="[accepted]")

    app = web.Application()
    app.router.add_post("/webhooks/adyen", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/adyen"
    adyen_fake.webhook_url = sink.url
    yield sink
    adyen_fake.webhook_url = None
    await runner.cleanup()


async def notified(
    fake: AdyenFake, sink: WebhookSink, provider: AdyenProvider, provider_ref: str
) -> list[ProviderEvent]:
    """The events of every notification the fake has posted about one payment."""
    await fake.flush()
    events = [event for body, headers in sink.received for event in provider.parse_webhook(body, headers)]
    return [event for event in events if event.provider_ref == provider_ref]


def hold_request(payment_id: uuid.UUID, amount: int = 5000, **extra: object) -> HoldRequest:
    return HoldRequest(
        payment_id=payment_id,
        amount_minor=amount,
        currency="EUR",
        description="Charging at SE*LAD*E1001",
        return_url="https://laddnat.example/c/SE*LAD*E1001/return",
        statement_descriptor="LADDNAT CHARGING",
        metadata={"evse": "SE*LAD*E1001"},
        **extra,  # type: ignore[arg-type]
    )


async def saved_card_hold(fake: AdyenFake, provider: AdyenProvider, amount: int = 5000) -> tuple[uuid.UUID, str]:
    payment_id = uuid.uuid4()
    method = fake.add_stored_method(SHOPPER, "mc", "4444")
    hold = await provider.create_hold(
        hold_request(payment_id, amount, customer_ref=SHOPPER, payment_method_ref=method),
        idempotency_key=idempotency_key(payment_id, "hold"),
    )
    assert hold.status == "authorised" and hold.provider_ref is not None
    return payment_id, hold.provider_ref


# -- holds -------------------------------------------------------------------------------


async def test_drop_in_hold_is_a_pending_manual_capture_session(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id = uuid.uuid4()
    key = idempotency_key(payment_id, "hold")

    hold = await adyen_provider.create_hold(hold_request(payment_id), idempotency_key=key)

    assert hold.status == "pending" and hold.provider_ref is None
    assert hold.session_id in adyen_fake.sessions and hold.session_data
    sent = adyen_fake.requests_to(r"/sessions$")[-1]
    assert sent.headers["Idempotency-Key"] == key
    assert sent.body["reference"] == str(payment_id)
    assert sent.body["amount"] == {"value": 5000, "currency": "EUR"}
    assert sent.body["additionalData"] == {"manualCapture": "true"}
    assert sent.body["shopperStatement"] == "LADDNAT CHARGING"
    assert sent.body["metadata"]["evse"] == "SE*LAD*E1001"


async def test_paid_session_is_authorised_by_notification_with_the_card(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, webhook_sink: WebhookSink
) -> None:
    payment_id = uuid.uuid4()
    hold = await adyen_provider.create_hold(
        hold_request(payment_id), idempotency_key=idempotency_key(payment_id, "hold")
    )
    assert hold.session_id is not None

    psp = await adyen_fake.complete_session(hold.session_id, card="visa", last4="1111")

    payment = adyen_fake.payments[psp]
    assert payment.status == "Authorised" and payment.manual_capture
    [event] = await notified(adyen_fake, webhook_sink, adyen_provider, psp)
    assert event.kind == "authorised"
    assert event.payment_id == payment_id
    assert event.event_id == f"AUTHORISATION:{psp}:true"
    assert (event.amount_minor, event.currency) == (5000, "EUR")
    assert event.method is not None and (event.method.brand, event.method.last4) == ("visa", "1111")
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None
    assert await adyen_provider.payment_method(psp) == event.method


async def test_refused_session_payment_is_an_authorisation_failure(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, webhook_sink: WebhookSink
) -> None:
    payment_id = uuid.uuid4()
    hold = await adyen_provider.create_hold(
        hold_request(payment_id), idempotency_key=idempotency_key(payment_id, "hold")
    )
    assert hold.session_id is not None

    psp = await adyen_fake.complete_session(hold.session_id, refused=True, reason="CVC Declined", code="24")

    [event] = await notified(adyen_fake, webhook_sink, adyen_provider, psp)
    assert event.kind == "authorisation_failed"
    assert (event.failure_code, event.failure_message) == ("24", "CVC Declined")
    assert event.payment_id == payment_id


async def test_saved_card_is_authorised_off_session_with_manual_capture(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider)

    payment = adyen_fake.payments[psp]
    assert payment.status == "Authorised" and payment.manual_capture
    assert payment.merchant_reference == str(payment_id)
    assert payment.request["shopperInteraction"] == "ContAuth"
    assert payment.request["recurringProcessingModel"] == "UnscheduledCardOnFile"
    assert payment.request["shopperReference"] == SHOPPER
    method = await adyen_provider.payment_method(psp)
    assert method is not None and (method.brand, method.last4) == ("mc", "4444")


async def test_refused_saved_card_fails_with_its_refusal_reason(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id = uuid.uuid4()

    hold = await adyen_provider.create_hold(
        hold_request(payment_id, customer_ref=SHOPPER, payment_method_ref="refused-method"),
        idempotency_key=idempotency_key(payment_id, "hold"),
    )

    assert hold.status == "failed"
    assert (hold.failure_code, hold.failure_message) == ("12", "Not enough balance")
    assert hold.method is None


async def test_same_hold_key_creates_one_session(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    payment_id = uuid.uuid4()
    key = idempotency_key(payment_id, "hold")

    first = await adyen_provider.create_hold(hold_request(payment_id), idempotency_key=key)
    again = await adyen_provider.create_hold(hold_request(payment_id), idempotency_key=key)

    assert first.session_id == again.session_id
    assert len([s for s in adyen_fake.sessions.values() if s.request["reference"] == str(payment_id)]) == 1


# -- capture, cancel, refund -------------------------------------------------------------


async def test_capture_below_the_hold_takes_that_amount_and_is_confirmed_by_notification(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, webhook_sink: WebhookSink
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider, 5000)
    key = idempotency_key(payment_id, "capture")

    outcome = await adyen_provider.capture(psp, 3200, "EUR", idempotency_key=key)

    assert outcome.status == "received" and outcome.provider_ref == psp and outcome.amount_minor == 3200
    assert outcome.action_ref is not None and outcome.action_ref != psp
    assert adyen_fake.payments[psp].captured_minor == 3200
    sent = adyen_fake.requests_to(rf"/payments/{psp}/captures$")[-1]
    assert sent.headers["Idempotency-Key"] == key and sent.body["reference"] == key
    captured = [e for e in await notified(adyen_fake, webhook_sink, adyen_provider, psp) if e.kind == "captured"]
    assert len(captured) == 1
    assert captured[0].action_ref == outcome.action_ref
    assert captured[0].payment_id == payment_id
    assert captured[0].amount_minor == 3200


async def test_capture_above_the_hold_is_refused_and_not_retryable(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider, 5000)

    with pytest.raises(ProviderError) as refused:
        await adyen_provider.capture(psp, 5001, "EUR", idempotency_key=idempotency_key(payment_id, "capture"))

    assert refused.value.http_status == 422 and not refused.value.retryable
    assert refused.value.code == "137"
    assert adyen_fake.payments[psp].captured_minor == 0


async def test_cancel_releases_the_hold(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, webhook_sink: WebhookSink
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider)

    outcome = await adyen_provider.cancel(psp, idempotency_key=idempotency_key(payment_id, "cancel"))

    assert outcome.status == "received" and outcome.provider_ref == psp
    assert adyen_fake.payments[psp].status == "Cancelled"
    kinds = [e.kind for e in await notified(adyen_fake, webhook_sink, adyen_provider, psp)]
    assert kinds == ["authorised", "cancelled"]


async def test_partial_then_full_refund_gives_back_no_more_than_captured(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, webhook_sink: WebhookSink
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider, 5000)
    await adyen_provider.capture(psp, 4000, "EUR", idempotency_key=idempotency_key(payment_id, "capture"))

    first = await adyen_provider.refund(psp, 1000, "EUR", idempotency_key=idempotency_key(payment_id, "refund", 0))
    rest = await adyen_provider.refund(psp, 3000, "EUR", idempotency_key=idempotency_key(payment_id, "refund", 1))
    with pytest.raises(ProviderError) as too_much:
        await adyen_provider.refund(psp, 1, "EUR", idempotency_key=idempotency_key(payment_id, "refund", 2))

    assert first.action_ref != rest.action_ref
    assert adyen_fake.payments[psp].refunded_minor == 4000
    assert too_much.value.http_status == 422 and not too_much.value.retryable
    refunds = [e for e in await notified(adyen_fake, webhook_sink, adyen_provider, psp) if e.kind == "refunded"]
    assert sorted((e.amount_minor or 0, e.action_ref) for e in refunds) == [
        (1000, first.action_ref),
        (3000, rest.action_ref),
    ]
    assert {e.payment_id for e in refunds} == {payment_id}


# -- retries and errors ------------------------------------------------------------------


async def test_capture_retried_after_a_lost_answer_captures_once(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider, 5000)
    key = idempotency_key(payment_id, "capture")
    adyen_fake.fail_next(rf"/payments/{psp}/captures$", status=500, after_processing=True)

    with pytest.raises(ProviderError) as lost:
        await adyen_provider.capture(psp, 2500, "EUR", idempotency_key=key)
    outcome = await adyen_provider.capture(psp, 2500, "EUR", idempotency_key=key)

    assert lost.value.retryable and lost.value.http_status == 500
    assert outcome.status == "received"
    assert [m.kind for m in adyen_fake.payments[psp].modifications] == ["capture"]
    assert adyen_fake.payments[psp].modifications[0].psp_reference == outcome.action_ref
    assert {r.headers["Idempotency-Key"] for r in adyen_fake.requests_to(rf"/payments/{psp}/captures$")} == {key}


async def test_dropped_connection_is_a_retryable_error(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider)
    key = idempotency_key(payment_id, "cancel")
    adyen_fake.fail_next(rf"/payments/{psp}/cancels$", drop=True)

    with pytest.raises(ProviderError) as dropped:
        await adyen_provider.cancel(psp, idempotency_key=key)
    outcome = await adyen_provider.cancel(psp, idempotency_key=key)

    assert dropped.value.retryable and dropped.value.code == "network_error"
    assert outcome.status == "received"
    assert [m.kind for m in adyen_fake.payments[psp].modifications] == ["cancel"]


async def test_wrong_api_key_is_an_authentication_error_not_retried(adyen_fake: AdyenFake) -> None:
    provider = AdyenProvider(adyen_fake.settings(api_key="AQE-not-the-key"))
    payment_id = uuid.uuid4()

    with pytest.raises(ProviderError) as denied:
        await provider.create_hold(hold_request(payment_id), idempotency_key=idempotency_key(payment_id, "hold"))

    assert denied.value.http_status == 401 and not denied.value.retryable


async def test_server_error_on_a_hold_is_retryable(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    payment_id = uuid.uuid4()
    adyen_fake.fail_next(r"/sessions$", status=503)

    with pytest.raises(ProviderError) as failed:
        await adyen_provider.create_hold(hold_request(payment_id), idempotency_key=idempotency_key(payment_id, "hold"))

    assert failed.value.retryable and failed.value.http_status == 503


# -- saved cards -------------------------------------------------------------------------


async def test_saving_a_card_starts_a_zero_value_session_and_lists_the_card(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    user = f"user-{uuid.uuid4()}"

    setup = await adyen_provider.setup_saved_method(user, "driver@example.com", None, idempotency_key=f"setup-{user}")
    assert setup.customer_ref == user and setup.session_id is not None and setup.session_data
    await adyen_fake.complete_session(setup.session_id, card="visa", last4="0004")
    saved = await adyen_provider.saved_methods(user)

    session = adyen_fake.sessions[setup.session_id].request
    assert session["amount"]["value"] == 0 and session["storePaymentMethod"] is True
    assert session["recurringProcessingModel"] == "UnscheduledCardOnFile"
    assert [(m.ref, m.brand, m.last4, m.expiry) for m in saved] == [
        (adyen_fake.sessions[setup.session_id].stored_method_id, "visa", "0004", "03/2030")
    ]


async def test_saved_card_setup_keeps_the_existing_shopper_reference(adyen_provider: AdyenProvider) -> None:
    setup = await adyen_provider.setup_saved_method("user-1", None, "shopper-existing", idempotency_key="setup-x")

    assert setup.customer_ref == "shopper-existing"
    assert await adyen_provider.saved_methods("shopper-with-no-cards") == []


async def test_a_removed_saved_card_is_deleted_and_a_second_removal_is_harmless(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    method_id = adyen_fake.add_stored_method("shopper-removes", brand="mc", last4="4444")
    assert [m.ref for m in await adyen_provider.saved_methods("shopper-removes")] == [method_id]
    await adyen_provider.remove_saved_method("shopper-removes", method_id)
    assert await adyen_provider.saved_methods("shopper-removes") == []
    await adyen_provider.remove_saved_method("shopper-removes", method_id)


# -- notifications -----------------------------------------------------------------------


def body_of(payload: dict) -> bytes:
    return json.dumps(payload).encode()


async def test_valid_batch_gives_one_event_per_item(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    payment_id = uuid.uuid4()
    capture_ref = idempotency_key(payment_id, "capture")
    items = [
        adyen_fake.notification_item("CAPTURE", "MOD0000000000001", capture_ref, 3200, "EUR", True, "PSP0000000000001"),
        adyen_fake.notification_item(
            "REFUND_FAILED",
            "MOD0000000000002",
            str(payment_id),
            500,
            "EUR",
            True,
            "PSP0000000000001",
            reason="Insufficient balance",
        ),
        adyen_fake.notification_item("REPORT_AVAILABLE", "MOD0000000000003", "report", 0, "EUR"),
    ]

    events = adyen_provider.parse_webhook(body_of(adyen_fake.notification_body(items)), {})

    assert [e.kind for e in events] == ["captured", "refund_failed", "ignored"]
    assert [e.event_id for e in events] == [
        "CAPTURE:MOD0000000000001:true",
        "REFUND_FAILED:MOD0000000000002:true",
        "REPORT_AVAILABLE:MOD0000000000003:true",
    ]
    assert [e.payment_id for e in events[:2]] == [payment_id, payment_id]
    assert [e.provider_ref for e in events[:2]] == ["PSP0000000000001", "PSP0000000000001"]
    assert events[1].failure_message == "Insufficient balance"


@pytest.mark.parametrize(
    ("event_code", "success", "kind"),
    [
        ("AUTHORISATION", True, "authorised"),
        ("AUTHORISATION", False, "authorisation_failed"),
        ("CAPTURE", True, "captured"),
        ("CAPTURE", False, "capture_failed"),
        ("CAPTURE_FAILED", True, "capture_failed"),
        ("CANCELLATION", True, "cancelled"),
        ("CANCEL_OR_REFUND", True, "cancelled"),
        ("REFUND", True, "refunded"),
        ("REFUND", False, "refund_failed"),
        ("REFUND_FAILED", True, "refund_failed"),
        ("CHARGEBACK", True, "ignored"),
    ],
)
async def test_event_codes_map_to_kinds(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider, event_code: str, success: bool, kind: str
) -> None:
    original = None if event_code == "AUTHORISATION" else "PSP0000000000009"
    body = adyen_fake.notification(event_code, "PSP0000000000010", "ref", 100, "EUR", success, original)

    [event] = adyen_provider.parse_webhook(body_of(body), {})

    assert event.kind == kind
    assert event.raw_type == f"{event_code}:{'true' if success else 'false'}"


async def test_resent_notification_has_the_same_event_id(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    first = adyen_fake.notification("AUTHORISATION", "PSP0000000000011", str(uuid.uuid4()), 100, "EUR")
    later = json.loads(json.dumps(first))

    [a] = adyen_provider.parse_webhook(body_of(first), {})
    [b] = adyen_provider.parse_webhook(body_of(later), {})

    assert a.event_id == b.event_id


async def test_one_forged_item_rejects_the_whole_batch(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    good = adyen_fake.notification_item("AUTHORISATION", "PSP0000000000012", str(uuid.uuid4()), 100, "EUR")
    forged = adyen_fake.notification_item(
        "REFUND", "PSP0000000000013", str(uuid.uuid4()), 100, "EUR", True, "PSP0000000000012", hmac_key="AB" * 32
    )

    with pytest.raises(WebhookRejected):
        adyen_provider.parse_webhook(body_of(adyen_fake.notification_body([good, forged])), {})


async def test_amount_changed_after_signing_is_rejected(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    body = adyen_fake.notification("CAPTURE", "PSP0000000000014", "ref", 100, "EUR", True, "PSP0000000000015")
    body["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = 100000

    with pytest.raises(WebhookRejected):
        adyen_provider.parse_webhook(body_of(body), {})


async def test_item_without_hmac_signature_is_rejected(adyen_fake: AdyenFake, adyen_provider: AdyenProvider) -> None:
    unsigned = adyen_fake.notification("AUTHORISATION", "PSP0000000000016", "ref", 100, "EUR", sign=False)
    no_additional = json.loads(json.dumps(unsigned))
    del no_additional["notificationItems"][0]["NotificationRequestItem"]["additionalData"]
    empty = json.loads(json.dumps(unsigned))
    empty["notificationItems"][0]["NotificationRequestItem"]["additionalData"]["hmacSignature"] = ""

    for body in (unsigned, no_additional, empty):
        with pytest.raises(WebhookRejected):
            adyen_provider.parse_webhook(body_of(body), {})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b"{}",
        b'{"live": "false", "notificationItems": []}',
        b'{"live": "false", "notificationItems": [{"x": 1}]}',
        b'{"live": "false", "notificationItems": [{"NotificationRequestItem": {"eventCode": "CAPTURE"}}]}',
        b"\xff\xfe",
    ],
)
async def test_garbage_is_rejected(adyen_provider: AdyenProvider, body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        adyen_provider.parse_webhook(body, {})


# -- settlement --------------------------------------------------------------------------


async def test_settlements_report_captures_refunds_and_fees_in_the_window(
    adyen_fake: AdyenFake, adyen_provider: AdyenProvider
) -> None:
    payment_id, psp = await saved_card_hold(adyen_fake, adyen_provider, 5000)
    capture = await adyen_provider.capture(psp, 4321, "EUR", idempotency_key=idempotency_key(payment_id, "capture"))
    refund = await adyen_provider.refund(psp, 321, "EUR", idempotency_key=idempotency_key(payment_id, "refund"))
    # Rows Adyen settled that we may not know: a 0-decimal currency, and one outside the window.
    jpy_payment = uuid.uuid4()
    noon = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
    adyen_fake.add_settlement_row("Settled", "JPY0000000000001", str(jpy_payment), 1500, "JPY", at=noon)
    adyen_fake.add_settlement_row(
        "Settled", "OLD0000000000001", str(uuid.uuid4()), 999, "EUR", at=noon - timedelta(days=400)
    )
    adyen_fake.add_report_row(Type="Fee", **{"Creation Date": "2031-03-14 13:00:00", "TimeZone": "CET"})
    adyen_fake.close_batch()  # what follows is in batch 2
    adyen_fake.add_settlement_row("Refunded", "JPY0000000000001", str(jpy_payment), 500, "JPY", at=noon)

    now = adyen_fake.clock()
    recent = await adyen_provider.settlements(now - timedelta(days=1), now + timedelta(days=1))
    spring = await adyen_provider.settlements(noon - timedelta(hours=1), noon + timedelta(hours=1))

    ours = [line for line in recent if line.provider_ref == psp]
    assert [(ln.kind, ln.amount_minor, ln.currency, ln.fee_minor, ln.line_ref) for ln in ours] == [
        ("capture", 4321, "EUR", 15, capture.action_ref),
        ("refund", -321, "EUR", 0, refund.action_ref),
    ]
    assert {ln.payment_id for ln in ours} == {payment_id}
    assert [(ln.provider_ref, ln.kind, ln.amount_minor, ln.payment_id) for ln in spring] == [
        ("JPY0000000000001", "capture", 1500, jpy_payment),
        ("JPY0000000000001", "refund", -500, jpy_payment),
    ]
    assert all(ln.occurred_at == noon for ln in spring)
