"""The Stripe calls that move money, answered as Stripe does where localstripe does not:
creating and confirming payment intents (declines included), capture and cancel, refunds
within what is left, and setup intents that attach the card."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from devtools.fakes.stripe.params import first, nested, stripe_error, without
from devtools.fakes.stripe.shapes import BalanceTxn, StripeShapes

# Stripe's documented test payment methods that decline (https://docs.stripe.com/testing#declined-payments).
DECLINING_METHODS: dict[str, tuple[str, str | None, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "pm_card_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
}

# Parameters localstripe refuses on these endpoints; kept by the proxy and echoed back.
STRIPPED = {
    "/v1/payment_intents": (
        "description",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "automatic_payment_methods",
        "return_url",
        "receipt_email",
        "setup_future_usage",
    ),
    "/v1/setup_intents": ("automatic_payment_methods", "description", "return_url"),
    "confirm": ("return_url", "client_secret", "off_session", "use_stripe_sdk", "mandate_data"),
}
FEE_PERMILLE, FEE_FIXED = 15, 25


class PaymentRoutes(StripeShapes):
    """Part of StripeQuirksProxy: the routes that create, confirm, capture, cancel and refund."""

    if TYPE_CHECKING:
        # Defined by StripeQuirksProxy (proxy.py).
        async def _upstream(
            self, method: str, path: str, pairs: list[tuple[str, str]], auth: str
        ) -> tuple[int, dict[str, Any]]: ...

        def _emit(self, type_: str, obj: dict[str, Any]) -> None: ...

    async def _create_payment_intent(
        self, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        kept = nested(pairs, STRIPPED["/v1/payment_intents"])
        forwarded = without(pairs, STRIPPED["/v1/payment_intents"])
        method_ref = first(pairs, "payment_method")
        declined = method_ref in DECLINING_METHODS and first(pairs, "confirm") == "true"
        if declined or method_ref in DECLINING_METHODS:
            # localstripe does not know these ids: create the intent without the card.
            forwarded = without(forwarded, ("payment_method", "confirm", "off_session"))
        status, pi = await self._upstream("POST", "/v1/payment_intents", without(forwarded, ("expand",)), auth)
        if status >= 400:
            return status, pi
        self._overlay[pi["id"]] = kept
        if declined:
            assert method_ref is not None
            return await self._decline(pi["id"], method_ref)
        shaped = await self._shape(pi, expand)
        if shaped.get("status") == "requires_capture":
            self._emit("payment_intent.amount_capturable_updated", shaped)
        return status, shaped

    async def _confirm_payment_intent(
        self, pi_id: str, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        method_ref = first(pairs, "payment_method")
        if method_ref in DECLINING_METHODS:
            return await self._decline(pi_id, method_ref)
        if method_ref is not None:
            # localstripe confirms only an intent that already has its payment method.
            status, body = await self._upstream(
                "POST", f"/v1/payment_intents/{pi_id}", [("payment_method", method_ref)], auth
            )
            if status >= 400:
                return status, body
        status, pi = await self._upstream("POST", f"/v1/payment_intents/{pi_id}/confirm", [], auth)
        if status >= 400:
            return status, pi
        shaped = await self._shape(pi, expand)
        if shaped.get("status") == "requires_capture":
            self._emit("payment_intent.amount_capturable_updated", shaped)
        return status, shaped

    async def _decline(self, pi_id: str, method_ref: str) -> tuple[int, dict[str, Any]]:
        code, decline_code, message = DECLINING_METHODS[method_ref]
        error: dict[str, Any] = {"type": "card_error", "code": code, "message": message}
        if decline_code is not None:
            error["decline_code"] = decline_code
        self._overlay.setdefault(pi_id, {})["last_payment_error"] = {
            **error,
            "payment_method": {"id": method_ref, "object": "payment_method", "type": "card"},
        }
        pi = await self._shape(await self._get(f"/v1/payment_intents/{pi_id}"), [])
        self._emit("payment_intent.payment_failed", pi)
        return 402, {
            "error": {
                **error,
                "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                "payment_intent": pi,
            }
        }

    async def _finish_payment_intent(
        self, pi_id: str, action: str, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        before = await self._get(f"/v1/payment_intents/{pi_id}")
        forwarded = [(k, v) for k, v in pairs if k == "amount_to_capture"] if action == "capture" else []
        if action == "capture" and before.get("status") != "requires_capture":
            return stripe_error(
                400,
                "invalid_request_error",
                f"This PaymentIntent could not be captured because it has a status of {before.get('status')}.",
                code="payment_intent_unexpected_state",
            )
        status, pi = await self._upstream("POST", f"/v1/payment_intents/{pi_id}/{action}", forwarded, auth)
        if status >= 400:
            return status, pi
        if action == "capture":
            amount = int(first(pairs, "amount_to_capture") or before["amount"])
            charge = before["latest_charge"]["id"]
            self._ledger.captured[pi_id] = amount
            txn = BalanceTxn(
                id=f"txn_{secrets.token_hex(12)}",
                created=int(time.time()),
                type="charge",
                amount=amount,
                fee=amount * FEE_PERMILLE // 1000 + FEE_FIXED,
                currency=before["currency"],
                source=charge,
                payment_intent=pi_id,
            )
            self._ledger.txns.append(txn)
            self._ledger.charge_txn[charge] = txn.id
        shaped = await self._shape(pi, expand)
        self._emit("payment_intent.succeeded" if action == "capture" else "payment_intent.canceled", shaped)
        return status, shaped

    async def _create_refund(self, pairs: list[tuple[str, str]], auth: str) -> tuple[int, dict[str, Any]]:
        pi_id = first(pairs, "payment_intent")
        amount = first(pairs, "amount")
        if pi_id is not None:
            captured = self._ledger.captured.get(pi_id, 0)
            left = captured - self._ledger.refunded.get(pi_id, 0)
            wanted = int(amount) if amount is not None else left
            if captured == 0:
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "This PaymentIntent does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
            if wanted > left:
                return stripe_error(
                    400,
                    "invalid_request_error",
                    f"Refund amount ({wanted}) is greater than unrefunded amount on charge ({left})",
                    code="amount_too_large",
                )
            pairs = [*(p for p in pairs if p[0] != "amount"), ("amount", str(wanted))]
        status, refund = await self._upstream("POST", "/v1/refunds", without(pairs, ("expand",)), auth)
        if status >= 400:
            return status, refund
        refund_pi = refund.get("payment_intent") or pi_id
        if refund_pi is not None and refund.get("status") == "succeeded":
            self._ledger.refunded[refund_pi] = self._ledger.refunded.get(refund_pi, 0) + refund["amount"]
            self._ledger.txns.append(
                BalanceTxn(
                    id=f"txn_{secrets.token_hex(12)}",
                    created=int(time.time()),
                    type="refund",
                    amount=-refund["amount"],
                    fee=0,
                    currency=refund["currency"],
                    source=refund["id"],
                    payment_intent=refund_pi,
                )
            )
        refund = {**refund, "payment_intent": refund_pi}
        refund.pop("date", None)
        self._emit("refund.created", refund)
        return status, refund

    async def _confirm_setup_intent(
        self, si_id: str, pairs: list[tuple[str, str]], auth: str
    ) -> tuple[int, dict[str, Any]]:
        status, si = await self._upstream(
            "POST", f"/v1/setup_intents/{si_id}/confirm", without(pairs, STRIPPED["confirm"]), auth
        )
        if status < 400 and si.get("status") == "succeeded" and si.get("customer") and si.get("payment_method"):
            # Stripe attaches the saved card to the intent's customer; localstripe does not.
            attach_status, body = await self._upstream(
                "POST", f"/v1/payment_methods/{si['payment_method']}/attach", [("customer", si["customer"])], auth
            )
            if attach_status >= 400:
                return attach_status, body
        return status, si
