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


def spellings(evse_id: str) -> list[str]:
    """The stored spellings ``evse_id`` may stand for."""
    return sorted({evse_id, evse_id.upper()})


class EvseIds:
    """Read-only: never writes, never commits."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def canonical(self, evse_id: str) -> str:
        """The stored spelling of ``evse_id``, any letter case; EvseNotFound if none."""
        found = await self.db.scalar(select(Evse.evse_id).where(Evse.evse_id.in_(spellings(evse_id))))
        if found is None:
            raise EvseNotFound(f"no EVSE {evse_id!r}")
        return found

    async def at_location(self, location_id: uuid.UUID) -> tuple[Location, list[str]]:
        """A location and the eMI3 IDs of its EVSEs, by charger and EVSE number."""
        location = await self.db.get(Location, location_id)
        if location is None:
            raise LocationNotFound()
        ids = await self.db.scalars(
            select(Evse.evse_id)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.location_id == location_id)
            .order_by(ChargePoint.number, Evse.evse_number)
        )
        return location, list(ids)
