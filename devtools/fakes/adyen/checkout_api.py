"""The Checkout API calls AdyenProvider makes: sessions, payments with a saved card, captures,
cancels, refunds and stored payment methods, with Adyen's validation and errors."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from devtools.fakes.adyen.records import (
    JSON_BODY,
    AdyenError,
    FakePayment,
    FakeSession,
    Modification,
    manual_capture,
    require,
    require_amount,
)
from devtools.fakes.adyen.state import AdyenState


class CheckoutApiMixin(AdyenState):
    """Part of AdyenFake: the Checkout API's handlers."""

    def _check_merchant(self, body: dict[str, Any]) -> None:
        require(body, "merchantAccount")
        if body["merchantAccount"] != self.merchant_account:
            raise AdyenError(403, "901", "Invalid Merchant Account", "security")

    async def _sessions(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        self._check_merchant(body)
        require(body, "reference", "returnUrl")
        require_amount(body)
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
        body = request[JSON_BODY]
        self._check_merchant(body)
        require(body, "reference", "paymentMethod")
        require_amount(body)
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
            manual_capture=manual_capture(body),
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
        body = request[JSON_BODY]
        self._check_merchant(body)
        require_amount(body)
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
        body = request[JSON_BODY]
        self._check_merchant(body)
        payment = self._payment(request)
        if payment.status != "Authorised":
            raise AdyenError(422, "167", f"Cannot cancel a payment that is {payment.status}")
        mod = self._modify(payment, "cancel", body, 0)
        payment.status = "Cancelled"
        return self._received(payment, mod, "CANCELLATION", body)

    async def _refunds(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        self._check_merchant(body)
        require_amount(body)
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
