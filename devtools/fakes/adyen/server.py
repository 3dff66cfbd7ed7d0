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

The package's modules: server.py (this: lifecycle, configuration, the shopper's side, HTTP
plumbing with idempotency and injected failures), checkout_api.py, notifications.py,
settlement.py, records.py, state.py.

Usage::

    fake = AdyenFake()
    await fake.start()
    settings = fake.settings()          # AdyenSettings pointing at the fake
    psp = await fake.complete_session(hold.session_id)
    await fake.flush()                  # notifications posted in the background
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from app.core.settings import AdyenSettings
from devtools.fakes.adyen.checkout_api import CheckoutApiMixin
from devtools.fakes.adyen.notifications import NotificationsMixin
from devtools.fakes.adyen.records import (
    JSON_BODY,
    AdyenError,
    FailureRule,
    FakePayment,
    RecordedRequest,
    Refusal,
    StoredCard,
    error_response,
    manual_capture,
)
from devtools.fakes.adyen.settlement import SettlementReportMixin
from devtools.fakes.adyen.state import AdyenState


class AdyenFake(CheckoutApiMixin, NotificationsMixin, SettlementReportMixin, AdyenState):
    """The fake Checkout API + report server + notification signer. See the module docstring."""

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

    def refuse_method(self, method_id: str, reason: str = "Not enough balance", code: str = "12") -> None:
        """Payments with this storedPaymentMethodId are Refused (refusalReason, refusalReasonCode)."""
        self._refused_methods[method_id] = Refusal(reason, code)

    def refuse_shopper(self, shopper_reference: str, reason: str = "Refused", code: str = "2") -> None:
        """Every payment of this shopperReference is Refused."""
        self._refused_shoppers[shopper_reference] = Refusal(reason, code)

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
        self._failures.append(FailureRule(re.compile(path), times, status, drop, after_processing))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received whose path matches the regular expression ``path``."""
        pattern = re.compile(path)
        return [r for r in self.requests if pattern.search(r.path)]

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
        refusal = Refusal(reason, code) if refused else self._refused_shoppers.get(shopper or "")
        payment = FakePayment(
            psp_reference=self._new_psp(),
            merchant_reference=req["reference"],
            amount_minor=req["amount"]["value"],
            currency=req["amount"]["currency"],
            status="Refused" if refusal else "Authorised",
            manual_capture=manual_capture(req),
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
            return error_response(AdyenError(401, "000", "HTTP Status Response - Unauthorized", "security"))
        if request.path.startswith("/reports/"):
            return await handler(request)
        if request.method == "POST" and not isinstance(body, dict):
            return error_response(AdyenError(400, "702", "Structure of the request is not valid JSON"))
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            status, stored = self._idempotent[key]
            return web.json_response(stored, status=status, headers={"Idempotent-Replayed": "true"})
        request[JSON_BODY] = body
        try:
            response = await handler(request)
        except AdyenError as exc:
            if key and exc.status == 422:
                self._idempotent[key] = (exc.status, exc.body)
            return error_response(exc)
        if key and isinstance(response, web.Response) and response.status < 300 and response.body is not None:
            assert isinstance(response.body, bytes)
            self._idempotent[key] = (response.status, json.loads(response.body))
        return response

    def _failure_for(self, path: str) -> FailureRule | None:
        for rule in self._failures:
            if rule.remaining > 0 and rule.pattern.search(path):
                rule.remaining -= 1
                return rule
        return None

    @staticmethod
    def _fail(request: web.Request, rule: FailureRule) -> web.StreamResponse:
        if rule.drop:
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("fake Adyen dropped the connection")
        return error_response(AdyenError(rule.status, "905", "Payment details are not supported", "internal"))
