"""Stripe behind the ``PaymentProvider`` protocol, through the official SDK's ``StripeClient``.

Every call goes through the SDK's async methods on its bundled httpx client, so the event loop
never waits on the network. SDK-level retries are off by default: the payment service retries
with the same idempotency key, and Stripe replays the first answer for a repeated key.

Responses are read as plain dicts (``to_dict()``): one code path for API answers and webhook
payloads, and a missing field is ``None`` rather than an ``AttributeError``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import stripe

from app.core.settings import StripeSettings
from payments.provider import (
    EventKind,
    Hold,
    HoldRequest,
    Outcome,
    PaymentMethod,
    ProviderError,
    ProviderEvent,
    ProviderName,
    SavedMethod,
    SavedMethodSetup,
    SettlementLine,
    WebhookRejected,
)

# Stripe's card brands in the vocabulary of ``PaymentMethod.brand`` (Adyen's short codes), so a
# receipt reads the same whichever PSP took the payment.
_BRANDS = {"mastercard": "mc", "unionpay": "cup", "american_express": "amex", "diners_club": "diners"}

_PENDING_STATUSES = {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}


class StripeProvider:
    """The ``PaymentProvider`` for Stripe: manual-capture PaymentIntents, SetupIntents for saved
    cards, signed webhooks, balance transactions for reconciliation."""

    name: ProviderName = "stripe"

    def __init__(
        self,
        settings: StripeSettings,
        *,
        tolerance_s: int = 300,
        timeout_s: float = 30.0,
        max_network_retries: int = 0,
    ) -> None:
        self._settings = settings
        self._tolerance_s = tolerance_s
        # httpx ships with the web stack; the client is async-only (no sync call can block).
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.api_base} if settings.api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool (at shutdown)."""
        await self._http.close_async()

    # -- holds -------------------------------------------------------------------------------

    async def create_hold(self, req: HoldRequest, *, idempotency_key: str) -> Hold:
        params: dict[str, Any] = {
            "amount": req.amount_minor,
            "currency": req.currency.lower(),
            "capture_method": "manual",
            "description": req.description,
            "metadata": {"payment_id": str(req.payment_id), **req.metadata},
            # The card brand and last four come with the answer (for the receipt).
            "expand": ["latest_charge"],
        }
        if req.statement_descriptor:
            # Card charges refuse ``statement_descriptor``; the suffix is appended to the
            # account's prefix instead.
            params["statement_descriptor_suffix"] = req.statement_descriptor[:22]
        if req.customer_ref is not None:
            params["customer"] = req.customer_ref
        if req.customer_ref is not None and req.payment_method_ref is not None:
            # An app user's saved card: the user is not there to authenticate, so Stripe
            # either authorises at once or declines (authentication_required included).
            params.update(payment_method=req.payment_method_ref, confirm=True, off_session=True)
        else:
            # The web Payment Element offers cards, Apple Pay and Google Pay from this.
            params["automatic_payment_methods"] = {"enabled": True}
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as e:
            return _declined_hold(req, e)
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        pi = intent.to_dict()
        status = pi.get("status")
        if status == "requires_capture":
            return Hold(
                status="authorised",
                provider_ref=pi["id"],
                amount_minor=_int(pi.get("amount_capturable")) or req.amount_minor,
                currency=req.currency.upper(),
                method=_charge_method(pi.get("latest_charge")),
            )
        if status in _PENDING_STATUSES:
            return Hold(
                status="pending",
                provider_ref=pi["id"],
                amount_minor=req.amount_minor,
                currency=req.currency.upper(),
                client_secret=pi.get("client_secret"),
            )
        # canceled / succeeded cannot follow a fresh manual-capture intent; say so plainly.
        error = pi.get("last_payment_error") or {}
        return Hold(
            status="failed",
            provider_ref=pi["id"],
            amount_minor=req.amount_minor,
            currency=req.currency.upper(),
            failure_code=error.get("decline_code") or error.get("code") or f"unexpected_status_{status}",
            failure_message=error.get("message"),
        )

    async def capture(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        if amount_minor == 0:
            # Stripe refuses a zero capture; taking nothing is releasing the hold.
            return await self.cancel(provider_ref, idempotency_key=idempotency_key)
        # Stripe captures in the PaymentIntent's own currency; ``currency`` is the caller's
        # record of it and there is nothing to send.
        try:
            intent = await self._client.v1.payment_intents.capture_async(
                provider_ref, {"amount_to_capture": amount_minor}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        pi = intent.to_dict()
        return Outcome(
            status="done",
            provider_ref=provider_ref,
            action_ref=_ref(pi.get("latest_charge")),
            amount_minor=_int(pi.get("amount_received")) or amount_minor,
        )

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> Outcome:
        try:
            await self._client.v1.payment_intents.cancel_async(provider_ref, None, {"idempotency_key": idempotency_key})
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        return Outcome(status="done", provider_ref=provider_ref, amount_minor=0)

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        try:
            # The refund carries our payment id, so its webhook names the payment without a lookup.
            intent = await self._client.v1.payment_intents.retrieve_async(provider_ref)
            payment_id = (intent.to_dict().get("metadata") or {}).get("payment_id")
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": provider_ref,
                    "amount": amount_minor,
                    "metadata": {"payment_id": payment_id} if payment_id else {},
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        r = refund.to_dict()
        status = r.get("status")
        if status in {"failed", "canceled"}:
            raise ProviderError(r.get("failure_reason") or "refund_failed", f"Stripe refund {r.get('id')} is {status}")
        return Outcome(
            # Card refunds succeed at once; other methods confirm later by refund.updated.
            status="done" if status == "succeeded" else "received",
            provider_ref=provider_ref,
            action_ref=r.get("id"),
            amount_minor=_int(r.get("amount")) or amount_minor,
        )

    async def payment_method(self, provider_ref: str) -> PaymentMethod | None:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(provider_ref, {"expand": ["latest_charge"]})
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        return _charge_method(intent.to_dict().get("latest_charge"))

    # -- saved cards -------------------------------------------------------------------------

    async def setup_saved_method(
        self, customer_key: str, email: str | None, customer_ref: str | None, *, idempotency_key: str
    ) -> SavedMethodSetup:
        try:
            if customer_ref is None:
                customer_params: dict[str, Any] = {"metadata": {"laddnat_user_id": customer_key}}
                if email:
                    customer_params["email"] = email
                customer = await self._client.v1.customers.create_async(
                    customer_params,  # type: ignore[arg-type]
                    {"idempotency_key": f"{idempotency_key}-customer"},
                )
                customer_ref = str(customer.id)
            setup = await self._client.v1.setup_intents.create_async(
                {  # type: ignore[arg-type]
                    "customer": customer_ref,
                    "usage": "off_session",
                    "payment_method_types": ["card"],  # wallets save as cards too
                    "metadata": {"laddnat_user_id": customer_key},
                },
                {"idempotency_key": f"{idempotency_key}-setup"},
            )
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        return SavedMethodSetup(customer_ref=customer_ref, client_secret=setup.client_secret)

    async def saved_methods(self, customer_ref: str) -> list[SavedMethod]:
        methods: list[SavedMethod] = []
        try:
            page = await self._client.v1.payment_methods.list_async(
                {"customer": customer_ref, "type": "card", "limit": 100}
            )
            async for pm in _pages(page):
                card = pm.get("card") or {}
                month, year = card.get("exp_month"), card.get("exp_year")
                methods.append(
                    SavedMethod(
                        ref=pm["id"],
                        brand=_brand(card.get("brand")),
                        last4=card.get("last4"),
                        expiry=f"{int(month):02d}/{int(year)}" if month and year else None,
                    )
                )
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        return methods

    async def remove_saved_method(self, customer_ref: str, method_ref: str) -> None:
        try:
            method = await self._client.v1.payment_methods.retrieve_async(method_ref)
            if method.customer != customer_ref:
                return  # not this customer's (or already detached): nothing of theirs to remove
            await self._client.v1.payment_methods.detach_async(method_ref)
        except stripe.InvalidRequestError as e:
            if e.http_status == 404 or e.code == "resource_missing":
                return
            raise _provider_error(e) from e
        except stripe.StripeError as e:
            raise _provider_error(e) from e

    # -- webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
        signature = headers.get("stripe-signature")
        if not signature:
            raise WebhookRejected("no Stripe-Signature header")
        try:
            # The SDK's own check: HMAC-SHA256 of "<t>.<body>", constant-time compare, age.
            stripe.WebhookSignature.verify_header(body, signature, self._settings.webhook_secret, self._tolerance_s)
            event = json.loads(body)
        except stripe.SignatureVerificationError as e:
            raise WebhookRejected(f"Stripe signature refused: {e}") from e
        except ValueError as e:  # not UTF-8, not JSON
            raise WebhookRejected(f"not a Stripe event: {e}") from e
        data = event.get("data") if isinstance(event, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
            raise WebhookRejected("not a Stripe event: id, type or data.object missing")
        return [_normalise(event, obj)]

    # -- reconciliation ----------------------------------------------------------------------

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        lines: list[SettlementLine] = []
        try:
            page = await self._client.v1.balance_transactions.list_async(
                {
                    "created": {"gte": int(since.timestamp()), "lt": int(until.timestamp())},
                    "limit": 100,
                    # Charge and refund both name their PaymentIntent, whose metadata has our id.
                    "expand": ["data.source.payment_intent"],
                }
            )
            async for txn in _pages(page):
                line = _settlement_line(txn)
                if line is not None:
                    lines.append(line)
        except stripe.StripeError as e:
            raise _provider_error(e) from e
        return lines


# -- mapping helpers ---------------------------------------------------------------------------


async def _pages(page: Any) -> AsyncIterator[dict[str, Any]]:
    """Every item of a Stripe list, following ``has_more`` pages, as dicts."""
    async for item in page.auto_paging_iter():
        yield item.to_dict()


def _provider_error(e: stripe.StripeError) -> ProviderError:
    status = e.http_status
    message = e.user_message or str(e)
    if isinstance(e, stripe.CardError):
        decline = e.error.decline_code if e.error is not None else None
        return ProviderError(decline or e.code or "card_declined", message, retryable=False, http_status=status)
    if isinstance(e, stripe.APIConnectionError):
        # Timeouts and dropped connections: Stripe may or may not have acted, and the same
        # idempotency key makes sending it again safe.
        return ProviderError("connection_error", message, retryable=True, http_status=status)
    if isinstance(e, stripe.RateLimitError):
        return ProviderError(e.code or "rate_limit", message, retryable=True, http_status=status)
    if isinstance(e, stripe.IdempotencyError):
        return ProviderError(e.code or "idempotency_error", message, retryable=False, http_status=status)
    # 409: a request with the same key is still running (or a lock timed out): try again.
    retryable = status is None or status >= 500 or status in {409, 429}
    return ProviderError(e.code or type(e).__name__, message, retryable=retryable, http_status=status)


def _declined_hold(req: HoldRequest, e: stripe.CardError) -> Hold:
    """A decline is an answer, not an error: the hold failed, with the issuer's reason."""
    body = e.json_body if isinstance(e.json_body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    intent = error.get("payment_intent")
    return Hold(
        status="failed",
        provider_ref=intent.get("id") if isinstance(intent, dict) else None,
        amount_minor=req.amount_minor,
        currency=req.currency.upper(),
        failure_code=error.get("decline_code") or error.get("code") or e.code or "card_declined",
        failure_message=error.get("message") or e.user_message,
    )


def _ref(value: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _brand(brand: Any) -> str | None:
    return _BRANDS.get(brand, brand) if isinstance(brand, str) else None


def _charge_method(charge: Any) -> PaymentMethod | None:
    if not isinstance(charge, dict):
        return None
    card = (charge.get("payment_method_details") or {}).get("card")
    if not isinstance(card, dict):
        return None
    wallet = card.get("wallet")
    return PaymentMethod(
        brand=_brand(card.get("brand")),
        last4=card.get("last4"),
        wallet=wallet.get("type") if isinstance(wallet, dict) else None,
    )


def _payment_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    metadata = obj.get("metadata")
    raw = metadata.get("payment_id") if isinstance(metadata, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


def _currency(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None


def _normalise(event: dict[str, Any], obj: dict[str, Any]) -> ProviderEvent:
    """One Stripe event as a ``ProviderEvent``.

    Each money movement is reported by exactly one event type: ``payment_intent.succeeded``
    (not ``charge.captured``) for a capture; for a refund, ``refund.created`` when it succeeds
    at once, or the ``refund.updated`` whose ``previous_attributes`` show the status turning to
    succeeded; ``refund.failed`` for a failed one. The legacy ``charge.refund.updated`` duplicates
    ``refund.updated`` and is ignored.
    """
    kind: EventKind = "ignored"
    amount: int | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    action_ref: str | None = None
    type_ = event["type"]
    status = obj.get("status")
    if obj.get("object") == "refund" or type_.startswith("refund."):
        provider_ref = _ref(obj.get("payment_intent"))
        action_ref = obj.get("id")
        previous = (event.get("data") or {}).get("previous_attributes") or {}
        became = type_ == "refund.created" or (type_ == "refund.updated" and "status" in previous)
        if type_ in {"refund.created", "refund.updated"} and status == "succeeded" and became:
            kind, amount = "refunded", _int(obj.get("amount"))
        elif type_ == "refund.failed":
            kind, amount = "refund_failed", _int(obj.get("amount"))
            failure_code = obj.get("failure_reason") or "refund_failed"
    else:
        provider_ref = obj.get("id") if obj.get("object") == "payment_intent" else _ref(obj.get("payment_intent"))
        if type_ == "payment_intent.amount_capturable_updated":
            if status == "requires_capture" and (_int(obj.get("amount_capturable")) or 0) > 0:
                kind, amount = "authorised", _int(obj.get("amount_capturable"))
        elif type_ == "payment_intent.payment_failed":
            kind, amount = "authorisation_failed", _int(obj.get("amount"))
            error = obj.get("last_payment_error") or {}
            failure_code = error.get("decline_code") or error.get("code") or "payment_failed"
            failure_message = error.get("message")
        elif type_ == "payment_intent.succeeded":
            kind, amount = "captured", _int(obj.get("amount_received"))
            action_ref = _ref(obj.get("latest_charge"))
        elif type_ == "payment_intent.canceled":
            kind = "cancelled"
    return ProviderEvent(
        provider="stripe",
        event_id=event["id"],
        kind=kind,
        raw_type=type_,
        payment_id=_payment_id(obj),
        provider_ref=provider_ref,
        action_ref=action_ref,
        amount_minor=amount,
        currency=_currency(obj.get("currency")),
        occurred_at=_timestamp(event.get("created")),
        failure_code=failure_code,
        failure_message=failure_message,
    )


def _settlement_line(txn: dict[str, Any]) -> SettlementLine | None:
    type_ = txn.get("type")
    kind: Literal["capture", "refund"]
    if type_ in {"charge", "payment"}:
        kind = "capture"
    elif type_ in {"refund", "payment_refund"}:
        kind = "refund"
    else:
        return None  # payouts, fees, adjustments: not a payment of ours
    source = txn.get("source")
    intent = source.get("payment_intent") if isinstance(source, dict) else None
    provider_ref = _ref(intent)
    if provider_ref is None:
        return None  # a charge made outside PaymentIntents: not ours
    return SettlementLine(
        provider_ref=provider_ref,
        payment_id=_payment_id(intent) if isinstance(intent, dict) else None,
        kind=kind,
        amount_minor=_int(txn.get("amount")) or 0,
        currency=(_currency(txn.get("currency")) or ""),
        fee_minor=_int(txn.get("fee")) or 0,
        occurred_at=_timestamp(txn.get("created")),
        line_ref=txn.get("id"),
    )
