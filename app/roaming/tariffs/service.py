"""The tariffs a partner may read: its tenant's active tariffs, as OCPI Tariff objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.operators.models import Operator
from app.roaming.envelope import Page
from app.roaming.models import OcpiPartner
from app.roaming.tariffs.mapping import ocpi_tariff
from app.tariffs.models import Tariff
from app.tariffs.service import terms_of


async def tariff_page(db: AsyncSession, partner: OcpiPartner, page: Page) -> tuple[list[dict[str, Any]], int]:
    """One page of the partner's tenant's active tariffs, oldest change first, and how many
    match in all. An inactive tariff applies nowhere, so it is not offered."""
    operator = await db.get(Operator, partner.operator_id)
    if operator is None:
        return [], 0
    where = [Tariff.operator_id == partner.operator_id, Tariff.active.is_(True)]
    if page.date_from is not None:
        where.append(Tariff.updated_at >= page.date_from)
    if page.date_to is not None:
        where.append(Tariff.updated_at < page.date_to)
    total = int(await db.scalar(select(func.count()).select_from(Tariff).where(*where)) or 0)
    rows = await db.scalars(
        select(Tariff).where(*where).order_by(Tariff.updated_at, Tariff.id).offset(page.offset).limit(page.limit)
    )
    items = [
        # A tariff's own clock is the location's (2.2.1: the Location's time_zone), so the
        # terms are read without one here.
        ocpi_tariff(
            terms_of(t),
            tariff_id=str(t.id),
            country_code=operator.country_code,
            party_id=operator.party_id,
            last_updated=t.updated_at,
        )
        for t in rows
    ]
    return items, total
