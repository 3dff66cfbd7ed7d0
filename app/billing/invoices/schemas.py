"""msgspec structs of fleet accounts, their id tokens and invoices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated

import msgspec

from app.billing.models import FleetAccount, Invoice
from app.core.http import Page

Month = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


class FleetAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    billing_email: Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    organisation_number: Annotated[str, msgspec.Meta(max_length=40)] = ""
    vat_number: Annotated[str, msgspec.Meta(max_length=40)] = ""
    address: Annotated[str, msgspec.Meta(max_length=500)] = ""
    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    # Absent: the caller's operator company (the only one an operator may name).
    operator_id: uuid.UUID | None = None


class FleetAccountOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID
    name: str
    organisation_number: str
    vat_number: str
    billing_email: str
    address: str
    currency: str
    payment_terms_days: int
    created_at: datetime
    tokens: list[str]

    @classmethod
    def of(cls, a: FleetAccount, tokens: Sequence[str]) -> FleetAccountOut:
        return cls(
            id=a.id,
            operator_id=a.operator_id,
            name=a.name,
            organisation_number=a.organisation_number,
            vat_number=a.vat_number,
            billing_email=a.billing_email,
            address=a.address,
            currency=a.currency,
            payment_terms_days=a.payment_terms_days,
            created_at=a.created_at,
            tokens=list(tokens),
        )


class FleetAccountPageOut(Page, kw_only=True):
    items: list[FleetAccountOut]


class FleetTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    id_token: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]


class FleetTokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    id_token: str
    fleet_account_id: uuid.UUID
    created_at: datetime


class IssueInvoiceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    month: Month  # "YYYY-MM", a calendar month in UTC
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class InvoiceLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    """One session; stored as this JSON in ``Invoice.lines``."""

    transaction_id: uuid.UUID
    transaction_number: int
    id_token: str
    evse_id: str
    location: str
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    vat_rate_bp: int
    net_minor: int
    vat_minor: int
    total_minor: int  # gross


class InvoiceVatOut(msgspec.Struct, kw_only=True, rename="camel"):
    rate_bp: int
    net_minor: int
    vat_minor: int
    total_minor: int


class InvoicePartyOut(msgspec.Struct, kw_only=True, rename="camel"):
    name: str
    organisation_number: str = ""
    vat_number: str = ""
    address: str = ""
    email: str = ""


class InvoiceOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: str
    operator_id: uuid.UUID
    fleet_account_id: uuid.UUID
    seller: InvoicePartyOut
    buyer: InvoicePartyOut
    period_start: date
    period_end: date  # exclusive
    time_zone: str  # the months' clock: always "UTC"
    currency: str
    net_minor: int
    vat_minor: int
    total_minor: int
    vat: list[InvoiceVatOut]
    lines: list[InvoiceLineOut]
    issued_at: datetime
    due_on: date
    notes: str


class InvoiceSummaryOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: str
    fleet_account_id: uuid.UUID
    period_start: date
    period_end: date
    currency: str
    total_minor: int
    issued_at: datetime
    due_on: date

    @classmethod
    def of(cls, i: Invoice) -> InvoiceSummaryOut:
        return cls(
            id=i.id,
            number=i.number,
            fleet_account_id=i.fleet_account_id,
            period_start=i.period_start,
            period_end=i.period_end,
            currency=i.currency,
            total_minor=i.total_minor,
            issued_at=i.issued_at,
            due_on=i.due_on,
        )


class InvoicePageOut(Page, kw_only=True):
    items: list[InvoiceSummaryOut]
