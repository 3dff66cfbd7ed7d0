"""HubClientInfo, receiver side (2.2.1 mod_hub_client_info): a hub tells us the connection
status of the parties behind it; we keep the latest per partner and party.

What it changes: a party whose status is not CONNECTED gets no pushes from us (2.2.1:
"no requests can be sent"; OFFLINE: "do not queue push messages", the party GETs what it
missed when it is back). app/roaming/push.py asks :func:`unreachable`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import utcnow
from app.roaming.commands.schemas import CountryCode, In, PartyId, utc
from app.roaming.envelope import InvalidParameters, UnknownObject, timestamp
from app.roaming.hubclientinfo.models import OcpiClientInfo
from app.roaming.models import OcpiPartner

Role = Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
ConnectionStatus = Literal["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"]
NOT_REACHABLE = frozenset({"OFFLINE", "PLANNED", "SUSPENDED"})


class ClientInfo(In, frozen=True, kw_only=True):
    party_id: PartyId
    country_code: CountryCode
    role: Role
    status: ConnectionStatus
    last_updated: datetime


def client_info_out(row: OcpiClientInfo) -> dict[str, Any]:
    return {
        "party_id": row.party_id,
        "country_code": row.country_code,
        "role": row.role,
        "status": row.status,
        "last_updated": timestamp(row.last_updated),
    }


def path_party(country_code: str, party_id: str) -> tuple[str, str]:
    """The URL's country code and party id, upper case (CiString: any case is the same)."""
    if len(country_code) != 2 or not country_code.isalpha() or len(party_id) != 3 or not party_id.isalnum():
        raise InvalidParameters("country_code must be 2 letters and party_id 3 letters or digits")
    return country_code.upper(), party_id.upper()


class ClientInfoService:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def get(self, partner: OcpiPartner, country_code: str, party_id: str) -> OcpiClientInfo:
        cc, pid = path_party(country_code, party_id)
        row = await self._find(partner, cc, pid)
        if row is None:
            raise UnknownObject(f"no client info for {cc}*{pid}")
        return row

    async def put(self, partner: OcpiPartner, country_code: str, party_id: str, info: ClientInfo) -> bool:
        """Store ``info``; True if it is new. An older ``last_updated`` than the one we hold
        changes nothing (pushes may arrive out of order)."""
        cc, pid = path_party(country_code, party_id)
        if (info.country_code.upper(), info.party_id.upper()) != (cc, pid):
            raise InvalidParameters("country_code / party_id in the body differ from the URL's")
        updated = utc(info.last_updated)
        row = await self._find(partner, cc, pid)
        created = row is None
        if row is None:
            row = OcpiClientInfo(operator_id=partner.operator_id, partner_id=partner.id, country_code=cc, party_id=pid)
            self.db.add(row)
        elif row.last_updated > updated:
            await self.db.rollback()
            return False
        row.role, row.status, row.last_updated, row.received_at = info.role, info.status, updated, self.clock()
        await self.db.commit()
        return created

    async def _find(self, partner: OcpiPartner, cc: str, pid: str) -> OcpiClientInfo | None:
        return await self.db.scalar(
            select(OcpiClientInfo).where(
                OcpiClientInfo.partner_id == partner.id,
                OcpiClientInfo.country_code == cc,
                OcpiClientInfo.party_id == pid,
            )
        )


async def unreachable(db: AsyncSession, partner: OcpiPartner) -> str | None:
    """The status that bars pushes to the partner's party (OCPI-to: its country code and
    party id), as a hub last told us; None when nothing bars them."""
    if not partner.country_code or not partner.party_id:
        return None
    status = await db.scalar(
        select(OcpiClientInfo.status).where(
            OcpiClientInfo.partner_id == partner.id,
            OcpiClientInfo.country_code == partner.country_code.upper(),
            OcpiClientInfo.party_id == partner.party_id.upper(),
        )
    )
    return status if status in NOT_REACHABLE else None
