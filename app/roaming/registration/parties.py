"""Which parties a tenant's partners already are: one party registers once per tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.models import OcpiPartner


def parties_of(partner: OcpiPartner) -> set[tuple[str, str]]:
    found = {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in partner.roles}
    if partner.country_code and partner.party_id:
        found.add((partner.country_code, partner.party_id))
    return found


async def taken_party(
    db: AsyncSession, operator_id: uuid.UUID, parties: Iterable[tuple[str, str]], *, besides: uuid.UUID | None
) -> tuple[str, str] | None:
    """One of ``parties`` that a registered partner of the tenant (other than ``besides``) already is."""
    wanted = set(parties)
    registered = await db.scalars(
        select(OcpiPartner).where(OcpiPartner.operator_id == operator_id, OcpiPartner.state == "registered")
    )
    for other in registered:
        if other.id != besides and (common := wanted & parties_of(other)):
            return min(common)
    return None
