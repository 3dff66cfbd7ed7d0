"""PaymentProvider on Adyen's Checkout API (official SDK): holds, captures, cancels,
refunds and saved cards; the standard notifications are read in notifications.py and the
settlement details report in settlement.py.

The SDK is synchronous (``requests`` underneath), so every call runs in a worker thread:
the event loop never waits on Adyen. Captures, cancels and refunds are answered
"received" and confirmed later by notification (CAPTURE, CANCELLATION, REFUND).

References: a hold's ``reference`` is our payment id; a modification's ``reference`` is its
idempotency key (``laddnat-{payment id}-{action}-{seq}``). Both name the payment, so every
notification's ``merchantReference`` and every report row leads back to it
(``values.payment_id_of``), whichever of the two Adyen puts there, and a report row's
"Modification Merchant Reference" still tells which of our actions it was.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import Adyen
from Adyen.exceptions import AdyenAPIResponseError, AdyenError

from app.core.settings import AdyenSettings
from payments.adyen.notifications import parse_notifications
from payments.adyen.settlement import SettlementReports
from payments.adyen.values import dict_or_empty, method_of, str_or_none
from payments.provider import (
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
)

log = logging.getLogger(__name__)

# The Checkout API version the SDK's services are generated for (their ``baseUrl``).
_VERSION_SUFFIX = re.compile(r"/v\d+/?$")

# Result codes of /payments that end the attempt without a hold.
_FAILED_RESULTS = {"Refused", "Error", "Cancelled"}
# Result codes that need the shopper (3-D Secure, redirect): impossible off-session.
_SHOPPER_RESULTS = {"RedirectShopper", "IdentifyShopper", "ChallengeShopper", "PresentToShopper"}


class AdyenProvider:
    """Adyen behind ``PaymentProvider``; see the module docstring for the references used.

    ``saved_method_currency`` / ``saved_method_return_url``: the protocol's
    ``setup_saved_method`` carries neither, yet /sessions needs both (a zero-value
    verification still has a currency; the app's return URL ends a 3-D Secure redirect).
    """

    name: ProviderName = "adyen"

    def __init__(
        self,
        settings: AdyenSettings,
        *,
        saved_method_currency: str = "EUR",
        saved_method_return_url: str = "laddnat://payments/adyen/return",
        http_timeout_s: int = 30,
    ) -> None:
        if settings.environment not in ("test", "live"):
            raise ValueError(f"LADDNAT_ADYEN_ENVIRONMENT must be test or live, not {settings.environment!r}")
        if settings.environment == "live" and not settings.live_url_prefix and not settings.checkout_url:
            raise ValueError("LADDNAT_ADYEN_LIVE_URL_PREFIX is required when the Adyen environment is live")
        self._settings = settings
        self._saved_method_currency = saved_method_currency
        self._saved_method_return_url = saved_method_return_url
        adyen = Adyen.Adyen(
            xapikey=settings.api_key,
            platform=settings.environment,
            live_endpoint_prefix=settings.live_url_prefix or None,
            merchant_account=settings.merchant_account,
            http_timeout=http_timeout_s,
        )
        checkout = adyen.checkout
        self._payments = checkout.payments_api
        self._modifications = checkout.modifications_api
        self._recurring = checkout.recurring_api
        if settings.checkout_url:
            # The SDK has no constructor option for another host; each generated service keeps
            # its base (``https://checkout-test.adyen.com/v72``) in the public ``baseUrl``
            # attribute it builds every endpoint from. ``checkout_url`` may name the version
            # itself (``.../v71``); otherwise the SDK's own version is kept.
            base = settings.checkout_url.rstrip("/")
            if not _VERSION_SUFFIX.search(base):
                base += "/" + self._payments.baseUrl.rsplit("/", 1)[1]
            for service in (self._payments, self._modifications, self._recurring):
                service.baseUrl = base
        self._reports = SettlementReports(settings)
        # Brand and last four as the authorisation reported them, by pspReference: Adyen has no
        # cheap lookup of a past payment, and the service keeps them from the notification too.
        self._methods: dict[str, PaymentMethod] = {}

    # -- holds ---------------------------------------------------------------------------

    async def create_hold(self, req: HoldRequest, *, idempotency_key: str) -> Hold:
        if (req.customer_ref is None) != (req.payment_method_ref is None):
            raise ProviderError("validation", "a saved card needs both customer_ref and payment_method_ref")
        if req.payment_method_ref is not None:
            return await self._hold_saved_method(req, idempotency_key)
        if not req.return_url:
            raise ProviderError("validation", "a Drop-in session needs return_url")
        body = {
            **self._money_request(req),
            "returnUrl": req.return_url,
            # /sessions takes the same additionalData as /payments: manualCapture makes this one
            # payment wait for our capture whatever the account's capture delay. (Its
            # captureDelayHours would schedule an automatic capture: the opposite.)
            "additionalData": {"manualCapture": "true"},
        }
        answer = await self._call(self._payments.sessions, body, idempotency_key=idempotency_key)
        return Hold(
            status="pending",
            provider_ref=None,
            amount_minor=req.amount_minor,
            currency=req.currency,
            session_id=str_or_none(answer.get("id")),
            session_data=str_or_none(answer.get("sessionData")),
        )

    async def _hold_saved_method(self, req: HoldRequest, idempotency_key: str) -> Hold:
        body: dict[str, Any] = {
            **self._money_request(req),
            "paymentMethod": {"type": "scheme", "storedPaymentMethodId": req.payment_method_ref},
            "shopperReference": req.customer_ref,
            # The driver is not present: a merchant-initiated charge on the card they saved.
            "shopperInteraction": "ContAuth",
            "recurringProcessingModel": "UnscheduledCardOnFile",
            "additionalData": {"manualCapture": "true"},
        }
        if req.return_url:
            body["returnUrl"] = req.return_url
        answer = await self._call(self._payments.payments, body, idempotency_key=idempotency_key)
        result = str_or_none(answer.get("resultCode")) or "Error"
        psp = str_or_none(answer.get("pspReference"))
        if result == "Authorised" and psp:
            method = _method_of_payment(answer)
            if method is not None:
                self._methods[psp] = method
            return Hold(
                status="authorised",
                provider_ref=psp,
                method=method,
                amount_minor=req.amount_minor,
                currency=req.currency,
            )
        if result in ("Pending", "Received"):
            # Adyen decides later; the AUTHORISATION notification tells.
            return Hold(status="pending", provider_ref=psp, amount_minor=req.amount_minor, currency=req.currency)
        if result in _SHOPPER_RESULTS:
            return Hold(
                status="failed",
                provider_ref=psp,
                failure_code=result,
                failure_message="the card asks for the shopper (3-D Secure), who is not present",
                amount_minor=req.amount_minor,
                currency=req.currency,
            )
        return Hold(
            status="failed",
            provider_ref=psp,
            failure_code=str_or_none(answer.get("refusalReasonCode")) or result,
            failure_message=str_or_none(answer.get("refusalReason")) or result,
            amount_minor=req.amount_minor,
            currency=req.currency,
        )

    def _money_request(self, req: HoldRequest) -> dict[str, Any]:
        metadata = dict(req.metadata)
        if req.description and "description" not in metadata:
            metadata["description"] = req.description[:80]  # Adyen's limit per value
        body: dict[str, Any] = {
            "merchantAccount": self._settings.merchant_account,
            "amount": {"value": req.amount_minor, "currency": req.currency},
            "reference": str(req.payment_id),
            "metadata": metadata,
        }
        if req.statement_descriptor:
            body["shopperStatement"] = req.statement_descriptor
        return body

    # -- modifications -------------------------------------------------------------------

    async def capture(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        body = self._modification(idempotency_key, amount_minor, currency)
        answer = await self._call(
            self._modifications.capture_authorised_payment, body, provider_ref, idempotency_key=idempotency_key
        )
        return _outcome(answer, provider_ref, amount_minor)

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> Outcome:
        body = self._modification(idempotency_key)
        answer = await self._call(
            self._modifications.cancel_authorised_payment_by_psp_reference,
            body,
            provider_ref,
            idempotency_key=idempotency_key,
        )
        return _outcome(answer, provider_ref, 0)

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        body = self._modification(idempotency_key, amount_minor, currency)
        answer = await self._call(
            self._modifications.refund_captured_payment, body, provider_ref, idempotency_key=idempotency_key
        )
        return _outcome(answer, provider_ref, amount_minor)

    def _modification(self, idempotency_key: str, amount_minor: int | None = None, currency: str = "") -> dict:
        # The key is the reference: it names our payment (see the module docstring) and is
        # unique per action, as Adyen recommends for modification references.
        body: dict[str, Any] = {"merchantAccount": self._settings.merchant_account, "reference": idempotency_key}
        if amount_minor is not None:
            body["amount"] = {"value": amount_minor, "currency": currency}
        return body

    async def payment_method(self, provider_ref: str) -> PaymentMethod | None:
        return self._methods.get(provider_ref)

    # -- saved cards ---------------------------------------------------------------------

    async def setup_saved_method(
        self, customer_key: str, email: str | None, customer_ref: str | None, *, idempotency_key: str
    ) -> SavedMethodSetup:
        shopper = customer_ref or customer_key
        body: dict[str, Any] = {
            "merchantAccount": self._settings.merchant_account,
            # A zero-value verification: the card is checked and tokenised, nothing is held.
            "amount": {"value": 0, "currency": self._saved_method_currency},
            "reference": idempotency_key,
            "returnUrl": self._saved_method_return_url,
            "shopperReference": shopper,
            "storePaymentMethod": True,
            "shopperInteraction": "Ecommerce",
            "recurringProcessingModel": "UnscheduledCardOnFile",
        }
        if email:
            body["shopperEmail"] = email
        answer = await self._call(self._payments.sessions, body, idempotency_key=idempotency_key)
        return SavedMethodSetup(
            customer_ref=shopper,
            session_id=str_or_none(answer.get("id")),
            session_data=str_or_none(answer.get("sessionData")),
        )

    async def remove_saved_method(self, customer_ref: str, method_ref: str) -> None:
        query = {
            "shopperReference": urllib.parse.quote(customer_ref, safe=""),
            "merchantAccount": urllib.parse.quote(self._settings.merchant_account, safe=""),
        }
        try:
            await self._call(
                self._recurring.delete_token_for_stored_payment_details,
                urllib.parse.quote(method_ref, safe=""),
                query_parameters=query,
            )
        except ProviderError as err:
            if err.http_status != 404:
                raise

    async def saved_methods(self, customer_ref: str) -> list[SavedMethod]:
        # The SDK pastes query parameters into the URL as they are: encode them here.
        query = {
            "shopperReference": urllib.parse.quote(customer_ref, safe=""),
            "merchantAccount": urllib.parse.quote(self._settings.merchant_account, safe=""),
        }
        answer = await self._call(self._recurring.get_tokens_for_stored_payment_details, query_parameters=query)
        methods = []
        for item in answer.get("storedPaymentMethods") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            month, year = str_or_none(item.get("expiryMonth")), str_or_none(item.get("expiryYear"))
            methods.append(
                SavedMethod(
                    ref=str(item["id"]),
                    brand=str_or_none(item.get("brand")),
                    last4=str_or_none(item.get("lastFour")),
                    expiry=f"{int(month):02d}/{year}" if month and month.isdigit() and year else None,
                )
            )
        return methods

    # -- notifications -------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
        events = parse_notifications(
            body, merchant_account=self._settings.merchant_account, hmac_key=self._settings.hmac_key
        )
        for event in events:
            if event.kind == "authorised" and event.provider_ref and event.method is not None:
                self._methods[event.provider_ref] = event.method
        return events

    # -- settlement ----------------------------------------------------------------------

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        """Rows of every settlement details report whose Creation Date lies in [since, until)."""
        return await self._reports.lines(since, until)

    # -- the SDK -------------------------------------------------------------------------

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = await asyncio.to_thread(method, *args, **kwargs)
        except AdyenAPIResponseError as exc:
            raise _api_error(exc) from exc
        except AdyenError as exc:
            raise ProviderError("configuration", str(exc.message)) from exc
        except OSError as exc:
            # requests' ConnectionError and Timeout are OSErrors; so are urllib's. The same call
            # with the same idempotency key is safe to send again.
            raise ProviderError("network_error", f"Adyen did not answer: {exc}", retryable=True) from exc
        message = result.message
        return message if isinstance(message, dict) else {}


def _api_error(exc: AdyenAPIResponseError) -> ProviderError:
    status = exc.status_code if isinstance(exc.status_code, int) else None
    body = exc.message if isinstance(exc.message, dict) else {}
    code = str_or_none(body.get("errorCode")) or str_or_none(exc.error_code) or f"http_{status}"
    message = (
        str_or_none(body.get("message")) or (exc.message if isinstance(exc.message, str) else "") or type(exc).__name__
    )
    # 704: the same idempotency key is still being processed; asking again later is right.
    retryable = status is None or status >= 500 or status in (408, 429) or code == "704"
    return ProviderError(code, message, retryable=retryable, http_status=status)


def _outcome(answer: dict[str, Any], provider_ref: str, amount_minor: int) -> Outcome:
    return Outcome(
        status="received",
        provider_ref=str_or_none(answer.get("paymentPspReference")) or provider_ref,
        action_ref=str_or_none(answer.get("pspReference")),
        amount_minor=amount_minor,
    )


def _method_of_payment(answer: dict[str, Any]) -> PaymentMethod | None:
    additional = dict_or_empty(answer.get("additionalData"))
    method = dict_or_empty(answer.get("paymentMethod"))
    brand = str_or_none(method.get("brand")) or str_or_none(additional.get("paymentMethod"))
    return method_of(brand, str_or_none(additional.get("cardSummary")))
