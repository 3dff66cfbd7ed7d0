"""PaymentProvider on Adyen's Checkout API (official SDK), standard notifications and the
settlement details report.

The SDK is synchronous (``requests`` underneath), so every call runs in a worker thread:
the event loop never waits on Adyen. Captures, cancels and refunds are answered
"received" and confirmed later by notification (CAPTURE, CANCELLATION, REFUND).

References: a hold's ``reference`` is our payment id; a modification's ``reference`` is its
idempotency key (``laddnat-{payment id}-{action}-{seq}``). Both name the payment, so every
notification's ``merchantReference`` and every report row leads back to it
(``_payment_id_of``), whichever of the two Adyen puts there, and a report row's
"Modification Merchant Reference" still tells which of our actions it was.
"""

from __future__ import annotations

import asyncio
import binascii
import csv
import io
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import Adyen
from Adyen.exceptions import AdyenAPIResponseError, AdyenError
from Adyen.util import is_valid_hmac_notification

from app.core.settings import AdyenSettings
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

log = logging.getLogger(__name__)

# The Checkout API version the SDK's services are generated for (their ``baseUrl``).
_VERSION_SUFFIX = re.compile(r"/v\d+/?$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Our idempotency keys, ``payments.provider.idempotency_key``.
_KEY = re.compile(rf"^laddnat-({_UUID.pattern})(?:-.*)?$")

# Result codes of /payments that end the attempt without a hold.
_FAILED_RESULTS = {"Refused", "Error", "Cancelled"}
# Result codes that need the shopper (3-D Secure, redirect): impossible off-session.
_SHOPPER_RESULTS = {"RedirectShopper", "IdentifyShopper", "ChallengeShopper", "PresentToShopper"}

# ISO-4217 exponents other than 2 (Adyen's amounts are minor units with these exponents).
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

# The report's TimeZone column holds the account's zone abbreviation, not an IANA name.
_ZONE_OFFSETS_H = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3,
    "MSK": 3, "GST": 4, "IST": 5.5, "SGT": 8, "HKT": 8, "AWST": 8, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11,
    "NZST": 12, "NZDT": 13, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
    "PDT": -7, "BRT": -3,
}  # fmt: skip

_FEE_COLUMNS = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")
# Stops a runaway download loop if a report server never answers 404.
_MAX_BATCHES = 100_000


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
        if settings.report_url:
            self._report_base = settings.report_url.rstrip("/")
        else:
            self._report_base = (
                f"https://ca-{settings.environment}.adyen.com/reports/download/MerchantAccount/"
                f"{urllib.parse.quote(settings.merchant_account, safe='')}"
            )
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
            session_id=_str(answer.get("id")),
            session_data=_str(answer.get("sessionData")),
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
        result = _str(answer.get("resultCode")) or "Error"
        psp = _str(answer.get("pspReference"))
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
            failure_code=_str(answer.get("refusalReasonCode")) or result,
            failure_message=_str(answer.get("refusalReason")) or result,
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
            customer_ref=shopper, session_id=_str(answer.get("id")), session_data=_str(answer.get("sessionData"))
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
            month, year = _str(item.get("expiryMonth")), _str(item.get("expiryYear"))
            methods.append(
                SavedMethod(
                    ref=str(item["id"]),
                    brand=_str(item.get("brand")),
                    last4=_str(item.get("lastFour")),
                    expiry=f"{int(month):02d}/{year}" if month and month.isdigit() and year else None,
                )
            )
        return methods

    # -- notifications -------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("the notification is not JSON") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("notificationItems"), list):
            raise WebhookRejected("not an Adyen notification: notificationItems missing")
        items = []
        for entry in payload["notificationItems"]:
            item = entry.get("NotificationRequestItem") if isinstance(entry, dict) else None
            if not isinstance(item, dict):
                raise WebhookRejected("a notification item is not a NotificationRequestItem")
            _check_fields(item)
            if not self._signed(item):
                # One forged item taints the request: Adyen signs every item it sends.
                raise WebhookRejected(f"bad HMAC signature on {item.get('eventCode')} {item.get('pspReference')}")
            items.append(item)
        if not items:
            raise WebhookRejected("the notification has no items")
        events = [self._event(item) for item in items]
        for event in events:
            if event.kind == "authorised" and event.provider_ref and event.method is not None:
                self._methods[event.provider_ref] = event.method
        return events

    def _signed(self, item: dict) -> bool:
        try:
            # The SDK answers None (not False) when additionalData is absent, raises when the
            # signature is empty or missing: only a plain True is a valid signature.
            return is_valid_hmac_notification(item, self._settings.hmac_key) is True
        except (KeyError, TypeError, ValueError, binascii.Error):
            return False

    def _event(self, item: dict) -> ProviderEvent:
        code = str(item["eventCode"])
        psp = str(item["pspReference"])
        success_text = str(item["success"]).lower()
        success = success_text == "true"
        original = _str(item.get("originalReference"))
        additional = _dict(item.get("additionalData"))
        amount = _dict(item.get("amount"))
        kind = _kind(code, success)
        if item.get("merchantAccountCode") != self._settings.merchant_account:
            kind = "ignored"  # a company-level webhook also reports our other merchant accounts
        method = None
        failure_code = failure_message = None
        if kind == "authorised":
            method = _method_of_notification(item, additional)
        if kind in ("authorisation_failed", "capture_failed", "refund_failed"):
            failure_code = _str(additional.get("refusalReasonCode")) or code
            failure_message = _str(item.get("reason")) or None
        value = amount.get("value")
        return ProviderEvent(
            provider="adyen",
            # Adyen resends a notification until it is accepted: the same three fields each time.
            event_id=f"{code}:{psp}:{success_text}",
            kind=kind,
            raw_type=f"{code}:{success_text}",
            payment_id=_payment_id_of(_str(item.get("merchantReference"))),
            provider_ref=original or psp,
            action_ref=psp if original else None,
            amount_minor=value if isinstance(value, int) and not isinstance(value, bool) else None,
            currency=_str(amount.get("currency")),
            occurred_at=_parse_event_date(_str(item.get("eventDate"))),
            method=method,
            failure_code=failure_code,
            failure_message=failure_message,
        )

    # -- settlement ----------------------------------------------------------------------

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        """Rows of every settlement details report (batch 1, 2, ... until one is missing)
        whose Creation Date lies in [since, until)."""
        lines: list[SettlementLine] = []
        for batch in range(1, _MAX_BATCHES):
            text = await asyncio.to_thread(self._download_report, batch)
            if text is None:
                break
            for row in csv.DictReader(io.StringIO(text)):
                line = _settlement_line(row)
                if line is not None and line.occurred_at is not None and since <= line.occurred_at < until:
                    lines.append(line)
        return lines

    def _download_report(self, batch: int) -> str | None:
        """One report's CSV text, or None when that batch does not exist (yet)."""
        url = f"{self._report_base}/settlement_detail_report_batch_{batch}.csv"
        request = urllib.request.Request(url, headers={"X-API-Key": self._settings.api_key})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data: bytes = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise ProviderError(
                f"http_{exc.code}",
                f"settlement report batch {batch}: {exc.reason}",
                retryable=exc.code >= 500 or exc.code == 429,
                http_status=exc.code,
            ) from exc
        except OSError as exc:
            raise ProviderError("network_error", f"settlement report batch {batch}: {exc}", retryable=True) from exc
        return data.decode("utf-8-sig")

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
    code = _str(body.get("errorCode")) or _str(exc.error_code) or f"http_{status}"
    message = _str(body.get("message")) or (exc.message if isinstance(exc.message, str) else "") or type(exc).__name__
    # 704: the same idempotency key is still being processed; asking again later is right.
    retryable = status is None or status >= 500 or status in (408, 429) or code == "704"
    return ProviderError(code, message, retryable=retryable, http_status=status)


def _outcome(answer: dict[str, Any], provider_ref: str, amount_minor: int) -> Outcome:
    return Outcome(
        status="received",
        provider_ref=_str(answer.get("paymentPspReference")) or provider_ref,
        action_ref=_str(answer.get("pspReference")),
        amount_minor=amount_minor,
    )


def _kind(code: str, success: bool) -> EventKind:
    if code == "AUTHORISATION":
        return "authorised" if success else "authorisation_failed"
    if code == "CAPTURE":
        return "captured" if success else "capture_failed"
    if code == "CAPTURE_FAILED":
        return "capture_failed"
    if code in ("CANCELLATION", "CANCEL_OR_REFUND"):
        return "cancelled" if success else "ignored"
    if code == "REFUND":
        return "refunded" if success else "refund_failed"
    if code == "REFUND_FAILED":
        return "refund_failed"
    return "ignored"


def _check_fields(item: dict) -> None:
    for name in ("eventCode", "pspReference", "success", "merchantAccountCode"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise WebhookRejected(f"notification item without {name}")
    amount = item.get("amount")
    if not isinstance(amount, dict) or not isinstance(amount.get("value"), int) or "currency" not in amount:
        raise WebhookRejected("notification item without amount")


def _method_of_notification(item: dict, additional: dict) -> PaymentMethod | None:
    return _method(_str(item.get("paymentMethod")), _str(additional.get("cardSummary")))


def _method_of_payment(answer: dict[str, Any]) -> PaymentMethod | None:
    additional = _dict(answer.get("additionalData"))
    method = _dict(answer.get("paymentMethod"))
    brand = _str(method.get("brand")) or _str(additional.get("paymentMethod"))
    return _method(brand, _str(additional.get("cardSummary")))


def _method(variant: str | None, last4: str | None) -> PaymentMethod | None:
    if not variant and not last4:
        return None
    wallet = None
    brand = variant
    if variant:
        # Wallet variants read "applepay", "visa_applepay", "mc_googlepay", "paywithgoogle".
        for marker, name in (("applepay", "apple_pay"), ("googlepay", "google_pay"), ("paywithgoogle", "google_pay")):
            if marker in variant:
                wallet = name
                head = variant.split("_", 1)[0]
                brand = head if head != variant else None
                break
    return PaymentMethod(brand=brand, last4=last4, wallet=wallet)


def _payment_id_of(reference: str | None) -> uuid.UUID | None:
    """Our payment id from a merchant reference: the id itself or one of our idempotency keys."""
    if not reference:
        return None
    match = _KEY.match(reference)
    text = match.group(1) if match else reference
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _parse_event_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _settlement_line(row: dict[str, str]) -> SettlementLine | None:
    kind = (row.get("Type") or "").strip()
    if kind not in ("Settled", "Refunded"):
        return None  # fees, payouts, chargebacks, corrections: not a payment movement of ours
    psp = (row.get("Psp Reference") or "").strip()
    currency = (row.get("Gross Currency") or "").strip().upper()
    if not psp or not currency:
        raise ProviderError("report_format", f"settlement report row without Psp Reference or currency: {row}")
    net_currency = (row.get("Net Currency") or "").strip().upper() or currency
    if kind == "Settled":
        amount = _minor(row.get("Gross Credit (GC)"), currency)
    else:
        amount = -_minor(row.get("Gross Debit (GC)"), currency)
    fee = sum(_minor(row.get(column), net_currency) for column in _FEE_COLUMNS)
    return SettlementLine(
        provider_ref=psp,
        payment_id=_payment_id_of((row.get("Merchant Reference") or "").strip())
        or _payment_id_of((row.get("Modification Merchant Reference") or "").strip()),
        kind="capture" if kind == "Settled" else "refund",
        amount_minor=amount,
        currency=currency,
        fee_minor=fee,
        occurred_at=_report_time(row.get("Creation Date"), row.get("TimeZone")),
        line_ref=(row.get("Modification Reference") or "").strip() or None,
    )


def _minor(text: str | None, currency: str) -> int:
    """A report amount ("12.34", "1234" for JPY) in minor units of ``currency``."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return 0
    try:
        scaled = Decimal(text).scaleb(_EXPONENTS.get(currency, 2))
    except InvalidOperation as exc:
        raise ProviderError("report_format", f"not an amount in the settlement report: {text!r}") from exc
    if scaled != scaled.to_integral_value():
        raise ProviderError("report_format", f"{text} {currency} has more decimals than the currency")
    return int(scaled)


def _report_time(text: str | None, zone: str | None) -> datetime | None:
    if not text:
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise ProviderError("report_format", f"not a Creation Date: {text!r}") from exc
    zone = (zone or "UTC").strip().upper()
    offset = _ZONE_OFFSETS_H.get(zone)
    if offset is None:
        match = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", zone)
        if match is None:
            raise ProviderError("report_format", f"unknown time zone in the settlement report: {zone!r}")
        sign = 1 if match.group(1) == "+" else -1
        offset = sign * (int(match.group(2)) + int(match.group(3) or 0) / 60)
    return local.replace(tzinfo=timezone(timedelta(hours=offset))).astimezone(UTC)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
