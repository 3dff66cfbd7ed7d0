"""OCPP 1.6J over real sockets: every charger-initiated message, exactly-once transactions."""

from __future__ import annotations

from sqlalchemy import select

from app.chargers.models import ChargerEvent, Connector, ConnectorStatusChange, Evse
from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, add_token, charge_point, register, samples, transactions
from tests.support import RawCharger

V16 = Version.V16


async def open_charger(system: System, identity: str) -> RawCharger:
    return await RawCharger.open(system.ocpp_url, identity, PASSWORD, V16)


async def test_boot_records_charger_details_and_answers_interval(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    reply = await cp.ok(
        "BootNotification",
        {
            "chargePointVendor": "Acme",
            "chargePointModel": "Wallbox 22",
            "chargePointSerialNumber": "SN-1",
            "firmwareVersion": "1.2.3",
            "iccid": "8946",
            "meterType": "DZG",
        },
    )
    await cp.close()
    assert reply["status"] == "Accepted"
    assert reply["interval"] == system.settings.ocpp.heartbeat_interval_s
    row = await charge_point(system, identity)
    assert (row.vendor, row.model, row.serial_number, row.firmware_version) == ("Acme", "Wallbox 22", "SN-1", "1.2.3")
    assert row.ocpp_version == "1.6"
    assert row.registration_status == "Accepted"
    event = await system.events.wait_for(lambda e: e.subject == "charger.booted" and e.identity == identity)  # type: ignore[attr-defined]
    assert event.vendor == "Acme"  # type: ignore[attr-defined]


async def test_heartbeat_answers_current_time_and_marks_seen(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    reply = await cp.ok("Heartbeat", {})
    await cp.close()
    assert reply["currentTime"].endswith("Z")
    assert (await charge_point(system, identity)).last_seen_at is not None


async def test_status_notification_keeps_error_codes_and_history(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    await cp.ok("StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"})
    await cp.ok(
        "StatusNotification",
        {
            "connectorId": 2,
            "errorCode": "HighTemperature",
            "status": "Faulted",
            "info": "cable hot",
            "vendorErrorCode": "E-42",
            "timestamp": "2026-03-01T10:00:00Z",
        },
    )
    # An older report replayed later goes to history but doesn't overwrite the live status.
    await cp.ok(
        "StatusNotification",
        {"connectorId": 2, "errorCode": "NoError", "status": "Available", "timestamp": "2026-03-01T09:00:00Z"},
    )
    await cp.close()
    row = await charge_point(system, identity)
    async with system.maker() as db:
        history = list(
            await db.scalars(
                select(ConnectorStatusChange)
                .where(ConnectorStatusChange.charge_point_id == row.id)
                .order_by(ConnectorStatusChange.id)
            )
        )
        connector = await db.scalar(
            select(Connector).join(Evse).where(Evse.charge_point_id == row.id, Evse.evse_number == 2)
        )
        errors = list(
            await db.scalars(
                select(ChargerEvent).where(ChargerEvent.charge_point_id == row.id, ChargerEvent.kind == "error")
            )
        )
    assert [(h.evse_number, h.status, h.error_code) for h in history] == [
        (0, "Available", None),
        (2, "Faulted", "HighTemperature"),
        (2, "Available", None),
    ]
    assert history[1].vendor_error_code == "E-42" and history[1].info == "cable hot"
    assert connector is not None and connector.status == "Faulted" and connector.error_code == "HighTemperature"
    assert [e.code for e in errors] == ["HighTemperature"]
    assert errors[0].data["vendorErrorCode"] == "E-42"


async def test_authorize_answers_token_status(system: System) -> None:
    identity = await register(system)
    await add_token(system, "TAG-OK-16")
    await add_token(system, "TAG-BLOCKED-16", status="Blocked")
    cp = await open_charger(system, identity)
    ok = await cp.ok("Authorize", {"idTag": "TAG-OK-16"})
    blocked = await cp.ok("Authorize", {"idTag": "TAG-BLOCKED-16"})
    unknown = await cp.ok("Authorize", {"idTag": "NEVER-SEEN"})
    await cp.close()
    assert ok["idTagInfo"]["status"] == "Accepted"
    assert blocked["idTagInfo"]["status"] == "Blocked"
    assert unknown["idTagInfo"]["status"] == "Invalid"


async def test_full_transaction_records_energy_and_samples(system: System) -> None:
    identity = await register(system)
    await add_token(system, "TAG-TX-16")
    cp = await open_charger(system, identity)
    start = await cp.ok(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG-TX-16", "meterStart": 1000, "timestamp": "2026-03-02T10:00:00Z"},
    )
    number = start["transactionId"]
    assert start["idTagInfo"]["status"] == "Accepted"
    await cp.ok(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": number,
            "meterValue": [
                {
                    "timestamp": "2026-03-02T10:15:00Z",
                    "sampledValue": [
                        {"value": "3.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                        {"value": "11", "unit": "kW", "measurand": "Power.Active.Import"},
                        {"value": "231.5", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                        {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                        {"value": "41", "measurand": "Temperature", "unit": "Celsius", "location": "Body"},
                        {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                        {"value": "50.0", "measurand": "Frequency"},
                    ],
                }
            ],
        },
    )
    await cp.ok(
        "StopTransaction",
        {
            "transactionId": number,
            "meterStop": 6000,
            "timestamp": "2026-03-02T10:30:00Z",
            "reason": "EVDisconnected",
            "idTag": "TAG-TX-16",
            "transactionData": [
                {
                    "timestamp": "2026-03-02T10:30:00Z",
                    "sampledValue": [{"value": "6000", "context": "Transaction.End", "unit": "Wh"}],
                }
            ],
        },
    )
    await cp.close()
    [tx] = await transactions(system, identity)
    assert tx.number == number and tx.status == "completed"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 6000, 5000)
    assert tx.stop_reason == "EVDisconnected" and tx.id_token == "TAG-TX-16"
    assert tx.started_at.isoformat() == "2026-03-02T10:00:00+00:00"
    by_measurand = {(s.measurand, s.phase): s for s in await samples(system, tx.id)}
    assert by_measurand[("Energy.Active.Import.Register", "")].value in (3500, 6000)
    assert (
        by_measurand[("Power.Active.Import", "")].value == 11000
        and by_measurand[("Power.Active.Import", "")].unit == "W"
    )
    assert by_measurand[("Voltage", "L1-N")].value == 231.5
    assert by_measurand[("Temperature", "")].location == "Body"
    assert by_measurand[("SoC", "")].unit == "Percent"
    assert by_measurand[("Frequency", "")].unit == "Hz"
    ended = await system.events.wait_for(lambda e: e.subject == "transaction.ended" and e.identity == identity)  # type: ignore[attr-defined]
    assert ended.energy_wh == 5000  # type: ignore[attr-defined]


async def test_resent_start_and_stop_count_once(system: System) -> None:
    """Our reply was lost: the charger resends the same messages with new message ids."""
    identity = await register(system)
    cp = await open_charger(system, identity)
    start = {"connectorId": 1, "idTag": "TAG-RETRY", "meterStart": 0, "timestamp": "2026-03-03T08:00:00Z"}
    first = await cp.ok("StartTransaction", start)
    again = await cp.ok("StartTransaction", start)
    assert first["transactionId"] == again["transactionId"]
    meter = {
        "connectorId": 1,
        "transactionId": first["transactionId"],
        "meterValue": [{"timestamp": "2026-03-03T08:10:00Z", "sampledValue": [{"value": "2000"}]}],
    }
    await cp.ok("MeterValues", meter)
    await cp.ok("MeterValues", meter)
    stop = {"transactionId": first["transactionId"], "meterStop": 4000, "timestamp": "2026-03-03T08:20:00Z"}
    await cp.ok("StopTransaction", stop)
    await cp.ok("StopTransaction", {**stop, "meterStop": 9999})  # a late, different stop changes nothing
    await cp.close()
    [tx] = await transactions(system, identity)
    assert tx.energy_wh == 4000
    assert len(await samples(system, tx.id)) == 1


async def test_offline_queue_is_stored_with_its_own_times(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    # Two whole sessions that happened while the charger had no network, sent late.
    for hour, meter in ((6, 100), (7, 900)):
        start = await cp.ok(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-OFF", "meterStart": meter, "timestamp": f"2026-02-01T0{hour}:00:00Z"},
        )
        await cp.ok(
            "StopTransaction",
            {
                "transactionId": start["transactionId"],
                "meterStop": meter + 700,
                "timestamp": f"2026-02-01T0{hour}:45:00Z",
            },
        )
    await cp.close()
    txs = await transactions(system, identity)
    assert [t.started_at.hour for t in txs] == [6, 7]
    assert [t.stopped_at.minute for t in txs if t.stopped_at] == [45, 45]
    assert [t.energy_wh for t in txs] == [700, 700]


async def test_stop_of_unknown_transaction_is_accepted_and_logged(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    reply = await cp.ok(
        "StopTransaction", {"transactionId": 987654, "meterStop": 10, "timestamp": "2026-03-03T08:20:00Z"}
    )
    await cp.close()
    assert reply == {}
    row = await charge_point(system, identity)
    async with system.maker() as db:
        kinds = list(await db.scalars(select(ChargerEvent.kind).where(ChargerEvent.charge_point_id == row.id)))
    assert "unknown_transaction" in kinds


async def test_data_transfer_and_status_notifications_are_logged(system: System) -> None:
    identity = await register(system)
    cp = await open_charger(system, identity)
    assert (await cp.ok("DataTransfer", {"vendorId": "com.acme", "messageId": "x", "data": "y"}))[
        "status"
    ] == "UnknownVendorId"
    await cp.ok("DiagnosticsStatusNotification", {"status": "Uploaded"})
    await cp.ok("FirmwareStatusNotification", {"status": "InstallationFailed"})
    await cp.close()
    row = await charge_point(system, identity)
    async with system.maker() as db:
        logged = list(
            await db.execute(select(ChargerEvent.kind, ChargerEvent.code).where(ChargerEvent.charge_point_id == row.id))
        )
    assert ("data_transfer", "com.acme") in logged
    assert ("diagnostics_status", "Uploaded") in logged
    assert ("firmware_status", "InstallationFailed") in logged


async def test_transaction_on_other_charger_is_not_stopped(system: System) -> None:
    a, b = await register(system), await register(system)
    ca, cb = await open_charger(system, a), await open_charger(system, b)
    start = await ca.ok(
        "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-03-04T08:00:00Z"}
    )
    await cb.ok(
        "StopTransaction",
        {"transactionId": start["transactionId"], "meterStop": 5, "timestamp": "2026-03-04T09:00:00Z"},
    )
    await ca.close()
    await cb.close()
    [tx] = await transactions(system, a)
    assert tx.status == "active"
