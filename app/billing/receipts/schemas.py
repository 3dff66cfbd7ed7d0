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


class SellerOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The seller (the tenant) as the document was issued; "" for what was not set."""

    legal_name: str = ""
    street_address: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    vat_number: str = ""
    org_number: str = ""
    contact_email: str = ""


class CreditNoteRefOut(msgspec.Struct, kw_only=True, rename="camel"):
    """A credit note issued against the receipt (one per completed refund)."""

    refund_seq: int
    number: str
    issued_at: datetime
    gross_minor: int  # negative
    vat_minor: int  # negative


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
    # The simplified VAT invoice: its number (the tenant's gapless receipt series), date of
    # issue, the seller, and the credit notes that correct it.
    receipt_number: str
    issued_at: datetime
    seller: SellerOut
    credit_notes: list[CreditNoteRefOut]


class CreditNoteOut(msgspec.Struct, kw_only=True, rename="camel"):
    """A credit note: corrects the receipt ``original_receipt_number`` by a refund. Amounts
    are negative; ``vat`` is the VAT corrected, ``corrected_*`` the receipt after it."""

    number: str
    issued_at: datetime
    original_receipt_number: str
    original_issued_at: datetime
    payment_id: uuid.UUID
    refund_seq: int
    reason: str
    seller: SellerOut
    operator_name: str
    operator_key: str
    location_name: str
    location_address: str
    time_zone: str
    evse_id: str
    charge_point: str
    transaction_number: int | None
    currency: str
    lines: list[ReceiptLineOut]
    total_minor: int  # negative: what was given back
    vat: list[VatLineOut]  # negative: the VAT corrected
    corrected_gross_minor: int  # the receipt's total after its credit notes up to this one
    corrected_vat_minor: int
