"""A stateful fake Adyen on loopback: the Checkout API calls AdyenProvider makes, the
settlement details report download, and HMAC-signed standard notifications.

Real HTTP (aiohttp, on the test's event loop: the provider reaches it from the SDK's worker
threads). It behaves like Adyen where our code depends on it:

- ``X-API-Key`` is checked (401 otherwise); a wrong merchant account is 403; missing fields
  are 422 with Adyen's error JSON (``status``, ``errorCode``, ``message``, ``errorType``).
- ``Idempotency-Key``: the same key gets the same answer, and the request is processed once.
- A capture never exceeds what is authorised, a refund never what is captured (422).
- ``additionalData.manualCapture == "true"`` keeps a payment authorised; without it the
  payment is captured at once, as Adyen's default immediate capture would.
- With ``webhook_url`` set, it posts the notification Adyen would send after an
  authorisation, capture, cancel or refund, signed with ``hmac_key``.

Usage::

    fake = AdyenFake()
    await fake.start()
    settings = fake.settings()          # AdyenSettings pointing at the fake
    psp = await fake.complete_session(hold.session_id)
    await fake.flush()                  # notifications posted in the background
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from app.core.settings import AdyenSettings

# The request's parsed JSON body, as the middleware read it.
_JSON: web.RequestKey[dict[str, Any]] = web.RequestKey("json", dict)

DEFAULT_API_KEY = "AQE-fake-adyen-api-key"
DEFAULT_MERCHANT = "LaddnatTestECOM"
DEFAULT_COMPANY = "LaddnatTest"
# 64 bytes, hex: the shape of a key from the Customer Area's webhook settings.
DEFAULT_HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056" * 2

# The settlement details report's columns, in Adyen's default order.
REPORT_COLUMNS = [
    "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
    "Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
    "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
    "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
    "Modification Merchant Reference", "Batch Number", "Reserved4", "Reserved5", "Reserved6", "Reserved7",
    "Reserved8", "Reserved9", "Reserved10",
]  # fmt: skip

_ZERO_DECIMAL = set("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
_THREE_DECIMAL = set("BHD IQD JOD KWD LYD OMR TND".split())
_SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)


def exponent(currency: str) -> int:
    return 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2


def format_amount(minor: int, currency: str) -> str:
    """Minor units as the report writes them: ``1234`` EUR -> ``12.34``, JPY -> ``1234``."""
    exp = exponent(currency)
    return str(Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp)))


def sign_item(item: dict[str, Any], hmac_key: str) -> str:
    """Adyen's HMAC of a NotificationRequestItem: HMAC-SHA256 (key from hex) over the eight
    fields joined by ``:``, base64. Written from Adyen's description, not the SDK's code, so
    the provider's verification is checked against an independent signer."""
    amount = item.get("amount") or {}
    values = {**item, "value": amount.get("value", ""), "currency": amount.get("currency", "")}
    message = ":".join(str(values.get(name) if values.get(name) is not None else "") for name in _SIGNED_FIELDS)
    digest = hmac.new(bytes.fromhex(hmac_key), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class StoredCard:
    id: str
    brand: str
    last4: str
    expiry_month: int = 3
    expiry_year: int = 2030

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "brand": self.brand,
            "expiryMonth": f"{self.expiry_month:02d}",
            "expiryYear": str(self.expiry_year),
            "holderName": "Test Shopper",
            "lastFour": self.last4,
            "name": {"visa": "VISA", "mc": "MasterCard"}.get(self.brand, self.brand),
            "type": "scheme",
            "supportedShopperInteractions": ["Ecommerce", "ContAuth"],
            "supportedRecurringProcessingModels": ["CardOnFile", "UnscheduledCardOnFile"],
        }


@dataclass
class FakeSession:
    id: str
    request: dict[str, Any]
    psp_reference: str | None = None
    stored_method_id: str | None = None


@dataclass
class Modification:
    kind: str  # capture | cancel | refund
    psp_reference: str
    reference: str | None
    amount_minor: int
    at: datetime


@dataclass
class FakePayment:
    psp_reference: str
    merchant_reference: str
    amount_minor: int
    currency: str
    status: str  # Authorised | Refused | Cancelled | Captured
    manual_capture: bool
    brand: str | None = None
    last4: str | None = None
    shopper_reference: str | None = None
    stored_method_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    captured_minor: int = 0
    refunded_minor: int = 0
    modifications: list[Modification] = field(default_factory=list)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _FailureRule:
    pattern: re.Pattern[str]
    remaining: int
    status: int
    drop: bool
    after_processing: bool


@dataclass
class _Refusal:
    reason: str
    code: str


class AdyenError(Exception):
    """An answer in Adyen's error format."""

    def __init__(self, status: int, error_code: str, message: str, error_type: str = "validation") -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": status, "errorCode": error_code, "message": message, "errorType": error_type}


class AdyenFake:
    """The fake Checkout API + report server + notification signer. See the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        merchant_account: str = DEFAULT_MERCHANT,
        company_account: str = DEFAULT_COMPANY,
        hmac_key: str = DEFAULT_HMAC_KEY,
        clock: Callable[[], datetime] | None = None,
        report_zone: tuple[str, float] = ("CET", 1),
        api_version: str = "v72",
    ) -> None:
        self.api_key = api_key
        self.merchant_account = merchant_account
        self.company_account = company_account
        self.hmac_key = hmac_key
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        # The TimeZone column of the report and the fixed offset of its Creation Dates.
        self.report_zone = report_zone
        self.api_version = api_version
        # Where notifications go (None: nowhere); set by a test that runs a webhook endpoint.
        self.webhook_url: str | None = None
        # Fees the report books on each Settled row, in minor units.
        self.commission_minor = 10
        self.markup_minor = 5

        self.sessions: dict[str, FakeSession] = {}
        self.payments: dict[str, FakePayment] = {}
        self.stored_methods: dict[str, list[StoredCard]] = {}
        self.requests: list[RecordedRequest] = []
        # (url, body, HTTP status answered or None when unreachable) per notification posted.
        self.notifications_sent: list[tuple[str, dict[str, Any], int | None]] = []

        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._failures: list[_FailureRule] = []
        self._refused_methods: dict[str, _Refusal] = {}
        self._refused_shoppers: dict[str, _Refusal] = {}
        self._report_batches: list[list[dict[str, str]]] = [[]]
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0
        self.refuse_method("refused-method")

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware])
        v = r"{version:v\d+}"
        app.router.add_post(f"/{v}/sessions", self._sessions)
        app.router.add_post(f"/{v}/payments", self._payments)
        app.router.add_post(f"/{v}/payments/{{psp}}/captures", self._captures)
        app.router.add_post(f"/{v}/payments/{{psp}}/cancels", self._cancels)
        app.router.add_post(f"/{v}/payments/{{psp}}/refunds", self._refunds)
        app.router.add_get(f"/{v}/storedPaymentMethods", self._stored_payment_methods)
        app.router.add_delete(f"/{v}/storedPaymentMethods/{{method_id}}", self._delete_stored_payment_method)
        app.router.add_get(
            r"/reports/download/MerchantAccount/{merchant}/settlement_detail_report_batch_{batch:\d+}.csv",
            self._report,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._host = host
        self._client = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self.flush()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def checkout_url(self) -> str:
        """The Checkout API base with its version, as AdyenSettings.checkout_url takes it."""
        return f"{self.base_url}/{self.api_version}"

    @property
    def report_url(self) -> str:
        return f"{self.base_url}/reports/download/MerchantAccount/{self.merchant_account}"

    def settings(self, **overrides: Any) -> AdyenSettings:
        """AdyenSettings that point the provider at this fake."""
        values: dict[str, Any] = {
            "api_key": self.api_key,
            "merchant_account": self.merchant_account,
            "hmac_key": self.hmac_key,
            "client_key": "test_FAKECLIENTKEY",
            "environment": "test",
            "checkout_url": self.checkout_url,
            "report_url": self.report_url,
        }
        values.update(overrides)
        return AdyenSettings(**values)

    # -- configuration -------------------------------------------------------------------

    def refuse_method(self, method_id: str, reason: str = "Not enough balance", code: str = "12") -> None:
        """Payments with this storedPaymentMethodId are Refused (refusalReason, refusalReasonCode)."""
        self._refused_methods[method_id] = _Refusal(reason, code)

    def refuse_shopper(self, shopper_reference: str, reason: str = "Refused", code: str = "2") -> None:
        """Every payment of this shopperReference is Refused."""
        self._refused_shoppers[shopper_reference] = _Refusal(reason, code)

    def add_stored_method(
        self,
        shopper_reference: str,
        brand: str = "visa",
        last4: str = "1111",
        *,
        method_id: str | None = None,
        expiry_month: int = 3,
        expiry_year: int = 2030,
    ) -> str:
        """Save a card for a shopper, as a finished tokenisation would; returns its id."""
        card = StoredCard(method_id or self._new_id("SPM", 14), brand, last4, expiry_month, expiry_year)
        self.stored_methods.setdefault(shopper_reference, []).append(card)
        return card.id

    def fail_next(
        self, path: str, times: int = 1, *, status: int = 500, drop: bool = False, after_processing: bool = False
    ) -> None:
        """Fail the next ``times`` requests whose path matches the regular expression ``path``:
        answer ``status`` (Adyen's error JSON), or close the connection without an answer
        (``drop``). ``after_processing``: the request takes effect first (its idempotent
        answer is stored), only the answer is lost, as when a response times out."""
        self._failures.append(_FailureRule(re.compile(path), times, status, drop, after_processing))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received whose path matches the regular expression ``path``."""
        pattern = re.compile(path)
        return [r for r in self.requests if pattern.search(r.path)]

    # -- what the shopper does -----------------------------------------------------------

    async def complete_session(
        self,
        session_id: str,
        card: str = "visa",
        last4: str = "1111",
        *,
        refused: bool = False,
        reason: str = "Refused",
        code: str = "2",
    ) -> str:
        """What Drop-in does when the shopper pays: authorises the session's payment (or has it
        refused), saves the card when the session asked to, and, with ``webhook_url`` set,
        posts the AUTHORISATION notification and waits for the answer. Returns the pspReference."""
        session = self.sessions[session_id]
        if session.psp_reference is not None:
            return session.psp_reference
        req = session.request
        shopper = req.get("shopperReference")
        refusal = _Refusal(reason, code) if refused else self._refused_shoppers.get(shopper or "")
        payment = FakePayment(
            psp_reference=self._new_psp(),
            merchant_reference=req["reference"],
            amount_minor=req["amount"]["value"],
            currency=req["amount"]["currency"],
            status="Refused" if refusal else "Authorised",
            manual_capture=_manual_capture(req),
            brand=card,
            last4=last4,
            shopper_reference=shopper,
            request=req,
        )
        self.payments[payment.psp_reference] = payment
        session.psp_reference = payment.psp_reference
        if refusal is None and req.get("storePaymentMethod") and shopper:
            session.stored_method_id = self.add_stored_method(shopper, card, last4)
            payment.stored_method_id = session.stored_method_id
        if refusal is None and not payment.manual_capture:
            self._capture_now(payment)
        if self.webhook_url:
            await self.post_notification(self._authorisation_notification(payment, refusal))
        return payment.psp_reference

    # -- notifications -------------------------------------------------------------------

    def notification_item(
        self,
        event_code: str,
        psp_reference: str,
        merchant_reference: str,
        amount: int,
        currency: str,
        success: bool = True,
        original_reference: str | None = None,
        *,
        reason: str = "",
        payment_method: str | None = None,
        additional_data: dict[str, str] | None = None,
        event_date: datetime | None = None,
        merchant_account: str | None = None,
        hmac_key: str | None = None,
        sign: bool = True,
    ) -> dict[str, Any]:
        """One NotificationRequestItem, signed with ``hmac_key`` (default: the fake's)."""
        item: dict[str, Any] = {
            "additionalData": dict(additional_data or {}),
            "amount": {"currency": currency, "value": amount},
            "eventCode": event_code,
            "eventDate": (event_date or self.clock()).astimezone(UTC).isoformat(timespec="seconds"),
            "merchantAccountCode": merchant_account or self.merchant_account,
            "merchantReference": merchant_reference,
            "pspReference": psp_reference,
            "reason": reason,
            "success": "true" if success else "false",
        }
        if original_reference is not None:
            item["originalReference"] = original_reference
        if payment_method is not None:
            item["paymentMethod"] = payment_method
        if sign:
            item["additionalData"]["hmacSignature"] = sign_item(item, hmac_key or self.hmac_key)
        return item

    def notification(
        self,
        event_code: str,
        psp_reference: str,
        merchant_reference: str,
        amount: int,
        currency: str,
        success: bool = True,
        original_reference: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """A notification request body with one signed item (options: see ``notification_item``)."""
        item = self.notification_item(
            event_code, psp_reference, merchant_reference, amount, currency, success, original_reference, **options
        )
        return self.notification_body([item])

    @staticmethod
    def notification_body(items: list[dict[str, Any]], live: bool = False) -> dict[str, Any]:
        """The request body Adyen posts: several items batched."""
        return {
            "live": "true" if live else "false",
            "notificationItems": [{"NotificationRequestItem": item} for item in items],
        }

    async def post_notification(self, body: dict[str, Any], url: str | None = None) -> int | None:
        """POST a notification body to ``url`` (default ``webhook_url``); the HTTP status, or
        None when nothing answered."""
        target = url or self.webhook_url
        if target is None:
            raise RuntimeError("no webhook URL to post the notification to")
        assert self._client is not None, "start() the fake first"
        status: int | None
        try:
            async with self._client.post(target, json=body) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = None
        self.notifications_sent.append((target, body, status))
        return status

    async def flush(self) -> None:
        """Wait until every notification posted in the background has been answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _notify_later(self, body: dict[str, Any]) -> None:
        # Adyen answers a modification first and notifies afterwards: post after the response.
        if not self.webhook_url:
            return

        async def post() -> None:
            await asyncio.sleep(0)
            await self.post_notification(body)

        task = asyncio.get_running_loop().create_task(post())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _authorisation_notification(self, payment: FakePayment, refusal: _Refusal | None) -> dict[str, Any]:
        additional = {}
        if refusal is None:
            additional = {"cardSummary": payment.last4 or "", "expiryDate": "03/2030", "authCode": "045911"}
        else:
            additional = {"refusalReasonCode": refusal.code}
        return self.notification(
            "AUTHORISATION",
            payment.psp_reference,
            payment.merchant_reference,
            payment.amount_minor,
            payment.currency,
            refusal is None,
            reason=refusal.reason if refusal else "045911:1111:03/2030",
            payment_method=payment.brand,
            additional_data=additional,
        )

    # -- settlement details report -------------------------------------------------------

    def add_report_row(self, **columns: str) -> None:
        """Add a row to the open batch, columns by their report names (missing ones empty)."""
        row = dict.fromkeys(REPORT_COLUMNS, "")
        row.update(
            {
                "Company Account": self.company_account,
                "Merchant Account": self.merchant_account,
                "Batch Number": str(len(self._report_batches)),
            }
        )
        row.update(columns)
        self._report_batches[-1].append(row)

    def add_settlement_row(
        self,
        type: str,
        psp_reference: str,
        merchant_reference: str,
        amount_minor: int,
        currency: str,
        *,
        modification_reference: str = "",
        modification_merchant_reference: str = "",
        at: datetime | None = None,
        commission_minor: int = 0,
        markup_minor: int = 0,
        payment_method: str = "visa",
    ) -> None:
        """A Settled (credit) or Refunded (debit) row, amounts in minor units."""
        local_zone = timezone(timedelta(hours=self.report_zone[1]))
        when = (at or self.clock()).astimezone(local_zone)
        gross = format_amount(amount_minor, currency)
        fees = commission_minor + markup_minor
        net = format_amount(amount_minor - fees if type == "Settled" else amount_minor + fees, currency)
        self.add_report_row(
            **{
                "Psp Reference": psp_reference,
                "Merchant Reference": merchant_reference,
                "Payment Method": payment_method,
                "Creation Date": when.strftime("%Y-%m-%d %H:%M:%S"),
                "TimeZone": self.report_zone[0],
                "Type": type,
                "Modification Reference": modification_reference,
                "Gross Currency": currency,
                "Gross Debit (GC)": gross if type != "Settled" else "",
                "Gross Credit (GC)": gross if type == "Settled" else "",
                "Exchange Rate": "1",
                "Net Currency": currency,
                "Net Debit (NC)": net if type != "Settled" else "",
                "Net Credit (NC)": net if type == "Settled" else "",
                "Commission (NC)": format_amount(commission_minor, currency) if commission_minor else "",
                "Markup (NC)": format_amount(markup_minor, currency) if markup_minor else "",
                "Payment Method Variant": payment_method,
                "Modification Merchant Reference": modification_merchant_reference,
            }
        )

    def close_batch(self) -> int:
        """Close the open batch (its report stays downloadable); later rows go to the next.
        Returns the closed batch's number."""
        self._report_batches.append([])
        return len(self._report_batches) - 1

    def report_csv(self, batch: int) -> str | None:
        """The report of batch ``batch`` (1-based), or None: no such batch or it is empty."""
        if not 1 <= batch <= len(self._report_batches) or not self._report_batches[batch - 1]:
            return None
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._report_batches[batch - 1])
        return out.getvalue()

    # -- HTTP ----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        rule = self._failure_for(request.path)
        if rule is not None and not rule.after_processing:
            return self._fail(request, rule)
        response = await self._handle(request, body, handler)
        if rule is not None:
            return self._fail(request, rule)
        return response

    async def _handle(
        self,
        request: web.Request,
        body: Any,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.headers.get("X-API-Key") != self.api_key:
            return _error_response(AdyenError(401, "000", "HTTP Status Response - Unauthorized", "security"))
        if request.path.startswith("/reports/"):
            return await handler(request)
        if request.method == "POST" and not isinstance(body, dict):
            return _error_response(AdyenError(400, "702", "Structure of the request is not valid JSON"))
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            status, stored = self._idempotent[key]
            return web.json_response(stored, status=status, headers={"Idempotent-Replayed": "true"})
        request[_JSON] = body
        try:
            response = await handler(request)
        except AdyenError as exc:
            if key and exc.status == 422:
                self._idempotent[key] = (exc.status, exc.body)
            return _error_response(exc)
        if key and isinstance(response, web.Response) and response.status < 300 and response.body is not None:
            assert isinstance(response.body, bytes)
            self._idempotent[key] = (response.status, json.loads(response.body))
        return response

    def _failure_for(self, path: str) -> _FailureRule | None:
        for rule in self._failures:
            if rule.remaining > 0 and rule.pattern.search(path):
                rule.remaining -= 1
                return rule
        return None

    @staticmethod
    def _fail(request: web.Request, rule: _FailureRule) -> web.StreamResponse:
        if rule.drop:
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("fake Adyen dropped the connection")
        return _error_response(AdyenError(rule.status, "905", "Payment details are not supported", "internal"))

    def _check_merchant(self, body: dict[str, Any]) -> None:
        _require(body, "merchantAccount")
        if body["merchantAccount"] != self.merchant_account:
            raise AdyenError(403, "901", "Invalid Merchant Account", "security")

    async def _sessions(self, request: web.Request) -> web.Response:
        body = request[_JSON]
        self._check_merchant(body)
        _require(body, "reference", "returnUrl")
        _require_amount(body)
        if body.get("storePaymentMethod") and not body.get("shopperReference"):
            raise AdyenError(422, "130", "Required field 'shopperReference' is not provided.")
        session = FakeSession(id=self._new_id("CS", 16), request=body)
        self.sessions[session.id] = session
        data = base64.b64encode(json.dumps({"id": session.id, "reference": body["reference"]}).encode()).decode()
        answer = {
            "id": session.id,
            "sessionData": "Ab02b4c0!" + data,
            "amount": body["amount"],
            "merchantAccount": body["merchantAccount"],
            "reference": body["reference"],
            "returnUrl": body["returnUrl"],
            "expiresAt": (self.clock() + timedelta(hours=1)).isoformat(timespec="seconds"),
            "mode": "embedded",
        }
        for name in ("shopperReference", "storePaymentMethod", "recurringProcessingModel", "metadata"):
            if name in body:
                answer[name] = body[name]
        return web.json_response(answer, status=201)

    async def _payments(self, request: web.Request) -> web.Response:
        body = request[_JSON]
        self._check_merchant(body)
        _require(body, "reference", "paymentMethod")
        _require_amount(body)
        method = body["paymentMethod"]
        stored_id = method.get("storedPaymentMethodId") if isinstance(method, dict) else None
        if not stored_id:
            raise AdyenError(422, "000", "The fake Adyen takes stored payment methods only", "validation")
        shopper = body.get("shopperReference")
        if not shopper:
            raise AdyenError(422, "130", "Required field 'shopperReference' is not provided.")
        refusal = self._refused_methods.get(stored_id) or self._refused_shoppers.get(shopper)
        card = next((c for c in self.stored_methods.get(shopper, []) if c.id == stored_id), None)
        if card is None and refusal is None:
            raise AdyenError(422, "800", "Contract not found")
        payment = FakePayment(
            psp_reference=self._new_psp(),
            merchant_reference=body["reference"],
            amount_minor=body["amount"]["value"],
            currency=body["amount"]["currency"],
            status="Refused" if refusal else "Authorised",
            manual_capture=_manual_capture(body),
            brand=card.brand if card else "visa",
            last4=card.last4 if card else None,
            shopper_reference=shopper,
            stored_method_id=stored_id,
            request=body,
        )
        self.payments[payment.psp_reference] = payment
        answer: dict[str, Any] = {
            "pspReference": payment.psp_reference,
            "merchantReference": payment.merchant_reference,
            "amount": body["amount"],
        }
        if refusal is not None:
            answer |= {"resultCode": "Refused", "refusalReason": refusal.reason, "refusalReasonCode": refusal.code}
        else:
            assert card is not None
            answer |= {
                "resultCode": "Authorised",
                "paymentMethod": {"brand": card.brand, "type": "scheme"},
                "additionalData": {
                    "cardSummary": card.last4,
                    "expiryDate": f"{card.expiry_month}/{card.expiry_year}",
                    "paymentMethod": card.brand,
                },
            }
            if not payment.manual_capture:
                self._capture_now(payment)
        self._notify_later(self._authorisation_notification(payment, refusal))
        return web.json_response(answer)

    def _payment(self, request: web.Request) -> FakePayment:
        payment = self.payments.get(request.match_info["psp"])
        if payment is None:
            raise AdyenError(422, "167", "Original pspReference required for this operation")
        return payment

    async def _captures(self, request: web.Request) -> web.Response:
        body = request[_JSON]
        self._check_merchant(body)
        _require_amount(body)
        payment = self._payment(request)
        value, currency = body["amount"]["value"], body["amount"]["currency"]
        if currency != payment.currency:
            raise AdyenError(422, "128", "Currency of modification does not match the payment")
        if payment.status != "Authorised":
            raise AdyenError(422, "167", f"Cannot capture a payment that is {payment.status}")
        if value <= 0 or value > payment.amount_minor:
            raise AdyenError(422, "137", "Invalid amount specified: more than authorised")
        mod = self._modify(payment, "capture", body, value)
        payment.captured_minor = value
        payment.status = "Captured"  # a single capture releases the rest of the hold
        self.add_settlement_row(
            "Settled",
            payment.psp_reference,
            payment.merchant_reference,
            value,
            currency,
            modification_reference=mod.psp_reference,
            modification_merchant_reference=mod.reference or "",
            commission_minor=self.commission_minor,
            markup_minor=self.markup_minor,
            payment_method=payment.brand or "visa",
        )
        return self._received(payment, mod, "CAPTURE", body, amount=body["amount"])

    async def _cancels(self, request: web.Request) -> web.Response:
        body = request[_JSON]
        self._check_merchant(body)
        payment = self._payment(request)
        if payment.status != "Authorised":
            raise AdyenError(422, "167", f"Cannot cancel a payment that is {payment.status}")
        mod = self._modify(payment, "cancel", body, 0)
        payment.status = "Cancelled"
        return self._received(payment, mod, "CANCELLATION", body)

    async def _refunds(self, request: web.Request) -> web.Response:
        body = request[_JSON]
        self._check_merchant(body)
        _require_amount(body)
        payment = self._payment(request)
        value, currency = body["amount"]["value"], body["amount"]["currency"]
        if currency != payment.currency:
            raise AdyenError(422, "128", "Currency of modification does not match the payment")
        if payment.status != "Captured":
            raise AdyenError(422, "167", f"Cannot refund a payment that is {payment.status}")
        if value <= 0 or value > payment.captured_minor - payment.refunded_minor:
            raise AdyenError(422, "137", "Invalid amount specified: more than captured and not yet refunded")
        mod = self._modify(payment, "refund", body, value)
        payment.refunded_minor += value
        self.add_settlement_row(
            "Refunded",
            payment.psp_reference,
            payment.merchant_reference,
            value,
            currency,
            modification_reference=mod.psp_reference,
            modification_merchant_reference=mod.reference or "",
            payment_method=payment.brand or "visa",
        )
        return self._received(payment, mod, "REFUND", body, amount=body["amount"])

    def _modify(self, payment: FakePayment, kind: str, body: dict[str, Any], value: int) -> Modification:
        mod = Modification(kind, self._new_psp(), body.get("reference"), value, self.clock())
        payment.modifications.append(mod)
        return mod

    def _received(
        self,
        payment: FakePayment,
        mod: Modification,
        event_code: str,
        body: dict[str, Any],
        amount: dict[str, Any] | None = None,
    ) -> web.Response:
        answer: dict[str, Any] = {
            "merchantAccount": self.merchant_account,
            "paymentPspReference": payment.psp_reference,
            "pspReference": mod.psp_reference,
            "status": "received",
        }
        if mod.reference is not None:
            answer["reference"] = mod.reference
        if amount is not None:
            answer["amount"] = amount
        self._notify_later(
            self.notification(
                event_code,
                mod.psp_reference,
                mod.reference or payment.merchant_reference,
                mod.amount_minor if amount is not None else payment.amount_minor,
                payment.currency,
                True,
                payment.psp_reference,
                payment_method=payment.brand,
            )
        )
        return web.json_response(answer, status=201)

    def _capture_now(self, payment: FakePayment) -> None:
        payment.captured_minor = payment.amount_minor
        payment.status = "Captured"

    async def _stored_payment_methods(self, request: web.Request) -> web.Response:
        shopper = request.query.get("shopperReference")
        merchant = request.query.get("merchantAccount")
        if not shopper or not merchant:
            raise AdyenError(422, "130", "Required query parameters shopperReference and merchantAccount")
        if merchant != self.merchant_account:
            raise AdyenError(403, "901", "Invalid Merchant Account", "security")
        cards = [card.as_json() for card in self.stored_methods.get(shopper, [])]
        return web.json_response(
            {"merchantAccount": merchant, "shopperReference": shopper, "storedPaymentMethods": cards}
        )

    async def _delete_stored_payment_method(self, request: web.Request) -> web.Response:
        shopper = request.query.get("shopperReference")
        merchant = request.query.get("merchantAccount")
        if not shopper or not merchant:
            raise AdyenError(422, "130", "Required query parameters shopperReference and merchantAccount")
        if merchant != self.merchant_account:
            raise AdyenError(403, "901", "Invalid Merchant Account", "security")
        cards = self.stored_methods.get(shopper, [])
        kept = [card for card in cards if card.id != request.match_info["method_id"]]
        if len(kept) == len(cards):
            raise AdyenError(404, "000", "Stored payment method not found", "validation")
        self.stored_methods[shopper] = kept
        return web.Response(status=204)

    async def _report(self, request: web.Request) -> web.Response:
        if request.match_info["merchant"] != self.merchant_account:
            return web.Response(status=403, text="Forbidden")
        text = self.report_csv(int(request.match_info["batch"]))
        if text is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(text=text, content_type="text/csv")

    # -- ids -----------------------------------------------------------------------------

    def _new_psp(self) -> str:
        # 16 characters, like Adyen's; unique within the fake.
        return f"F{next(self._ids):06d}{secrets.token_hex(5).upper()[:9]}"

    def _new_id(self, prefix: str, length: int) -> str:
        return prefix + secrets.token_hex(length).upper()[:length]


def _manual_capture(body: dict[str, Any]) -> bool:
    additional = body.get("additionalData")
    return isinstance(additional, dict) and str(additional.get("manualCapture", "")).lower() == "true"


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise AdyenError(422, "130", f"Required field '{name}' is not provided.")


def _require_amount(body: dict[str, Any]) -> None:
    amount = body.get("amount")
    if not isinstance(amount, dict) or "currency" not in amount or "value" not in amount:
        raise AdyenError(422, "130", "Required field 'amount' is not provided.")
    if not isinstance(amount["value"], int) or amount["value"] < 0:
        raise AdyenError(422, "137", "Invalid amount specified")


def _error_response(exc: AdyenError) -> web.Response:
    return web.json_response(exc.body, status=exc.status)
