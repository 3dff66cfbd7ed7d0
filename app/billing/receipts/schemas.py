"""msgspec structs of a receipt (the JSON the operator and driver APIs answer with)."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class ReceiptLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    """One price component; ``hold_limit`` brings the lines down to a capture the hold capped."""

    kind: str  # energy | time | session_fee | idle | minimum_adjustment | cap_adjustment | hold_limit
    description: str
    quantity: float
    unit: str  # kWh | min | "" (once)
    unit_price_minor: int
    amount_minor: int


class VatLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    rate_bp: int
    net_minor: int
    vat_minor: int
    gross_minor: int


class ReceiptRefundOut(msgspec.Struct, kw_only=True, rename="camel"):
    amount_minor: int
    status: str
    created_at: datetime


class ReceiptOut(msgspec.Struct, kw_only=True, rename="camel"):
    """Times are UTC; ``time_zone`` is the location's, in which the HTML and PDF show them."""

    payment_id: uuid.UUID
    transaction_id: uuid.UUID | None
    transaction_number: int | None
    operator_name: str
    operator_key: str  # "SE*LAD"
    location_name: str
    location_address: str
    time_zone: str
    evse_id: str  # eMI3
    charge_point: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: float
    charging_seconds: float
    idle_seconds: float
    tariff_name: str
    currency: str
    lines: list[ReceiptLineOut]
    price_minor: int  # what the session cost
    captured_minor: int  # what was taken: min(price, hold)
    refunded_minor: int
    paid_minor: int  # captured - refunded
    vat: list[VatLineOut]  # of the amount captured
    refunds: list[ReceiptRefundOut]
    payment_status: str
    provider: str
    method_brand: str | None
    method_last4: str | None
    method_wallet: str | None
    captured_at: datetime | None
