"""What a partner's command or charging-profile request names: a charger (EVSE, connector)
of the partner's tenant, or the partner's running session; or why it is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.roaming.commands.schemas import REJECTED, UNKNOWN_SESSION
from app.roaming.envelope import Status
from app.roaming.models import OcpiPartner, OcpiSession
from app.sessions.models import Transaction


class Refused(Exception):
    """The command cannot be handed to a charger: answered synchronously, nothing stored."""

    def __init__(self, result: str, message: str, status: Status = Status.SUCCESS) -> None:
        super().__init__(message)
        self.result = result
        self.message = message
        self.status = status


def unknown_location(message: str) -> Refused:
    # 2.2.1 mod_commands "UNLOCK_CONNECTOR Unknown Location": 2003 with a REJECTED response.
    return Refused(REJECTED, message, Status.UNKNOWN_LOCATION)


@dataclass(frozen=True)
class Target:
    charger: ChargePoint
    evse: Evse | None
    connector: int | None = None


async def find_target(
    db: AsyncSession,
    partner: OcpiPartner,
    location_id: str,
    evse_uid: str | None,
    connector_id: str | None,
    *,
    any_evse: bool = False,
) -> Target:
    """The charger (and EVSE, connector) a command names, in the partner's tenant only:
    anything else is an unknown location (2003). Without ``evse_uid`` the location's
    only EVSE; with several, ``evse`` is None (``any_evse``: if they share one charger)."""
    location = await db.scalar(
        select(Location).where(Location.id == _uuid(location_id), Location.operator_id == partner.operator_id)
    )
    if location is None:
        raise unknown_location(f"unknown location {location_id!r}")
    evses = (
        await db.execute(
            select(Evse, ChargePoint)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.location_id == location.id)
            .order_by(ChargePoint.number, Evse.evse_number)
        )
    ).all()
    if evse_uid is not None:
        found = [row for row in evses if str(row.Evse.id) == evse_uid.lower()]
        if not found:
            raise unknown_location(f"unknown EVSE {evse_uid!r} at location {location_id!r}")
        evse, charger = found[0].Evse, found[0].ChargePoint
    elif len(evses) == 1:
        evse, charger = evses[0].Evse, evses[0].ChargePoint
    elif not evses:
        raise unknown_location(f"location {location_id!r} has no EVSE")
    elif any_evse and len({row.ChargePoint.id for row in evses}) == 1:
        return Target(evses[0].ChargePoint, None)
    else:
        raise Refused(REJECTED, "evse_uid is required: the location has more than one EVSE")
    connector = None
    if connector_id is not None:
        numbers = set((await db.scalars(select(Connector.connector_number).where(Connector.evse_pk == evse.id))).all())
        if not connector_id.isdigit() or int(connector_id) not in numbers:
            raise unknown_location(f"unknown connector {connector_id!r} of EVSE {evse_uid!r}")
        connector = int(connector_id)
    return Target(charger, evse, connector)


async def running_session(db: AsyncSession, partner: OcpiPartner, session_id: str) -> tuple[OcpiSession, Transaction]:
    """The partner's session and its transaction, still running: UNKNOWN_SESSION when it
    is not the partner's (or not at all), REJECTED when it is not charging (yet)."""
    session = await db.scalar(
        select(OcpiSession).where(OcpiSession.id == _uuid(session_id), OcpiSession.partner_id == partner.id)
    )
    if session is None:
        raise Refused(UNKNOWN_SESSION, f"unknown session {session_id!r}")
    tx = await db.get(Transaction, session.transaction_id) if session.transaction_id else None
    if tx is None:
        raise Refused(REJECTED, "the session has not started charging yet")
    if tx.status != "active":
        raise Refused(REJECTED, "the session has ended")
    return session, tx


def check_connected(charger: ChargePoint) -> None:
    # The spec's receiver "checks if it can send the request to a Charge Point": one
    # that is not connected gets nothing, and the partner hears it now, not after a
    # timeout. (If it drops between this check and the send, the result is FAILED.)
    if not charger.connected:
        raise Refused(REJECTED, "the charge point is offline")


def _uuid(value: str) -> uuid.UUID | None:
    """An id from a partner as our uuid; None (matches nothing) when it is not one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
