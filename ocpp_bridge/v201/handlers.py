"""OCPP 2.0.1: the same domain calls as 1.6, from 2.0.1 payloads."""

from __future__ import annotations

from typing import Any

from app.chargers.types import BootInfo, ChargerEventIn, StatusReport
from app.sessions.types import AuthInfo, MeterReport, Sample, TransactionEventIn
from ocpp_bridge import event_log
from ocpp_bridge.boot_config import push_boot_config
from ocpp_bridge.common import iso, parse_utc, sample
from ocpp_bridge.connection import Connection, Router
from ocpp_bridge.event_log import record
from ocpp_bridge.protocol import Version

router = Router(Version.V201)
Payload = dict[str, Any]


def id_token_info(auth: AuthInfo) -> Payload:
    info: Payload = {"status": auth.status}
    if auth.expires_at is not None:
        info["cacheExpiryDateTime"] = iso(auth.expires_at)
    if auth.group_token:
        info["groupIdToken"] = {"idToken": auth.group_token, "type": "Central"}
    return info


def samples_of(meter_values: list[Payload]) -> list[Sample]:
    samples = []
    for mv in meter_values:
        at = parse_utc(mv["timestamp"])
        for sv in mv["sampledValue"]:
            uom = sv.get("unitOfMeasure", {})
            raw = float(sv["value"]) * (10.0 ** uom.get("multiplier", 0))
            samples.append(sample(at, sv, raw, uom.get("unit")))
    return samples


@router.on("BootNotification")
async def boot_notification(conn: Connection, p: Payload) -> Payload:
    station = p["chargingStation"]
    modem = station.get("modem", {})
    info = BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        reason=p["reason"],
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
    report = StatusReport(
        evse=p["evseId"],
        connector=p["connectorId"],
        status=p["connectorStatus"],
        at=parse_utc(p["timestamp"]),
    )
    await conn.domain.telemetry.report_status(conn.charger, report)
    return {}


@router.on("Authorize")
async def authorize(conn: Connection, p: Payload) -> Payload:
    token = p["idToken"]
    async with conn.domain.maker() as db:
        auth = await conn.domain.transactions(db).authorize_at(conn.charger, token["idToken"], token["type"])
    return {"idTokenInfo": id_token_info(auth)}


@router.on("TransactionEvent")
async def transaction_event(conn: Connection, p: Payload) -> Payload:
    info = p["transactionInfo"]
    evse = p.get("evse", {})
    token = p.get("idToken")
    ev = TransactionEventIn(
        event_type=p["eventType"],
        charger_transaction_id=info["transactionId"],
        seq_no=p["seqNo"],
        at=parse_utc(p["timestamp"]),
        trigger_reason=p["triggerReason"],
        evse=evse.get("id"),
        connector=evse.get("connectorId"),
        token=token["idToken"] if token else None,
        token_type=token["type"] if token else None,
        offline=p.get("offline", False),
        charging_state=info.get("chargingState"),
        stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"),
        samples=samples_of(p.get("meterValue", [])),
    )
    async with conn.domain.maker() as db:
        auth = await conn.domain.transactions(db).transaction_event(conn.charger, ev)
    return {"idTokenInfo": id_token_info(auth)} if auth is not None else {}


@router.on("MeterValues")
async def meter_values(conn: Connection, p: Payload) -> Payload:
    report = MeterReport(evse=p["evseId"], samples=samples_of(p["meterValue"]))
    await conn.domain.meters.meter_values(conn.charger, report)
    return {}


@router.on("NotifyEvent")
async def notify_event(conn: Connection, p: Payload) -> Payload:
    events = []
    for item in p["eventData"]:
        component, variable = item["component"], item["variable"]
        evse = component.get("evse", {})
        events.append(
            ChargerEventIn(
                kind="notify_event",
                code=item.get("techCode") or f"{component['name']}.{variable['name']}",
                at=parse_utc(item["timestamp"]),
                evse=evse.get("id"),
                connector=evse.get("connectorId"),
                data=item,
            )
        )
    await conn.domain.telemetry.record_events(conn.charger, events)
    return {}


@router.on("NotifyReport")
async def notify_report(conn: Connection, p: Payload) -> Payload:
    await record(conn, ChargerEventIn(kind="report", code=str(p["requestId"]), at=parse_utc(p["generatedAt"]), data=p))
    return {}


event_log.register(router)
