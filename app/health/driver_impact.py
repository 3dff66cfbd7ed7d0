"""Which open incidents keep drivers away from an EVSE: the charger finder, a scan and the
web checkout all call such an EVSE out of order, in the driver's words (``words.py``)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import QueryableAttribute

from app.health.models import Incident
from app.health.words import OUT_OF_ORDER_KINDS


def incidents_keeping_drivers_away(
    charger: uuid.UUID | QueryableAttribute[uuid.UUID], evse: int | QueryableAttribute[int]
) -> Select[str]:
    """The causes of the open incidents on this EVSE (or its whole charger) that keep
    drivers away, oldest first. A charger's own incidents only: a site or fleet incident
    names no charger, so a fleet's (one model across the network) never takes every EVSE
    of that model off the drivers' map; its members' Faulted statuses still do."""
    return (
        select(Incident.cause)
        .where(
            Incident.open_key.is_not(None),
            Incident.charge_point_id == charger,
            or_(Incident.evse.is_(None), Incident.evse == evse),
            or_(Incident.severity == "critical", Incident.kind.in_(sorted(OUT_OF_ORDER_KINDS))),
        )
        .order_by(Incident.opened_at)
    )
