"""Reconciliation: our ledger of captures and refunds against what the PSP says it moved
(Stripe balance transactions, Adyen's settlement details report).

The unit compared is one payment's capture, or the sum of one payment's refunds, keyed by
our payment id (the PSP line's ``payment_id``, else found by its ``provider_ref``). Both
sides are read over the range widened by ``slack`` on each side, so that a capture we
recorded at 23:59 and the PSP booked at 00:01 still meet; a unit is reported when either
side has a part of it inside [since, until). Amounts use the PSP's sign: captures
positive, refunds negative.

- missing: we captured or refunded; the PSP has no line for it;
- extra: the PSP moved money we have no capture or refund for (or no payment at all);
- wrong_amount: both sides, different sums;
- currency_mismatch: both sides, different currencies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import utcnow
from app.core.errors import DomainError
from payments.models import Payment, Refund
from payments.provider import ProviderError, SettlementLine
from payments.receipts import PAID_STATUSES
from payments.registry import Providers
from payments.reports import check_range

MismatchKind = Literal["missing", "extra", "wrong_amount", "currency_mismatch"]
EntryKind = Literal["capture", "refund"]
DEFAULT_SLACK = timedelta(days=1)


class SettlementsUnavailable(DomainError):
    code = "reconciliation.provider_unavailable"
    status = 502
    title = "The payment provider did not give its settlement lines"


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


# -- the comparison (pure) ------------------------------------------------------------------


@dataclass
class Side:
    """One side of one unit: its entries' sum, currencies, times, references."""

    amount_minor: int = 0
    currencies: set[str] = field(default_factory=set)
    times: list[datetime | None] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    fee_minor: int = 0

    def add(self, amount: int, currency: str, at: datetime | None, ref: str | None = None, fee: int = 0) -> None:
        self.amount_minor += amount
        self.currencies.add(currency.upper())
        self.times.append(at)
        self.fee_minor += fee
        if ref:
            self.refs.append(ref)

    def touches(self, since: datetime, until: datetime) -> bool:
        # A PSP line without a time was given for the range asked: take it as inside.
        return any(t is None or since <= t < until for t in self.times)

    @property
    def currency(self) -> str | None:
        return ",".join(sorted(self.currencies)) or None


@dataclass
class Unit:
    entry: EntryKind
    payment_id: uuid.UUID | None
    provider_ref: str | None
    ours: Side | None = None
    psp: Side | None = None
    # Set when the PSP moved money for a payment of ours that took none: why we have nothing.
    our_status: str | None = None


def compare(units: Sequence[Unit], since: datetime, until: datetime) -> tuple[int, list[MismatchOut]]:
    """(matched, mismatches) of the units with a part inside [since, until)."""
    matched = 0
    mismatches: list[MismatchOut] = []
    for u in units:
        inside = (u.ours is not None and u.ours.touches(since, until)) or (
            u.psp is not None and u.psp.touches(since, until)
        )
        if not inside:
            continue
        kind: MismatchKind | None
        if u.psp is None:
            kind, detail = "missing", f"we recorded this {u.entry}; the PSP has no line for it"
        elif u.ours is None:
            kind = "extra"
            if u.payment_id is None:
                detail = f"the PSP reports a {u.entry} of a payment we do not know"
            elif u.our_status is not None and u.entry == "capture":
                detail = f"the PSP reports a capture; our payment is {u.our_status}"
            else:
                detail = f"the PSP reports a {u.entry} we have no record of"
        elif u.ours.currencies != u.psp.currencies:
            kind, detail = "currency_mismatch", f"we recorded {u.ours.currency}, the PSP {u.psp.currency}"
        elif u.ours.amount_minor != u.psp.amount_minor:
            kind = "wrong_amount"
            detail = f"we recorded {u.ours.amount_minor}, the PSP {u.psp.amount_minor} (minor units)"
        else:
            kind, detail = None, ""
        if kind is None:
            matched += 1
            continue
        mismatches.append(
            MismatchOut(
                kind=kind,
                entry=u.entry,
                payment_id=u.payment_id,
                provider_ref=u.provider_ref,
                ours_minor=u.ours.amount_minor if u.ours is not None else None,
                psp_minor=u.psp.amount_minor if u.psp is not None else None,
                ours_currency=u.ours.currency if u.ours is not None else None,
                psp_currency=u.psp.currency if u.psp is not None else None,
                line_refs=list(u.psp.refs) if u.psp is not None else [],
                detail=detail,
            )
        )
    order = {"missing": 0, "extra": 1, "wrong_amount": 2, "currency_mismatch": 3}
    mismatches.sort(key=lambda m: (order[m.kind], m.entry, str(m.payment_id), m.provider_ref or ""))
    return matched, mismatches


def totals_of(units: Sequence[Unit], since: datetime, until: datetime) -> list[ReconciliationTotalOut]:
    totals: dict[str, ReconciliationTotalOut] = {}

    def bucket(currency: str) -> ReconciliationTotalOut:
        return totals.setdefault(
            currency,
            ReconciliationTotalOut(
                currency=currency,
                ours_captured_minor=0,
                psp_captured_minor=0,
                ours_refunded_minor=0,
                psp_refunded_minor=0,
                psp_fee_minor=0,
            ),
        )

    for u in units:
        if not ((u.ours and u.ours.touches(since, until)) or (u.psp and u.psp.touches(since, until))):
            continue
        if u.ours is not None and u.ours.currency:
            t = bucket(u.ours.currency)
            if u.entry == "capture":
                t.ours_captured_minor += u.ours.amount_minor
            else:
                t.ours_refunded_minor += u.ours.amount_minor
        if u.psp is not None and u.psp.currency:
            t = bucket(u.psp.currency)
            if u.entry == "capture":
                t.psp_captured_minor += u.psp.amount_minor
            else:
                t.psp_refunded_minor += u.psp.amount_minor
            t.psp_fee_minor += u.psp.fee_minor
    return [totals[c] for c in sorted(totals)]


# -- the service ----------------------------------------------------------------------------


class Reconciler:
    def __init__(self, db: AsyncSession, providers: Providers, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.providers = providers
        self.clock = clock

    async def run(
        self, provider_name: str, since: datetime, until: datetime, *, slack: timedelta = DEFAULT_SLACK
    ) -> ReconciliationOut:
        check_range(since, until)
        provider = self.providers.get(provider_name)
        lo, hi = since - slack, until + slack
        try:
            lines = await provider.settlements(lo, hi)
        except ProviderError as err:
            raise SettlementsUnavailable(f"{provider_name}: {err.message}") from err
        units = await self._units(provider_name, lines, lo, hi)
        matched, mismatches = compare(units, since, until)
        return ReconciliationOut(
            provider=provider_name,
            since=since,
            until=until,
            ran_at=self.clock(),
            matched=matched,
            mismatches=mismatches,
            totals=totals_of(units, since, until),
        )

    async def _units(self, provider: str, lines: Sequence[SettlementLine], lo: datetime, hi: datetime) -> list[Unit]:
        units: dict[tuple[EntryKind, str], Unit] = {}

        def unit(entry: EntryKind, payment: Payment | None, ref: str | None) -> Unit:
            key = str(payment.id) if payment is not None else f"ref:{ref}"
            return units.setdefault(
                (entry, key),
                Unit(entry=entry, payment_id=payment.id if payment is not None else None, provider_ref=ref),
            )

        # Ours: captures settled, and refunds that went through, in the widened range.
        captured = await self.db.scalars(
            select(Payment).where(
                Payment.provider == provider,
                Payment.status.in_(PAID_STATUSES),
                Payment.captured_minor > 0,
                Payment.settled_at >= lo,
                Payment.settled_at < hi,
            )
        )
        for p in captured:
            u = unit("capture", p, p.provider_ref)
            u.ours = u.ours or Side()
            u.ours.add(p.captured_minor, p.currency, p.capture_confirmed_at or p.settled_at)
        refunded = await self.db.execute(
            select(Refund, Payment)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Payment.provider == provider,
                Refund.status == "succeeded",
                Refund.created_at >= lo,
                Refund.created_at < hi,
            )
        )
        for r, p in refunded:
            u = unit("refund", p, p.provider_ref)
            u.ours = u.ours or Side()
            u.ours.add(-r.amount_minor, p.currency, r.created_at, r.provider_ref)

        # Theirs, each line put with the payment it names.
        payments = await self._payments_of(provider, lines)
        for line in lines:
            payment = (payments.get(str(line.payment_id)) if line.payment_id else None) or payments.get(
                f"ref:{line.provider_ref}"
            )
            u = unit(line.kind, payment, line.provider_ref)
            u.psp = u.psp or Side()
            u.psp.add(line.amount_minor, line.currency, line.occurred_at, line.line_ref, line.fee_minor)
            if payment is not None and u.ours is None:
                u.our_status = payment.status
        return list(units.values())

    async def _payments_of(self, provider: str, lines: Sequence[SettlementLine]) -> dict[str, Payment]:
        """Our payments the lines name, by "<id>" and by "ref:<provider_ref>"."""
        ids = {line.payment_id for line in lines if line.payment_id is not None}
        refs = {line.provider_ref for line in lines if line.provider_ref}
        found: dict[str, Payment] = {}
        if not ids and not refs:
            return found
        # Chunks keep the IN lists well under every driver's parameter limit.
        id_list, ref_list = sorted(ids, key=str), sorted(refs)
        for i in range(0, max(len(id_list), len(ref_list)), 500):
            conditions = []
            if id_list[i : i + 500]:
                conditions.append(Payment.id.in_(id_list[i : i + 500]))
            if ref_list[i : i + 500]:
                conditions.append(Payment.provider_ref.in_(ref_list[i : i + 500]))
            rows = await self.db.scalars(select(Payment).where(Payment.provider == provider, or_(*conditions)))
            for p in rows:
                found[str(p.id)] = p
                if p.provider_ref:
                    found[f"ref:{p.provider_ref}"] = p
        return found
