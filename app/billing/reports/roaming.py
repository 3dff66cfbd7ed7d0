"""Roaming revenue and CDR deliveries: what the eMSPs are billed through CDRs.

Billing does not import roaming (roaming is an area above it): it states here what it
needs, ``RoamingLedger``, and the application wires roaming's implementation in
(``app.state.roaming_ledger``; app/roaming/cdrs/ledger.py). Without one, there is no
roaming and the reports are empty.

A roaming session is never paid by card: it has no payment (a payment attaches to a
session only through its own one-session token), so the revenue report's paid and
on-account rows never count it; its money is its CDR's total, billed to the partner.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.periods import check_range

DeliveryStatus = Literal["sent", "pending", "failed", "not_pushed"]


class PartnerRevenueRowOut(msgspec.Struct, kw_only=True, rename="camel"):
    partner_id: uuid.UUID
    partner_name: str
    country_code: str | None
    party_id: str | None
    currency: str
    cdrs: int
    energy_wh: int
    revenue_minor: int  # the CDRs' total_cost incl. VAT


class RoamingTotalOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    cdrs: int
    energy_wh: int
    revenue_minor: int


class RoamingRevenueReportOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    rows: list[PartnerRevenueRowOut]
    totals: list[RoamingTotalOut]


class CdrDeliveryOut(msgspec.Struct, kw_only=True, rename="camel"):
    partner_id: uuid.UUID
    partner_name: str
    partner_country_code: str | None
    partner_party_id: str | None
    cdr_id: str
    session_id: uuid.UUID
    currency: str
    total_minor: int  # total_cost incl. VAT
    energy_wh: int
    made_at: datetime
    # sent: the partner took the POST; pending: not yet (or retrying); failed: we gave up;
    # not_pushed: the partner has no CDRs receiver and pulls them (GET).
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class PartnerDeliveriesOut(msgspec.Struct, kw_only=True, rename="camel"):
    partner_id: uuid.UUID
    partner_name: str
    sent: int
    pending: int
    failed: int
    not_pushed: int


class CdrReconciliationOut(msgspec.Struct, kw_only=True, rename="camel"):
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    partners: list[PartnerDeliveriesOut]
    items: list[CdrDeliveryOut]  # oldest first


class RoamingLedger(Protocol):
    """The CDRs made in [since, until) for ``tenant_id``'s partners (None: every tenant's)."""

    async def cdrs(
        self, db: AsyncSession, tenant_id: uuid.UUID | None, since: datetime, until: datetime
    ) -> list[CdrDeliveryOut]: ...


class RoamingReports:
    def __init__(self, db: AsyncSession, ledger: RoamingLedger | None, *, tenant_id: uuid.UUID | None) -> None:
        self.db = db
        self.ledger = ledger
        self.tenant_id = tenant_id

    async def _cdrs(self, since: datetime, until: datetime) -> list[CdrDeliveryOut]:
        check_range(since, until)
        if self.ledger is None:
            return []
        return await self.ledger.cdrs(self.db, self.tenant_id, since, until)

    async def revenue(self, since: datetime, until: datetime) -> RoamingRevenueReportOut:
        """Per partner and currency: the CDRs made in the range, their energy and total."""
        items = await self._cdrs(since, until)
        rows: dict[tuple[uuid.UUID, str], PartnerRevenueRowOut] = {}
        for i in items:
            row = rows.setdefault(
                (i.partner_id, i.currency),
                PartnerRevenueRowOut(
                    partner_id=i.partner_id,
                    partner_name=i.partner_name,
                    country_code=i.partner_country_code,
                    party_id=i.partner_party_id,
                    currency=i.currency,
                    cdrs=0,
                    energy_wh=0,
                    revenue_minor=0,
                ),
            )
            row.cdrs += 1
            row.energy_wh += i.energy_wh
            row.revenue_minor += i.total_minor
        ordered = sorted(rows.values(), key=lambda r: (r.partner_name, str(r.partner_id), r.currency))
        totals: dict[str, RoamingTotalOut] = {}
        for r in ordered:
            t = totals.setdefault(
                r.currency, RoamingTotalOut(currency=r.currency, cdrs=0, energy_wh=0, revenue_minor=0)
            )
            t.cdrs += r.cdrs
            t.energy_wh += r.energy_wh
            t.revenue_minor += r.revenue_minor
        return RoamingRevenueReportOut(
            since=since, until=until, rows=ordered, totals=[totals[c] for c in sorted(totals)]
        )

    async def deliveries(self, since: datetime, until: datetime) -> CdrReconciliationOut:
        """Every CDR made in the range and whether the partner has it, with counts per partner."""
        items = await self._cdrs(since, until)
        partners: dict[uuid.UUID, PartnerDeliveriesOut] = {}
        for i in items:
            p = partners.setdefault(
                i.partner_id,
                PartnerDeliveriesOut(
                    partner_id=i.partner_id, partner_name=i.partner_name, sent=0, pending=0, failed=0, not_pushed=0
                ),
            )
            setattr(p, i.status, getattr(p, i.status) + 1)
        return CdrReconciliationOut(
            since=since,
            until=until,
            partners=sorted(partners.values(), key=lambda p: (p.partner_name, str(p.partner_id))),
            items=items,
        )
