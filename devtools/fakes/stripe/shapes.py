"""What localstripe answers, in the shape of today's Stripe API, and the ledger of balance
transactions (captures and refunds that went through the proxy) it cannot keep itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from devtools.fakes.stripe.params import expanded, first


@dataclass
class BalanceTxn:
    id: str
    created: int
    type: Literal["charge", "refund"]
    amount: int
    fee: int
    currency: str
    source: str  # ch_... / re_...
    payment_intent: str


@dataclass
class Ledger:
    captured: dict[str, int] = field(default_factory=dict)  # PaymentIntent -> captured amount
    refunded: dict[str, int] = field(default_factory=dict)
    charge_txn: dict[str, str] = field(default_factory=dict)  # charge -> our balance transaction
    txns: list[BalanceTxn] = field(default_factory=list)


class StripeShapes:
    """Part of StripeQuirksProxy: payment intents and charges in today's shape, and
    ``/v1/balance_transactions`` served from the ledger."""

    if TYPE_CHECKING:
        # Defined by StripeQuirksProxy (proxy.py).
        _ledger: Ledger
        _overlay: dict[str, dict[str, Any]]

        async def _get(self, path: str) -> dict[str, Any]: ...

    async def _shape(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        kind = obj.get("object")
        if kind == "list":
            inner = [e[len("data.") :] for e in expand if e.startswith("data.")]
            return {**obj, "data": [await self._shape(item, inner) for item in obj.get("data", [])]}
        if kind == "payment_intent":
            return await self._shape_payment_intent(obj, expand)
        if kind == "charge":
            return await self._shape_charge(obj)
        return obj

    async def _shape_payment_intent(self, pi: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        pi = dict(pi)
        pi.pop("charges", None)  # removed in API version 2022-11-15
        for k, v in self._overlay.get(pi["id"], {}).items():
            if pi.get(k) is None:
                pi[k] = v
        status = pi.get("status")
        pi["amount_capturable"] = pi["amount"] if status == "requires_capture" else 0
        pi["amount_received"] = self._ledger.captured.get(pi["id"], 0) if status == "succeeded" else 0
        charge = pi.get("latest_charge")
        if isinstance(charge, dict):
            pi["latest_charge"] = await self._shape_charge(charge) if "latest_charge" in expand else charge["id"]
        return pi

    async def _shape_charge(self, charge: dict[str, Any]) -> dict[str, Any]:
        charge = dict(charge)
        pi_id = charge.get("payment_intent")
        charge["amount_captured"] = self._ledger.captured.get(pi_id or "", 0) if charge.get("captured") else 0
        if charge.get("id") in self._ledger.charge_txn:
            charge["balance_transaction"] = self._ledger.charge_txn[charge["id"]]
        if isinstance(charge.get("payment_method"), str):
            pm = await self._get(f"/v1/payment_methods/{charge['payment_method']}")
            card = pm.get("card") or {}
            charge["payment_method_details"] = {
                "type": "card",
                "card": {
                    "brand": card.get("brand"),
                    "last4": card.get("last4"),
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                    "funding": card.get("funding"),
                    "country": card.get("country"),
                    "wallet": None,
                },
            }
        return charge

    async def _balance_transactions(self, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        bounds = {m[1]: int(v) for k, v in pairs if (m := re.fullmatch(r"created\[(gte|gt|lte|lt)\]", k))}
        checks = {
            "gte": lambda t, b: t >= b,
            "gt": lambda t, b: t > b,
            "lte": lambda t, b: t <= b,
            "lt": lambda t, b: t < b,
        }
        txns = [t for t in self._ledger.txns if all(checks[op](t.created, b) for op, b in bounds.items())]
        txns.sort(key=lambda t: t.created, reverse=True)  # newest first, as Stripe lists
        after = first(pairs, "starting_after")
        if after is not None:
            ids = [t.id for t in txns]
            txns = txns[ids.index(after) + 1 :] if after in ids else []
        limit = int(first(pairs, "limit") or 10)
        page, has_more = txns[:limit], len(txns) > limit
        expand = expanded(pairs)
        data = []
        for t in page:
            source: Any = t.source
            if "data.source" in expand or "data.source.payment_intent" in expand:
                source = await self._get(f"/v1/{'charges' if t.type == 'charge' else 'refunds'}/{t.source}")
                source = {**source, "payment_intent": t.payment_intent}
                if source.get("object") == "charge":
                    source = await self._shape_charge(source)
                if "data.source.payment_intent" in expand:
                    source["payment_intent"] = await self._shape_payment_intent(
                        await self._get(f"/v1/payment_intents/{t.payment_intent}"), []
                    )
            data.append(
                {
                    "id": t.id,
                    "object": "balance_transaction",
                    "amount": t.amount,
                    "available_on": t.created,
                    "created": t.created,
                    "currency": t.currency,
                    "description": None,
                    "fee": t.fee,
                    "fee_details": [{"amount": t.fee, "currency": t.currency, "type": "stripe_fee"}] if t.fee else [],
                    "net": t.amount - t.fee,
                    "reporting_category": t.type,
                    "source": source,
                    "status": "available",
                    "type": t.type,
                }
            )
        return {"object": "list", "url": "/v1/balance_transactions", "has_more": has_more, "data": data}
