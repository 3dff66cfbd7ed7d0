"""EVSEs by their eMI3 ID, as printed in their QR codes and typed by people.

Our eMI3 IDs are upper case (country, party, ``E`` + number), so a lookup in any letter
case stays on the unique index: the ID as given or upper-cased (``spellings``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.errors import EvseNotFound, LocationNotFound
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import scoped


def spellings(evse_id: str) -> list[str]:
    """The stored spellings ``evse_id`` may stand for."""
    return sorted({evse_id, evse_id.upper()})


class EvseIds:
    """Read-only: never writes, never commits. With ``tenant_id``, only that operator
    company's EVSEs and locations are found (``None``: everyone's, the system's view)."""

    def __init__(self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None) -> None:
        self.db = db
        self.tenant_id = tenant_id

    async def canonical(self, evse_id: str) -> str:
        """The stored spelling of ``evse_id``, any letter case; EvseNotFound if none."""
        stmt = (
            select(Evse.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(Evse.evse_id.in_(spellings(evse_id)))
        )
        found = await self.db.scalar(scoped(stmt, ChargePoint.operator_id, self.tenant_id))
        if found is None:
            raise EvseNotFound(f"no EVSE {evse_id!r}")
        return found

    async def at_location(self, location_id: uuid.UUID) -> tuple[Location, list[str]]:
        """A location and the eMI3 IDs of its EVSEs, by charger and EVSE number."""
        location = await self.db.scalar(
            scoped(select(Location).where(Location.id == location_id), Location.operator_id, self.tenant_id)
        )
        if location is None:
            raise LocationNotFound()
        stmt = (
            select(Evse.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.location_id == location_id)
            .order_by(ChargePoint.number, Evse.evse_number)
        )
        ids = await self.db.scalars(scoped(stmt, ChargePoint.operator_id, self.tenant_id))
        return location, list(ids)
