"""Roaming's side of billing's ``RoamingLedger``: the CDRs made and whether each partner
took its POST (from the push outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.reports.roaming import CdrDeliveryOut, DeliveryStatus
from app.roaming.models import OcpiPartner, OcpiPush, OcpiSession


def _status(push: OcpiPush | None) -> DeliveryStatus:
    if push is None:
        return "not_pushed"
    if push.outcome == "delivered":
        return "sent"
    if push.outcome == "gave_up":
        return "failed"
    return "pending"


class CdrLedger:
    """The CDRs made in a range, per tenant, each with where its POST stands."""

    async def cdrs(
        self, db: AsyncSession, tenant_id: uuid.UUID | None, since: datetime, until: datetime
    ) -> list[CdrDeliveryOut]:
        stmt = (
            select(OcpiSession, OcpiPartner)
            .join(OcpiPartner, OcpiPartner.id == OcpiSession.partner_id)
            .where(
                OcpiSession.cdr_id.is_not(None),
                OcpiSession.cdr_last_updated >= since,
                OcpiSession.cdr_last_updated < until,
            )
            .order_by(OcpiSession.cdr_last_updated, OcpiSession.id)
        )
        if tenant_id is not None:
            stmt = stmt.where(OcpiSession.operator_id == tenant_id)
        rows = (await db.execute(stmt)).all()
        keys = [f"cdr:{s.cdr_id}" for s, _ in rows]
        pushes: dict[tuple[uuid.UUID, str], OcpiPush] = {}
        if keys:
            # The newest push of each CDR tells where it stands (a CDR is POSTed once).
            for row in await db.scalars(
                select(OcpiPush).where(OcpiPush.module == "cdrs", OcpiPush.object_key.in_(keys)).order_by(OcpiPush.id)
            ):
                pushes[(row.partner_id, row.object_key)] = row
        items = []
        for s, partner in rows:
            assert s.cdr_id is not None and s.cdr_last_updated is not None
            push = pushes.get((partner.id, f"cdr:{s.cdr_id}"))
            status = _status(push)
            energy = (s.cdr or {}).get("total_energy", 0)
            items.append(
                CdrDeliveryOut(
                    partner_id=partner.id,
                    partner_name=partner.name,
                    partner_country_code=partner.country_code,
                    partner_party_id=partner.party_id,
                    cdr_id=s.cdr_id,
                    session_id=s.id,
                    currency=s.currency or "",
                    total_minor=s.cdr_total_minor or 0,
                    energy_wh=round(Fraction(repr(float(energy))) * 1000),
                    made_at=s.cdr_last_updated,
                    status=status,
                    attempts=push.attempts if push is not None else 0,
                    last_error=push.last_error if push is not None else None,
                    sent_at=push.done_at if push is not None and status == "sent" else None,
                )
            )
        return items
