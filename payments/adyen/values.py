"""Reading Adyen's answers, notifications and report rows: loose JSON and CSV values, our
payment id behind a merchant reference (see provider.py on references), the card or wallet
behind a payment method variant.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from payments.provider import PaymentMethod

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Our idempotency keys, ``payments.provider.idempotency_key``.
_KEY = re.compile(rf"^laddnat-({_UUID.pattern})(?:-.*)?$")


def payment_id_of(reference: str | None) -> uuid.UUID | None:
    """Our payment id from a merchant reference: the id itself or one of our idempotency keys."""
    if not reference:
        return None
    match = _KEY.match(reference)
    text = match.group(1) if match else reference
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def method_of(variant: str | None, last4: str | None) -> PaymentMethod | None:
    """The card brand or wallet of an Adyen payment method variant, with the last four digits."""
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


def str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def dict_or_empty(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
