"""msgspec structs of the owner reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

GroupBy = Literal["location", "charger"]
Period = Literal["day", "month"]


class RevenueRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    period: str  # "2026-03-05" or "2026-03" (UTC)
    group_id: uuid.UUID | None  # the location or charge point; None: a charger at no location
    group_name: str
    currency: str
    sessions: int
    paid_sessions: int
    on_account_sessions: int
    energy_wh: int
    captured_minor: int
    refunded_minor: int
    on_account_minor: int
    revenue_minor: int  # captured - refunded + on account


class RevenueTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    sessions: int
    energy_wh: int
    captured_minor: int
    refunded_minor: int
    on_account_minor: int
    revenue_minor: int


class RevenueReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    group_by: str
    period: str
    time_zone: str  # "UTC": the clock of days and months
    rows: list[RevenueRowOut]
    totals: list[RevenueTotalOut]


class RefundRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    payment_id: uuid.UUID
    seq: int
    amount_minor: int
    currency: str
    status: str
    reason: str
    provider: str
    provider_ref: str | None
    evse_id: str
    location: str
    created_at: datetime


class AmountTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    count: int
    amount_minor: int


class RefundReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    items: list[RefundRowOut]
    totals: list[AmountTotalOut]  # succeeded refunds only


class HoldRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    payment_id: uuid.UUID
    status: str
    provider: str
    provider_ref: str | None
    currency: str
    hold_minor: int
    evse_id: str
    location: str
    transaction_id: uuid.UUID | None
    held_since: datetime
    age_seconds: int


class HoldReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    as_of: datetime
    items: list[HoldRowOut]  # oldest first
    totals: list[AmountTotalOut]
