"""What the fake Adyen keeps: sessions, payments and their modifications, saved cards, the
requests it received, and Adyen's error answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

# The request's parsed JSON body, as the middleware read it.
JSON_BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("json", dict)

DEFAULT_API_KEY = "AQE-fake-adyen-api-key"
DEFAULT_MERCHANT = "LaddnatTestECOM"
DEFAULT_COMPANY = "LaddnatTest"
# 64 bytes, hex: the shape of a key from the Customer Area's webhook settings.
DEFAULT_HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056" * 2


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
class FailureRule:
    pattern: re.Pattern[str]
    remaining: int
    status: int
    drop: bool
    after_processing: bool


@dataclass
class Refusal:
    reason: str
    code: str


class AdyenError(Exception):
    """An answer in Adyen's error format."""

    def __init__(self, status: int, error_code: str, message: str, error_type: str = "validation") -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": status, "errorCode": error_code, "message": message, "errorType": error_type}


def error_response(exc: AdyenError) -> web.Response:
    return web.json_response(exc.body, status=exc.status)


def manual_capture(body: dict[str, Any]) -> bool:
    additional = body.get("additionalData")
    return isinstance(additional, dict) and str(additional.get("manualCapture", "")).lower() == "true"


def require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise AdyenError(422, "130", f"Required field '{name}' is not provided.")


def require_amount(body: dict[str, Any]) -> None:
    amount = body.get("amount")
    if not isinstance(amount, dict) or "currency" not in amount or "value" not in amount:
        raise AdyenError(422, "130", "Required field 'amount' is not provided.")
    if not isinstance(amount["value"], int) or amount["value"] < 0:
        raise AdyenError(422, "137", "Invalid amount specified")
