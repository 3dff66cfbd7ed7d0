"""OCPP 2.0.1 over real sockets: the same domain, TransactionEvent exactly once in any order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.chargers.models import ChargerEvent, Connector, Evse
from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, add_token, charge_point, register, samples, transactions
from tests.support import RawCharger

V201 = Version.V201


async def open_charger(system: System, identity: str) -> RawCharger:
    return await RawCharger.open(system.ocpp_url, identity, PASSWORD, V201)


def tx_event(
    event_type: str, seq_no: int, tx_id: str, ts: str, *, energy_wh: float | None = None, **extra: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": ts,
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVCommunicationLost"}[
            event_type
        ],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx_id, **extra.pop("info", {})},
        **extra,
    }
    if energy_wh is not None:
        context = {"Started": "Transaction.Begin", "Updated": "Sample.Periodic", "Ended": "Transaction.End"}[event_type]
        payload["meterValue"] = [
            {
                "timestamp": ts,
                "sampledValue": [
                    {
                        "value": energy_wh / 1000,
                        "context": context,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "kWh"},
                    }
                ],
            }
        ]
    return payload


async def test_boot_heartbeat_status(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    boot = await cp.ok(
        "BootNotification",
        {
            "chargingStation": {
                "model": "DC-150",
                "vendorName": "Acme",
                "serialNumber": "S-9",
                "firmwareVersion": "4.0",
                "modem": {"iccid": "8946000", "imsi": "24001"},
            },
            "reason": "PowerUp",
        },
    )
    assert boot["status"] == "Accepted" and boot["interval"] == 60
    assert (await cp.ok("Heartbeat", {}))["currentTime"].endswith("Z")
    await cp.ok(
        "StatusNotification",
        {"timestamp": "2026-04-01T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    )
    await cp.close()
    row = await charge_point(system, identity)
    assert (row.vendor, row.model, row.iccid, row.last_boot_reason, row.ocpp_version) == (
        "Acme",
        "DC-150",
        "8946000",
        "PowerUp",
        "2.0.1",
    )
    async with system.maker() as db:
        connector = await db.scalar(select(Connector).join(Evse).where(Evse.charge_point_id == row.id))
    assert connector is not None and connector.status == "Occupied"


async def test_authorize_maps_unknown_to_unknown(system: System) -> None:
    identity = await register(system)
    await add_token(system, "TOK-201")
    cp = await open_charger(system, identity)
    ok = await cp.ok("Authorize", {"idToken": {"idToken": "TOK-201", "type": "ISO14443"}})
    unknown = await cp.ok("Authorize", {"idToken": {"idToken": "NOPE", "type": "ISO14443"}})
    await cp.close()
    assert ok["idTokenInfo"]["status"] == "Accepted"
    assert unknown["idTokenInfo"]["status"] == "Unknown"


async def test_transaction_lifecycle_with_meter_values(system: System) -> None:
    identity = await register(system)
    await add_token(system, "TOK-TX-201")
    cp = await open_charger(system, identity)
    tid = "b9e0a3c6-0000-4000-8000-000000000001"
    started = await cp.ok(
        "TransactionEvent",
        tx_event(
            "Started",
            0,
            tid,
            "2026-04-02T10:00:00Z",
            energy_wh=10_000,
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": "TOK-TX-201", "type": "ISO14443"},
            info={"chargingState": "Charging"},
        ),
    )
    assert started["idTokenInfo"]["status"] == "Accepted"
    await cp.ok("TransactionEvent", tx_event("Updated", 1, tid, "2026-04-02T10:10:00Z", energy_wh=13_000))
    await cp.ok(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": "2026-04-02T10:11:00Z",
                    "sampledValue": [
                        {"value": 229.5, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}}
                    ],
                }
            ],
        },
    )
    await cp.ok(
        "TransactionEvent",
        tx_event("Ended", 2, tid, "2026-04-02T10:20:00Z", energy_wh=16_500, info={"stoppedReason": "EVDisconnected"}),
    )
    await cp.close()
    [tx] = await transactions(system, identity)
    assert tx.charger_transaction_id == tid and tx.status == "completed"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (10_000, 16_500, 6_500)
    assert tx.stop_reason == "EVDisconnected" and tx.id_token == "TOK-TX-201" and tx.evse_number == 1
    assert len(await samples(system, tx.id)) == 3


async def test_repeated_and_out_of_order_events_apply_once(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    tid = "tx-ooo-1"
    ended = tx_event("Ended", 3, tid, "2026-04-03T11:00:00Z", energy_wh=9000, info={"stoppedReason": "Local"})
    update = tx_event("Updated", 1, tid, "2026-04-03T10:30:00Z", energy_wh=5000)
    start = tx_event("Started", 0, tid, "2026-04-03T10:00:00Z", energy_wh=1000, evse={"id": 2, "connectorId": 1})
    # Ended arrives first, seqNo 2 never arrives, everything is sent twice.
    for payload in (ended, ended, update, start, update, start, ended):
        await cp.ok("TransactionEvent", payload)
    await cp.close()
    [tx] = await transactions(system, identity)
    assert tx.status == "completed"
    assert tx.started_at.isoformat() == "2026-04-03T10:00:00+00:00"
    assert tx.stopped_at is not None and tx.stopped_at.isoformat() == "2026-04-03T11:00:00+00:00"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 9000, 8000)
    assert tx.evse_number == 2
    assert len(await samples(system, tx.id)) == 3


async def test_offline_events_keep_their_times(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    tid = "tx-offline-1"
    await cp.ok(
        "TransactionEvent",
        tx_event(
            "Started", 0, tid, "2026-01-05T06:00:00Z", energy_wh=0, offline=True, evse={"id": 1, "connectorId": 1}
        ),
    )
    await cp.ok("TransactionEvent", tx_event("Ended", 1, tid, "2026-01-05T07:00:00Z", energy_wh=2500, offline=True))
    await cp.close()
    [tx] = await transactions(system, identity)
    assert tx.offline is True
    assert tx.started_at.isoformat() == "2026-01-05T06:00:00+00:00"
    assert tx.energy_wh == 2500


async def test_notify_event_security_event_and_statuses_are_logged(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    await cp.ok(
        "NotifyEvent",
        {
            "generatedAt": "2026-04-04T10:00:00Z",
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": "2026-04-04T09:59:59Z",
                    "trigger": "Alerting",
                    "actualValue": "95",
                    "techCode": "OverTemp",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "ChargingStation", "evse": {"id": 1}},
                    "variable": {"name": "Problem"},
                }
            ],
        },
    )
    await cp.ok("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": "2026-04-04T10:01:00Z"})
    await cp.ok("LogStatusNotification", {"status": "Uploaded", "requestId": 7})
    await cp.ok("FirmwareStatusNotification", {"status": "InstallVerificationFailed"})
    await cp.ok("NotifyReport", {"requestId": 3, "generatedAt": "2026-04-04T10:02:00Z", "seqNo": 0})
    assert (await cp.ok("DataTransfer", {"vendorId": "com.acme"}))["status"] == "UnknownVendorId"
    await cp.close()
    row = await charge_point(system, identity)
    async with system.maker() as db:
        logged = {
            (kind, code)
            for kind, code in await db.execute(
                select(ChargerEvent.kind, ChargerEvent.code).where(ChargerEvent.charge_point_id == row.id)
            )
        }
    assert {
        ("notify_event", "OverTemp"),
        ("security_event", "TamperDetectionActivated"),
        ("log_status", "Uploaded"),
        ("firmware_status", "InstallVerificationFailed"),
        ("report", "3"),
        ("data_transfer", "com.acme"),
    } <= logged
