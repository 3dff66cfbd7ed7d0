"""OCPP 1.6J: each charger CALL becomes one domain call; the answer becomes the reply."""

from __future__ import annotations

from typing import Any

from app.chargers.types import BootInfo, ChargerEventIn, StatusReport
from app.core.database import utcnow
from app.sessions.types import AuthInfo, MeterReport, Sample, StartRequest, StopRequest
from ocpp_bridge import event_log
from ocpp_bridge.boot_config import push_boot_config
from ocpp_bridge.common import iso, parse_utc, sample
from ocpp_bridge.connection import Connection, Router
from ocpp_bridge.event_log import record
from ocpp_bridge.protocol import OcppError, Version

router = Router(Version.V16)
Payload = dict[str, Any]

# 1.6 has no "Unknown": an id tag we have never seen is Invalid.
_V16_TOKEN_STATUS = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}


def id_tag_info(auth: AuthInfo) -> Payload:
    info: Payload = {"status": auth.status if auth.status in _V16_TOKEN_STATUS else "Invalid"}
    if auth.expires_at is not None:
        info["expiryDate"] = iso(auth.expires_at)
    if auth.group_token:
        info["parentIdTag"] = auth.group_token[:20]
    return info


def samples_of(meter_values: list[Payload]) -> list[Sample]:
    samples = []
    for mv in meter_values:
        at = parse_utc(mv["timestamp"])
        for sv in mv["sampledValue"]:
            if sv.get("format") == "SignedData":
                continue  # a signed blob, not a number; the signed copy is the charger's to keep
            try:
                raw = float(sv["value"])
            except ValueError:
                raise OcppError(
                    "PropertyConstraintViolation", f"sampledValue {sv['value']!r} is not a number"
                ) from None
            samples.append(sample(at, sv, raw, sv.get("unit")))
    return samples


@router.on("BootNotification")
async def boot_notification(conn: Connection, p: Payload) -> Payload:
    info = BootInfo(
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
        firmware_version=p.get("firmwareVersion"),
        iccid=p.get("iccid"),
        imsi=p.get("imsi"),
        meter_type=p.get("meterType"),
        meter_serial_number=p.get("meterSerialNumber"),
    )
    result = await conn.domain.telemetry.boot(conn.charger, info)
    if result.status == "Accepted" and conn.domain.settings.push_boot_config:
        conn.after(lambda: push_boot_config(conn, info.firmware_version))
    return {"status": result.status, "currentTime": iso(result.current_time), "interval": result.interval_s}


@router.on("Heartbeat")
async def heartbeat(conn: Connection, p: Payload) -> Payload:
    now = await conn.domain.telemetry.heartbeat(conn.charger)
    return {"currentTime": iso(now)}


@router.on("StatusNotification")
async def status_notification(conn: Connection, p: Payload) -> Payload:
    connector_id = p["connectorId"]
    if connector_id < 0:
        raise OcppError("PropertyConstraintViolation", "connectorId: must be 0 or more")
    report = StatusReport(
        # A 1.6 connector is a 2.0.1 EVSE with one connector; 0 is the whole charger.
        evse=connector_id,
        connector=1 if connector_id else 0,
        status=p["status"],
        error_code=p["errorCode"],
        vendor_error_code=p.get("vendorErrorCode"),
        info=p.get("info"),
        at=parse_utc(p["timestamp"]) if "timestamp" in p else utcnow(),
    )
    await conn.domain.telemetry.report_status(conn.charger, report)
    return {}


@router.on("Authorize")
async def authorize(conn: Connection, p: Payload) -> Payload:
    async with conn.domain.maker() as db:
        auth = await conn.domain.transactions(db).authorize_at(conn.charger, p["idTag"])
    return {"idTagInfo": id_tag_info(auth)}


@router.on("StartTransaction")
async def start_transaction(conn: Connection, p: Payload) -> Payload:
    if p["connectorId"] < 1:
        raise OcppError("PropertyConstraintViolation", "connectorId: a transaction needs a connector > 0")
    req = StartRequest(
        connector=p["connectorId"],
        token=p["idTag"],
        meter_start_wh=float(p["meterStart"]),
        at=parse_utc(p["timestamp"]),
        reservation_id=p.get("reservationId"),
    )
    async with conn.domain.maker() as db:
        started = await conn.domain.transactions(db).start(conn.charger, req)
    return {"transactionId": started.number, "idTagInfo": id_tag_info(started.auth)}


@router.on("StopTransaction")
async def stop_transaction(conn: Connection, p: Payload) -> Payload:
    req = StopRequest(
        number=p["transactionId"],
        meter_stop_wh=float(p["meterStop"]),
        at=parse_utc(p["timestamp"]),
        reason=p.get("reason"),
        token=p.get("idTag"),
        samples=samples_of(p.get("transactionData", [])),
    )
    async with conn.domain.maker() as db:
        auth = await conn.domain.transactions(db).stop(conn.charger, req)
    return {"idTagInfo": id_tag_info(auth)} if auth is not None else {}


@router.on("MeterValues")
async def meter_values(conn: Connection, p: Payload) -> Payload:
    report = MeterReport(
        evse=p["connectorId"],
        transaction_number=p.get("transactionId"),
        samples=samples_of(p["meterValue"]),
    )
    await conn.domain.meters.meter_values(conn.charger, report)
    return {}


@router.on("DiagnosticsStatusNotification")
async def diagnostics_status(conn: Connection, p: Payload) -> Payload:
    await record(conn, ChargerEventIn(kind="diagnostics_status", code=p["status"], at=utcnow(), data=p))
    return {}


event_log.register(router)
# The 1.6 security extension (whitepaper edition 2) reports signed-firmware progress the same way.
router.on("SignedFirmwareStatusNotification")(event_log.firmware_status)
