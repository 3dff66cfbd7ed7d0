"""StripeProvider through the real Stripe SDK against localstripe behind the quirks proxy."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from aiohttp import web

from app.core.settings import StripeSettings
from devtools.fakes.net import free_port
from devtools.fakes.stripe.proxy import StripeQuirksProxy
from devtools.fakes.stripe.webhooks import sign_webhook, stripe_event
from payments.provider import HoldRequest, ProviderError, WebhookRejected, idempotency_key
from payments.stripe import StripeProvider

from .conftest import STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET

# stripe-python's HTTPXClient posts ``data=<bytes>``, which httpx deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@pytest.fixture(scope="module")
async def provider(stripe_settings: StripeSettings) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(stripe_settings)
    yield p
    await p.aclose()


@pytest.fixture(scope="module")
async def browser(stripe_api_base: str) -> AsyncIterator[stripe.StripeClient]:
    """What Stripe.js does in the shopper's browser: the publishable key and a client_secret."""
    http = stripe.HTTPXClient(timeout=10)
    yield stripe.StripeClient(
        STRIPE_PUBLISHABLE_KEY, base_addresses={"api": stripe_api_base}, max_network_retries=0, http_client=http
    )
    await http.close_async()


@pytest.fixture(scope="module")
async def stripe_admin(stripe_settings: StripeSettings) -> AsyncIterator[stripe.StripeClient]:
    """A secret-key client for looking at what Stripe holds, as the dashboard would."""
    http = stripe.HTTPXClient(timeout=10)
    assert stripe_settings.api_base is not None
    yield stripe.StripeClient(
        stripe_settings.secret_key,
        base_addresses={"api": stripe_settings.api_base},
        max_network_retries=0,
        http_client=http,
    )
    await http.close_async()


def hold_request(amount: int = 5000, **kw: Any) -> HoldRequest:
    return HoldRequest(
        payment_id=uuid.uuid4(), amount_minor=amount, currency="SEK", description="Charging at SE*LAD*E1", **kw
    )


async def saved_card(
    provider: StripeProvider, browser: stripe.StripeClient, card: str = "pm_card_visa"
) -> tuple[str, str]:
    """An app user who saved a card: (customer_ref, payment_method_ref)."""
    user = str(uuid.uuid4())
    setup = await provider.setup_saved_method(user, "driver@example.se", None, idempotency_key=f"setup-{user}")
    assert setup.client_secret is not None
    setup_intent_id = setup.client_secret.split("_secret_")[0]
    confirmed = await browser.v1.setup_intents.confirm_async(
        setup_intent_id, {"client_secret": setup.client_secret, "payment_method": card}
    )
    assert confirmed.status == "succeeded"
    methods = await provider.saved_methods(setup.customer_ref)
    return setup.customer_ref, methods[0].ref


async def authorised_hold(
    provider: StripeProvider, browser: stripe.StripeClient, amount: int = 5000
) -> tuple[HoldRequest, str]:
    customer, method = await saved_card(provider, browser)
    req = hold_request(amount, customer_ref=customer, payment_method_ref=method)
    hold = await provider.create_hold(req, idempotency_key=idempotency_key(req.payment_id, "hold"))
    assert hold.status == "authorised" and hold.provider_ref is not None
    return req, hold.provider_ref


# -- holds -------------------------------------------------------------------------------------


async def test_saved_card_is_listed_with_brand_last4_and_expiry(
    provider: StripeProvider, browser: stripe.StripeClient
) -> None:
    customer, method = await saved_card(provider, browser)

    [saved] = await provider.saved_methods(customer)

    assert (saved.ref, saved.brand, saved.last4, saved.expiry) == (method, "visa", "4242", "12/2030")


async def test_saved_card_hold_is_authorised_off_session_with_metadata(
    provider: StripeProvider, browser: stripe.StripeClient, stripe_admin: stripe.StripeClient
) -> None:
    customer, method = await saved_card(provider, browser)
    req = hold_request(4200, customer_ref=customer, payment_method_ref=method, metadata={"evse": "SE*LAD*E1"})

    hold = await provider.create_hold(req, idempotency_key=idempotency_key(req.payment_id, "hold"))

    assert hold.status == "authorised"
    assert (hold.amount_minor, hold.currency, hold.client_secret) == (4200, "SEK", None)
    assert hold.method is not None and (hold.method.brand, hold.method.last4) == ("visa", "4242")
    assert hold.provider_ref is not None
    intent = await stripe_admin.v1.payment_intents.retrieve_async(hold.provider_ref)
    assert intent.capture_method == "manual"
    assert intent.currency == "sek"
    assert intent.description == "Charging at SE*LAD*E1"
    assert intent.metadata.to_dict() == {"payment_id": str(req.payment_id), "evse": "SE*LAD*E1"}


async def test_web_hold_is_pending_with_client_secret_until_the_browser_confirms(
    provider: StripeProvider, browser: stripe.StripeClient
) -> None:
    req = hold_request(3000)

    hold = await provider.create_hold(req, idempotency_key=idempotency_key(req.payment_id, "hold"))

    assert hold.status == "pending" and hold.client_secret and hold.provider_ref
    assert await provider.payment_method(hold.provider_ref) is None
    confirmed = await browser.v1.payment_intents.confirm_async(
        hold.provider_ref,
        {"client_secret": hold.client_secret, "payment_method": "pm_card_visa", "return_url": "https://x.test/r"},
    )
    assert confirmed.status == "requires_capture"
    method = await provider.payment_method(hold.provider_ref)
    assert method is not None and (method.brand, method.last4, method.wallet) == ("visa", "4242", None)


@pytest.mark.parametrize(
    ("card", "code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
async def test_declined_saved_card_fails_the_hold_with_the_decline_code(
    provider: StripeProvider, browser: stripe.StripeClient, card: str, code: str
) -> None:
    customer, _ = await saved_card(provider, browser)
    req = hold_request(customer_ref=customer, payment_method_ref=card)

    hold = await provider.create_hold(req, idempotency_key=idempotency_key(req.payment_id, "hold"))

    assert hold.status == "failed"
    assert hold.failure_code == code
    assert hold.failure_message
    assert hold.provider_ref is not None and hold.provider_ref.startswith("pi_")


# -- capture, cancel, refund ---------------------------------------------------------------------


async def test_capture_below_the_hold_takes_exactly_the_amount_asked(
    provider: StripeProvider, browser: stripe.StripeClient, stripe_admin: stripe.StripeClient
) -> None:
    req, ref = await authorised_hold(provider, browser, 5000)

    outcome = await provider.capture(ref, 1234, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))

    assert (outcome.status, outcome.provider_ref, outcome.amount_minor) == ("done", ref, 1234)
    intent = await stripe_admin.v1.payment_intents.retrieve_async(ref)
    assert (intent.status, intent.amount_received, intent.amount_capturable) == ("succeeded", 1234, 0)


async def test_cancel_releases_the_hold(
    provider: StripeProvider, browser: stripe.StripeClient, stripe_admin: stripe.StripeClient
) -> None:
    req, ref = await authorised_hold(provider, browser)

    outcome = await provider.cancel(ref, idempotency_key=idempotency_key(req.payment_id, "cancel"))

    assert (outcome.status, outcome.provider_ref) == ("done", ref)
    assert (await stripe_admin.v1.payment_intents.retrieve_async(ref)).status == "canceled"


async def test_capture_of_zero_cancels_the_hold(
    provider: StripeProvider, browser: stripe.StripeClient, stripe_admin: stripe.StripeClient
) -> None:
    req, ref = await authorised_hold(provider, browser)

    outcome = await provider.capture(ref, 0, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))

    assert (outcome.status, outcome.amount_minor) == ("done", 0)
    assert (await stripe_admin.v1.payment_intents.retrieve_async(ref)).status == "canceled"


async def test_partial_then_full_refund_and_no_more(provider: StripeProvider, browser: stripe.StripeClient) -> None:
    req, ref = await authorised_hold(provider, browser, 5000)
    await provider.capture(ref, 3000, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))

    first = await provider.refund(ref, 1000, "SEK", idempotency_key=idempotency_key(req.payment_id, "refund", 0))
    rest = await provider.refund(ref, 2000, "SEK", idempotency_key=idempotency_key(req.payment_id, "refund", 1))

    assert (first.status, first.amount_minor, rest.status, rest.amount_minor) == ("done", 1000, "done", 2000)
    assert first.action_ref and rest.action_ref and first.action_ref != rest.action_ref
    with pytest.raises(ProviderError) as refused:
        await provider.refund(ref, 1, "SEK", idempotency_key=idempotency_key(req.payment_id, "refund", 2))
    assert (refused.value.code, refused.value.retryable, refused.value.http_status) == ("amount_too_large", False, 400)


async def test_capture_of_an_unknown_payment_is_a_permanent_error(provider: StripeProvider) -> None:
    with pytest.raises(ProviderError) as error:
        await provider.capture("pi_doesnotexist", 100, "SEK", idempotency_key=f"k-{uuid.uuid4()}")

    assert (error.value.retryable, error.value.http_status) == (False, 404)


async def test_unreachable_stripe_is_a_retryable_error(stripe_settings: StripeSettings) -> None:
    closed = StripeSettings(
        secret_key=stripe_settings.secret_key,
        webhook_secret=stripe_settings.webhook_secret,
        api_base=f"http://127.0.0.1:{free_port()}",
    )
    offline = StripeProvider(closed, timeout_s=2)
    try:
        with pytest.raises(ProviderError) as error:
            await offline.cancel("pi_x", idempotency_key=f"k-{uuid.uuid4()}")
    finally:
        await offline.aclose()

    assert (error.value.code, error.value.retryable) == ("connection_error", True)


# -- idempotency ---------------------------------------------------------------------------------


async def test_same_idempotency_key_twice_creates_one_payment_intent(
    provider: StripeProvider, browser: stripe.StripeClient, stripe_proxy: StripeQuirksProxy
) -> None:
    customer, method = await saved_card(provider, browser)
    req = hold_request(customer_ref=customer, payment_method_ref=method)
    key = idempotency_key(req.payment_id, "hold")
    before = stripe_proxy.upstream_count("POST", "/v1/payment_intents")

    first = await provider.create_hold(req, idempotency_key=key)
    again = await provider.create_hold(req, idempotency_key=key)

    assert first == again
    assert stripe_proxy.upstream_count("POST", "/v1/payment_intents") == before + 1


async def test_same_idempotency_key_with_other_parameters_is_refused(provider: StripeProvider) -> None:
    req = hold_request(1000)
    key = idempotency_key(req.payment_id, "hold")
    await provider.create_hold(req, idempotency_key=key)

    with pytest.raises(ProviderError) as error:
        await provider.create_hold(hold_request(2000), idempotency_key=key)

    assert (error.value.code, error.value.retryable, error.value.http_status) == ("idempotency_error", False, 400)


@pytest.mark.parametrize(
    ("mode", "after_upstream"),
    [("500", False), ("500", True), ("drop", True)],
    ids=["500-before-stripe-acted", "500-after-stripe-acted", "connection-dropped-after-stripe-acted"],
)
async def test_capture_retried_after_a_failure_with_the_same_key_captures_once(
    provider: StripeProvider,
    browser: stripe.StripeClient,
    stripe_proxy: StripeQuirksProxy,
    stripe_admin: stripe.StripeClient,
    mode: Any,
    after_upstream: bool,
) -> None:
    req, ref = await authorised_hold(provider, browser, 5000)
    key = idempotency_key(req.payment_id, "capture")
    path = f"/v1/payment_intents/{ref}/capture"
    stripe_proxy.fail_next(path, mode=mode, after_upstream=after_upstream)

    with pytest.raises(ProviderError) as failed:
        await provider.capture(ref, 2500, "SEK", idempotency_key=key)
    outcome = await provider.capture(ref, 2500, "SEK", idempotency_key=key)

    assert failed.value.retryable
    assert (outcome.status, outcome.amount_minor) == ("done", 2500)
    assert stripe_proxy.upstream_count("POST", path) == 1
    assert (await stripe_admin.v1.payment_intents.retrieve_async(ref)).amount_received == 2500
    lines = await provider.settlements(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
    assert [line.amount_minor for line in lines if line.provider_ref == ref] == [2500]


# -- webhooks ------------------------------------------------------------------------------------


def signed(payload: bytes, *, secret: str = STRIPE_WEBHOOK_SECRET, age_s: int = 0) -> dict[str, str]:
    return {
        "stripe-signature": sign_webhook(payload, secret, int(time.time()) - age_s),
        "content-type": "application/json",
    }


def payment_intent(payment_id: uuid.UUID | str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 5000,
        "amount_capturable": 0,
        "amount_received": 0,
        "currency": "sek",
        "status": "requires_payment_method",
        "latest_charge": "ch_123",
        "metadata": {} if payment_id is None else {"payment_id": str(payment_id)},
        **fields,
    }


def refund(payment_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "id": "re_123",
        "object": "refund",
        "amount": 700,
        "currency": "sek",
        "payment_intent": "pi_123",
        "status": "succeeded",
        "metadata": {"payment_id": str(payment_id)},
        **fields,
    }


async def test_webhook_for_a_capture_becomes_a_captured_event(provider: StripeProvider) -> None:
    payment_id = uuid.uuid4()
    body = stripe_event(
        "payment_intent.succeeded",
        payment_intent(payment_id, status="succeeded", amount_received=3100),
        event_id="evt_capture_1",
        created=1_800_000_000,
    )

    [event] = provider.parse_webhook(body, signed(body))

    assert (event.provider, event.event_id, event.kind, event.raw_type) == (
        "stripe",
        "evt_capture_1",
        "captured",
        "payment_intent.succeeded",
    )
    assert (event.payment_id, event.provider_ref, event.action_ref) == (payment_id, "pi_123", "ch_123")
    assert (event.amount_minor, event.currency) == (3100, "SEK")
    assert event.occurred_at == datetime.fromtimestamp(1_800_000_000, UTC)


PAYMENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


@pytest.mark.parametrize(
    ("type_", "obj", "previous", "kind", "amount", "failure_code"),
    [
        (
            "payment_intent.amount_capturable_updated",
            payment_intent(PAYMENT_ID, status="requires_capture", amount_capturable=5000),
            None,
            "authorised",
            5000,
            None,
        ),
        (
            "payment_intent.payment_failed",
            payment_intent(
                PAYMENT_ID,
                last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds", "message": "No"},
            ),
            None,
            "authorisation_failed",
            5000,
            "insufficient_funds",
        ),
        ("payment_intent.canceled", payment_intent(PAYMENT_ID, status="canceled"), None, "cancelled", None, None),
        ("refund.created", refund(PAYMENT_ID), None, "refunded", 700, None),
        ("refund.updated", refund(PAYMENT_ID), {"status": "pending"}, "refunded", 700, None),
        ("refund.updated", refund(PAYMENT_ID), {"metadata": {}}, "ignored", None, None),
        ("refund.created", refund(PAYMENT_ID, status="pending"), None, "ignored", None, None),
        ("charge.refund.updated", refund(PAYMENT_ID), {"status": "pending"}, "ignored", None, None),
        (
            "refund.failed",
            refund(PAYMENT_ID, status="failed", failure_reason="expired_or_canceled_card"),
            None,
            "refund_failed",
            700,
            "expired_or_canceled_card",
        ),
        (
            "charge.captured",
            {"id": "ch_1", "object": "charge", "payment_intent": "pi_123"},
            None,
            "ignored",
            None,
            None,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_webhook_event_types_map_to_one_kind_each(
    provider: StripeProvider,
    type_: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    kind: str,
    amount: int | None,
    failure_code: str | None,
) -> None:
    body = stripe_event(type_, obj, previous_attributes=previous)

    [event] = provider.parse_webhook(body, signed(body))

    assert (event.kind, event.amount_minor, event.failure_code) == (kind, amount, failure_code)
    assert (event.payment_id, event.provider_ref) == (PAYMENT_ID if obj.get("metadata") else None, "pi_123")
    if obj["object"] == "refund":
        assert event.action_ref == "re_123"


@pytest.mark.parametrize("metadata", [{}, {"payment_id": "not-a-uuid"}])
def test_webhook_without_a_usable_payment_id_has_none(provider: StripeProvider, metadata: dict[str, str]) -> None:
    body = stripe_event("payment_intent.canceled", payment_intent(status="canceled", metadata=metadata))

    [event] = provider.parse_webhook(body, signed(body))

    assert event.payment_id is None and event.kind == "cancelled"


def test_webhook_with_a_forged_signature_is_rejected(provider: StripeProvider) -> None:
    body = stripe_event("payment_intent.succeeded", payment_intent(uuid.uuid4(), status="succeeded"))

    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body, signed(body, secret="whsec_someone_else"))


def test_webhook_with_a_tampered_body_is_rejected(provider: StripeProvider) -> None:
    body = stripe_event("payment_intent.succeeded", payment_intent(uuid.uuid4(), status="succeeded"))
    headers = signed(body)

    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body.replace(b"5000", b"9000"), headers)


def test_webhook_signed_more_than_five_minutes_ago_is_rejected(provider: StripeProvider) -> None:
    body = stripe_event("payment_intent.succeeded", payment_intent(uuid.uuid4(), status="succeeded"))

    assert provider.parse_webhook(body, signed(body, age_s=240))
    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body, signed(body, age_s=301 + 30))


def test_webhook_tolerance_is_a_constructor_argument(stripe_settings: StripeSettings) -> None:
    strict = StripeProvider(stripe_settings, tolerance_s=60)
    body = stripe_event("payment_intent.canceled", payment_intent(status="canceled"))

    with pytest.raises(WebhookRejected):
        strict.parse_webhook(body, signed(body, age_s=120))


@pytest.mark.parametrize(
    "headers",
    [{}, {"stripe-signature": ""}, {"stripe-signature": "garbage"}, {"stripe-signature": "t=abc,v1=00"}],
    ids=["missing", "empty", "garbage", "bad-timestamp"],
)
def test_webhook_without_a_valid_signature_header_is_rejected(
    provider: StripeProvider, headers: dict[str, str]
) -> None:
    body = stripe_event("payment_intent.succeeded", payment_intent(uuid.uuid4(), status="succeeded"))

    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body, headers)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"\xff\xfe\x00garbage", b'{"id": "evt_1", "type": "payment_intent.succeeded"}', b"[]"],
    ids=["not-json", "not-utf8", "no-data-object", "not-an-object"],
)
def test_webhook_signed_but_not_a_stripe_event_is_rejected(provider: StripeProvider, body: bytes) -> None:
    headers = {"stripe-signature": sign_webhook(body.decode("latin-1"), STRIPE_WEBHOOK_SECRET)}

    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body, headers)


async def test_proxy_posts_signed_webhooks_the_provider_accepts(
    provider: StripeProvider, browser: stripe.StripeClient, register_stripe_webhook: Callable[[str, str], None]
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.read(), {k.lower(): v for k, v in request.headers.items()}))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/stripe", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        register_stripe_webhook(f"http://127.0.0.1:{port}/webhooks/stripe", STRIPE_WEBHOOK_SECRET)
        req, ref = await authorised_hold(provider, browser, 4000)
        await provider.capture(ref, 1500, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))
        await provider.refund(ref, 500, "SEK", idempotency_key=idempotency_key(req.payment_id, "refund"))
        for _ in range(500):
            events = [e for body, headers in received for e in provider.parse_webhook(body, headers)]
            if len([e for e in events if e.provider_ref == ref]) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()

    mine = [(e.kind, e.amount_minor, e.payment_id) for e in events if e.provider_ref == ref]
    assert sorted(mine, key=str) == sorted(
        [("authorised", 4000, req.payment_id), ("captured", 1500, req.payment_id), ("refunded", 500, req.payment_id)],
        key=str,
    )
    assert len({e.event_id for e in events}) == len(events)


# -- reconciliation ------------------------------------------------------------------------------


async def test_settlements_list_what_was_captured_and_refunded(
    provider: StripeProvider, browser: stripe.StripeClient
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=5)
    req, ref = await authorised_hold(provider, browser, 5000)
    await provider.capture(ref, 2500, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))
    refund_outcome = await provider.refund(ref, 400, "SEK", idempotency_key=idempotency_key(req.payment_id, "refund"))

    lines = await provider.settlements(since, datetime.now(UTC) + timedelta(minutes=5))

    mine = sorted((line for line in lines if line.provider_ref == ref), key=lambda line: line.kind)
    assert [(line.kind, line.amount_minor, line.currency, line.payment_id) for line in mine] == [
        ("capture", 2500, "SEK", req.payment_id),
        ("refund", -400, "SEK", req.payment_id),
    ]
    assert mine[0].fee_minor > 0 and mine[1].fee_minor == 0
    assert all(line.line_ref and line.line_ref.startswith("txn_") and line.occurred_at for line in mine)
    assert refund_outcome.action_ref is not None


async def test_settlements_outside_the_window_are_not_listed(
    provider: StripeProvider, browser: stripe.StripeClient
) -> None:
    req, ref = await authorised_hold(provider, browser, 5000)
    await provider.capture(ref, 1000, "SEK", idempotency_key=idempotency_key(req.payment_id, "capture"))
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)

    assert await provider.settlements(long_ago, long_ago + timedelta(days=1)) == []


def test_event_payload_helper_round_trips() -> None:
    body = stripe_event("x.y", {"id": "a", "object": "thing"}, event_id="evt_1", created=1)

    assert json.loads(body)["data"]["object"]["id"] == "a"


async def test_a_removed_saved_card_is_detached_and_a_second_removal_is_harmless(
    provider: StripeProvider, stripe_settings: StripeSettings
) -> None:
    setup = await provider.setup_saved_method(
        f"user-{uuid.uuid4().hex[:8]}", None, None, idempotency_key=uuid.uuid4().hex
    )
    assert setup.client_secret is not None
    client = stripe.StripeClient(stripe_settings.secret_key, base_addresses={"api": stripe_settings.api_base or ""})
    await asyncio.to_thread(
        client.v1.setup_intents.confirm, setup.client_secret.split("_secret_")[0], {"payment_method": "pm_card_visa"}
    )
    (card,) = await provider.saved_methods(setup.customer_ref)
    await provider.remove_saved_method(setup.customer_ref, card.ref)
    assert await provider.saved_methods(setup.customer_ref) == []
    await provider.remove_saved_method(setup.customer_ref, card.ref)
