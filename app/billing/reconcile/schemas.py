"""msgspec structs of a reconciliation run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

MismatchKind = Literal["missing", "extra", "wrong_amount", "currency_mismatch"]
EntryKind = Literal["capture", "refund"]


class ReconciliationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    provider: Literal["stripe", "adyen"]
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    # How far past the range both sides are read to pair entries booked across its edge.
    slack_hours: Annotated[int, msgspec.Meta(ge=0, le=168)] = 24


class MismatchOut(msgspec.Struct, kw_only=True, rename="camel"):
    kind: MismatchKind
    entry: EntryKind
    payment_id: uuid.UUID | None
    provider_ref: str | None
    ours_minor: int | None
    psp_minor: int | None
    ours_currency: str | None
    psp_currency: str | None
    line_refs: list[str]
    detail: str


class ReconciliationTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    ours_captured_minor: int
    psp_captured_minor: int
    ours_refunded_minor: int  # negative
    psp_refunded_minor: int  # negative
    psp_fee_minor: int


class ReconciliationOut(msgspec.Struct, kw_only=True, rename="camel"):
    provider: str
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    ran_at: datetime
    matched: int
    mismatches: list[MismatchOut]
    totals: list[ReconciliationTotalOut]  # of the units reported on (in range)
