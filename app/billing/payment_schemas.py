"""msgspec structs of the operator's payments API: a payment with its transitions and refunds, refunds asked for."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from app.core.http import Page
from app.tariffs.pricing import MAX_AMOUNT_MINOR
from payments.models import Payment, PaymentTransition, Refund


class RefundIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    # Minor units; absent: everything captured and not yet refunded. The service checks it
    # against what is left to refund; the bounds keep absurd numbers out of the ledger.
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT_MINOR)] | None = None
    reason: str = msgspec.field(default="")


class RefundOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    seq: int
    amount_minor: int
    status: str
    reason: str
    provider_ref: str | None
    created_at: datetime

    @classmethod
    def of(cls, r: Refund) -> RefundOut:
        return cls(
            id=r.id,
            seq=r.seq,
            amount_minor=r.amount_minor,
            status=r.status,
            reason=r.reason,
            provider_ref=r.provider_ref,
            created_at=r.created_at,
        )


class TransitionOut(msgspec.Struct, kw_only=True, rename="camel"):
    from_status: str
    to_status: str
    action: str
    source: str
    amount_minor: int | None
    event_id: str | None
    detail: str | None
    at: datetime

    @classmethod
    def of(cls, t: PaymentTransition) -> TransitionOut:
        return cls(
            from_status=t.from_status,
            to_status=t.to_status,
            action=t.action,
            source=t.source,
            amount_minor=t.amount_minor,
            event_id=t.event_id,
            detail=t.detail,
            at=t.at,
        )


class PaymentOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    provider: str
    provider_ref: str | None
    status: str
    currency: str
    hold_minor: int
    amount_due_minor: int | None
    captured_minor: int
    refunded_minor: int
    evse_id: uuid.UUID
    transaction_id: uuid.UUID | None
    method_brand: str | None
    method_last4: str | None
    method_wallet: str | None
    failure_code: str | None
    created_at: datetime
    authorised_at: datetime | None
    settled_at: datetime | None
    capture_confirmed_at: datetime | None
    transitions: list[TransitionOut] | None = None
    refunds: list[RefundOut] | None = None

    @classmethod
    def of(
        cls,
        p: Payment,
        transitions: list[PaymentTransition] | None = None,
        refunds: list[Refund] | None = None,
    ) -> PaymentOut:
        return cls(
            id=p.id,
            provider=p.provider,
            provider_ref=p.provider_ref,
            status=p.status,
            currency=p.currency,
            hold_minor=p.hold_minor,
            amount_due_minor=p.amount_due_minor,
            captured_minor=p.captured_minor,
            refunded_minor=p.refunded_minor,
            evse_id=p.evse_id,
            transaction_id=p.transaction_id,
            method_brand=p.method_brand,
            method_last4=p.method_last4,
            method_wallet=p.method_wallet,
            failure_code=p.failure_code,
            created_at=p.created_at,
            authorised_at=p.authorised_at,
            settled_at=p.settled_at,
            capture_confirmed_at=p.capture_confirmed_at,
            transitions=[TransitionOut.of(t) for t in transitions] if transitions is not None else None,
            refunds=[RefundOut.of(r) for r in refunds] if refunds is not None else None,
        )


class PaymentPageOut(Page, kw_only=True):
    items: list[PaymentOut]
