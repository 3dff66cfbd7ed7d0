"""Messages whose payload is the same in 1.6 and 2.0.1 and that only go to the event log:
one handler each, registered on both versions' routers."""

from __future__ import annotations

from typing import Any

from app.chargers.types import ChargerEventIn
from app.core.database import utcnow
from ocpp_bridge.common import parse_utc
from ocpp_bridge.connection import Connection, Router

Payload = dict[str, Any]


async def record(conn: Connection, event: ChargerEventIn) -> None:
    await conn.domain.telemetry.record_event(conn.charger, event)


async def security_event(conn: Connection, p: Payload) -> Payload:
    await record(conn, ChargerEventIn(kind="security_event", code=p["type"], at=parse_utc(p["timestamp"]), data=p))
    return {}


async def log_status(conn: Connection, p: Payload) -> Payload:
    await record(conn, ChargerEventIn(kind="log_status", code=p["status"], at=utcnow(), data=p))
    return {}


async def firmware_status(conn: Connection, p: Payload) -> Payload:
    await record(conn, ChargerEventIn(kind="firmware_status", code=p["status"], at=utcnow(), data=p))
    return {}


async def data_transfer(conn: Connection, p: Payload) -> Payload:
    # No vendor extensions are understood yet; keep what came for whoever adds one.
    await record(conn, ChargerEventIn(kind="data_transfer", code=p["vendorId"], at=utcnow(), data=p))
    return {"status": "UnknownVendorId"}


def register(router: Router) -> None:
    router.on("SecurityEventNotification")(security_event)
    router.on("LogStatusNotification")(log_status)
    router.on("FirmwareStatusNotification")(firmware_status)
    router.on("DataTransfer")(data_transfer)
