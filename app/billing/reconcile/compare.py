"""The comparison of our side and the PSP's, unit by unit (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.billing.reconcile.schemas import EntryKind, MismatchKind, MismatchOut, ReconciliationTotalOut


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
