"""Every CSMS -> charger command against the simulator, in OCPP 1.6J and 2.0.1.

The fake CSMS of ``tests/unit/fake_csms.py`` (the ``ocpp`` library's server side on a
free port; the ``csms16`` / ``csms201`` fixtures) makes the calls; the answers are checked,
then the follow-up messages the simulator sends once the answer is out. Diagnostics / log
uploads go to a tiny stdlib HTTP server that records what it received.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator import AuthorizationRejected, SimulatedCharger
from tests.unit.fake_csms import Csms, make_sim, samples, wait_for

Payload = dict[str, Any]


# ---------------------------------------------------------------------------- the upload server


@dataclass
class Upload:
    method: str
    path: str
    headers: Message
    body: bytes


@dataclass
class UploadServer:
    url: str
    uploads: list[Upload] = field(default_factory=list)


@pytest.fixture
def upload_server() -> Iterator[UploadServer]:
    """Records PUT / POST bodies; answers 201, or the status in a path ending /status/<code>."""
    received: list[Upload] = []

    class Handler(BaseHTTPRequestHandler):
        def _store(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(Upload(self.command, self.path, self.headers, body))
            parts = self.path.rstrip("/").split("/")
            code = int(parts[-1]) if len(parts) > 2 and parts[-2] == "status" else 201
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = _store
        do_PUT = _store

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield UploadServer(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------------------- helpers


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def booted(csms: Csms, identity: str, **options: Any) -> tuple[SimulatedCharger, Any]:
    sim = make_sim(csms, identity, **options)
    await sim.connect()
    await sim.boot()
    for connector in sim.connectors:
        await sim.status(connector, "Available")
    return sim, csms.cps[identity]


def statuses16(csms: Csms, connector: int = 1) -> list[str]:
    return [p["status"] for p in csms.of("StatusNotification") if p["connectorId"] == connector]


def statuses201(csms: Csms, evse: int = 1) -> list[str]:
    return [p["connectorStatus"] for p in csms.of("StatusNotification") if p["evseId"] == evse]


def more(csms: Csms, action: str, than: int) -> Callable[[], bool]:
    """A wait_for predicate: the CSMS got more than ``than`` calls of ``action``."""
    return lambda: len(csms.of(action)) > than


def power(meter_value: Payload) -> float:
    return float(samples(meter_value, "Power.Active.Import")[0]["value"])


def schedule(periods: list[Payload]) -> list[Payload]:
    """Composite periods with plain floats (the library parses 1.6 schedules as Decimal)."""
    return [{**p, "limit": float(p["limit"])} for p in periods]


def tx_profile16(profile_id: int, limit: float, unit: str = "A", **extra: Any) -> Payload:
    return {
        "charging_profile_id": profile_id,
        "stack_level": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {
            "charging_rate_unit": unit,
            "charging_schedule_period": [{"start_period": 0, "limit": limit}],
        },
        **extra,
    }


def profile201(profile_id: int, purpose: str, periods: list[Payload], unit: str = "W", **extra: Any) -> Payload:
    return {
        "id": profile_id,
        "stack_level": 1,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
        "charging_schedule": [{"id": 1, "charging_rate_unit": unit, "charging_schedule_period": periods}],
        **extra,
    }


# ---------------------------------------------------------------------------- remote start / stop, reservations


async def test_v16_reservations_and_remote_start(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-RES", connectors=2)
    try:
        ok = await server.call(
            call16.ReserveNow(connector_id=1, expiry_date=later(3600), id_tag="TAG-A", reservation_id=11)
        )
        assert ok.status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[-1] == "Reserved")
        again = call16.ReserveNow(connector_id=1, expiry_date=later(3600), id_tag="TAG-C", reservation_id=12)
        assert (await server.call(again)).status == "Occupied"
        for bad in (0, 9):  # connector 0: ReserveConnectorZeroSupported is false
            nowhere = call16.ReserveNow(connector_id=bad, expiry_date=later(60), id_tag="TAG-C", reservation_id=13)
            assert (await server.call(nowhere)).status == "Rejected"
        assert (await server.call(call16.CancelReservation(reservation_id=999))).status == "Rejected"

        # The reserved connector refuses another tag; without a connector the other one is used.
        refused = await server.call(call16.RemoteStartTransaction(id_tag="TAG-B", connector_id=1))
        assert refused.status == "Rejected"
        assert (await server.call(call16.RemoteStartTransaction(id_tag="TAG-B"))).status == "Accepted"
        await wait_for(lambda: 2 in sim.transactions)
        # The reserved tag finds its connector and uses up the reservation.
        assert (await server.call(call16.RemoteStartTransaction(id_tag="TAG-A"))).status == "Accepted"
        await wait_for(lambda: 1 in sim.transactions)
        start_b, start_a = csms16.of("StartTransaction")
        assert start_b["connectorId"] == 2 and "reservationId" not in start_b
        assert start_a["connectorId"] == 1 and start_a["idTag"] == "TAG-A" and start_a["reservationId"] == 11
        assert sim.connectors[1].reservation is None
        # Nothing free any more.
        assert (await server.call(call16.RemoteStartTransaction(id_tag="TAG-C"))).status == "Rejected"
        busy = call16.ReserveNow(connector_id=2, expiry_date=later(60), id_tag="TAG-C", reservation_id=14)
        assert (await server.call(busy)).status == "Occupied"

        assert (await server.call(call16.RemoteStopTransaction(transaction_id=999))).status == "Rejected"
        stop = call16.RemoteStopTransaction(transaction_id=int(sim.transactions[1]))
        assert (await server.call(stop)).status == "Accepted"
        await wait_for(lambda: 1 not in sim.transactions and statuses16(csms16)[-1] == "Available")
        assert csms16.of("StopTransaction")[0]["reason"] == "Remote"

        # Reserve and cancel; reserve with a short expiry and let it lapse.
        assert (await server.call(call16.ReserveNow(1, later(3600), "TAG-A", 15))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[-1] == "Reserved")
        assert (await server.call(call16.CancelReservation(reservation_id=15))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[-1] == "Available")
        sent = len(statuses16(csms16))
        assert (await server.call(call16.ReserveNow(1, later(0.3), "TAG-A", 16))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[sent:] == ["Reserved", "Available"])
        assert sim.connectors[1].reservation is None

        # A locally started transaction for another tag is refused on a reserved connector.
        assert (await server.call(call16.ReserveNow(1, later(3600), "TAG-A", 17))).status == "Accepted"
        with pytest.raises(Exception, match="reserved"):
            await sim.start_transaction(1, "TAG-Z")
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_reservations_and_request_start(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-RES")
    try:
        token = {"id_token": "TAG-A", "type": "ISO14443"}
        ok = await server.call(call201.ReserveNow(id=21, expiry_date_time=later(3600), id_token=token, evse_id=1))
        assert ok.status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[-1] == "Reserved")
        other = {"id_token": "TAG-B", "type": "ISO14443"}
        refused = await server.call(call201.RequestStartTransaction(id_token=other, remote_start_id=1, evse_id=1))
        assert refused.status == "Rejected"
        unknown = await server.call(call201.ReserveNow(id=22, expiry_date_time=later(60), id_token=other, evse_id=5))
        assert unknown.status == "Rejected"
        assert (await server.call(call201.CancelReservation(reservation_id=99))).status == "Rejected"

        answer = await server.call(call201.RequestStartTransaction(id_token=token, remote_start_id=77))
        assert answer.status == "Accepted"
        await wait_for(lambda: 1 in sim.transactions and bool(csms201.of("TransactionEvent")))
        started = csms201.of("TransactionEvent")[0]
        assert started["triggerReason"] == "RemoteStart"
        assert started["transactionInfo"]["remoteStartId"] == 77
        assert started["reservationId"] == 21 and started["evse"] == {"id": 1, "connectorId": 1}
        busy = await server.call(call201.RequestStartTransaction(id_token=other, remote_start_id=2))
        assert busy.status == "Rejected"  # no free operative EVSE
        occupied = await server.call(call201.ReserveNow(id=23, expiry_date_time=later(60), id_token=other))
        assert occupied.status == "Occupied"

        assert (await server.call(call201.RequestStopTransaction(transaction_id="nope"))).status == "Rejected"
        stop = await server.call(call201.RequestStopTransaction(transaction_id=sim.transactions[1]))
        assert stop.status == "Accepted"
        await wait_for(lambda: csms201.of("TransactionEvent")[-1]["eventType"] == "Ended")
        ended = csms201.of("TransactionEvent")[-1]
        assert ended["transactionInfo"]["stoppedReason"] == "Remote" and ended["triggerReason"] == "RemoteStop"
        assert ended["transactionInfo"]["remoteStartId"] == 77
        await wait_for(lambda: statuses201(csms201)[-1] == "Available")

        # Any EVSE (no evseId), cancelled; then one that expires: ReservationStatusUpdate Expired.
        assert (await server.call(call201.ReserveNow(24, later(3600), token))).status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[-1] == "Reserved")
        assert (await server.call(call201.CancelReservation(reservation_id=24))).status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[-1] == "Available")
        sent = len(statuses201(csms201))
        assert (await server.call(call201.ReserveNow(25, later(0.3), token, evse_id=1))).status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[sent:] == ["Reserved", "Available"])
        assert csms201.of("ReservationStatusUpdate") == [{"reservationId": 25, "reservationUpdateStatus": "Expired"}]

        # A faulted or inoperative EVSE cannot be reserved.
        await sim.fault(1, "GroundFailure")
        assert (await server.call(call201.ReserveNow(26, later(60), token, evse_id=1))).status == "Faulted"
        await sim.status(1, "Available")
        inoperative = call201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
        assert (await server.call(inoperative)).status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[-1] == "Unavailable")
        assert (await server.call(call201.ReserveNow(27, later(60), token, evse_id=1))).status == "Unavailable"
        refused = await server.call(call201.RequestStartTransaction(id_token=token, remote_start_id=5))
        assert refused.status == "Rejected"
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- reset, unlock, availability


async def test_v16_hard_reset_unlock_and_availability(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-RST", connectors=2)
    try:
        assert (await server.call(call16.UnlockConnector(connector_id=7))).status == "NotSupported"
        await sim.start_transaction(1)
        # Unlocking a connector with a transaction ends it first.
        assert (await server.call(call16.UnlockConnector(connector_id=1))).status == "Unlocked"
        await wait_for(lambda: bool(csms16.of("StopTransaction")))
        assert csms16.of("StopTransaction")[0]["reason"] == "UnlockCommand"

        await sim.start_transaction(2)
        scheduled = await server.call(call16.ChangeAvailability(connector_id=2, type="Inoperative"))
        assert scheduled.status == "Scheduled"
        assert (await server.call(call16.ChangeAvailability(connector_id=1, type="Inoperative"))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16, 1)[-1] == "Unavailable")
        assert statuses16(csms16, 2)[-1] == "Charging"
        assert (await server.call(call16.ChangeAvailability(connector_id=1, type="Operative"))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16, 1)[-1] == "Available")

        # Hard reset: the transaction ends with HardReset, then reconnect and boot again.
        assert (await server.call(call16.Reset(type="Hard"))).status == "Accepted"
        await wait_for(lambda: len(csms16.of("BootNotification")) == 2)
        stop = csms16.of("StopTransaction")[-1]
        assert stop["reason"] == "HardReset"
        assert csms16.connections["CMD-16-RST"] == 2
        # The scheduled availability change took effect when the transaction ended.
        await wait_for(lambda: statuses16(csms16, 2)[-1] == "Unavailable")
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_resets_unlock_and_availability(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-RST")
    try:
        assert (await server.call(call201.UnlockConnector(evse_id=3, connector_id=1))).status == "UnknownConnector"
        assert (await server.call(call201.UnlockConnector(evse_id=1, connector_id=1))).status == "Unlocked"
        tx = await sim.start_transaction(1)
        unlock = await server.call(call201.UnlockConnector(evse_id=1, connector_id=1))
        assert unlock.status == "OngoingAuthorizedTransaction"

        avail = await server.call(call201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
        assert avail.status == "Scheduled"
        # OnIdle waits for the transaction; no new transactions start meanwhile.
        assert (await server.call(call201.Reset(type="OnIdle"))).status == "Scheduled"
        token = {"id_token": "X", "type": "Central"}
        refused = await server.call(call201.RequestStartTransaction(id_token=token, remote_start_id=3))
        assert refused.status == "Rejected"
        await asyncio.sleep(0.05)
        assert len(csms201.of("BootNotification")) == 1
        await server.call(call201.RequestStopTransaction(transaction_id=tx))
        await wait_for(lambda: len(csms201.of("BootNotification")) == 2)
        assert csms201.of("BootNotification")[1]["reason"] == "RemoteReset"
        await wait_for(lambda: statuses201(csms201)[-1] == "Unavailable")  # survives the reboot
        server = csms201.cps["CMD-201-RST"]  # the new connection
        assert (await server.call(call201.ChangeAvailability(operational_status="Operative"))).status == "Accepted"
        await wait_for(lambda: statuses201(csms201)[-1] == "Available")

        # Immediate: the transaction ends with ImmediateReset (triggerReason ResetCommand).
        await sim.start_transaction(1)
        assert (await server.call(call201.Reset(type="Immediate"))).status == "Accepted"
        await wait_for(lambda: len(csms201.of("BootNotification")) == 3)
        ended = csms201.of("TransactionEvent")[-1]
        assert ended["eventType"] == "Ended" and ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert ended["triggerReason"] == "ResetCommand"
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- trigger message


async def test_v16_trigger_message(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-TRG")
    try:
        for message in (
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
        ):
            before = len(csms16.of(message))
            assert (await server.call(call16.TriggerMessage(requested_message=message))).status == "Accepted"
            await wait_for(more(csms16, message, before))
        assert csms16.of("FirmwareStatusNotification") == [{"status": "Idle"}]
        assert csms16.of("DiagnosticsStatusNotification") == [{"status": "Idle"}]
        assert csms16.of("MeterValues")[-1]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        bad = await server.call(call16.TriggerMessage(requested_message="StatusNotification", connector_id=5))
        assert bad.status == "Rejected"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_trigger_message(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-TRG")
    try:
        for message in (
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "FirmwareStatusNotification",
            "LogStatusNotification",
        ):
            before = len(csms201.of(message))
            assert (await server.call(call201.TriggerMessage(requested_message=message))).status == "Accepted"
            await wait_for(more(csms201, message, before))
        assert csms201.of("BootNotification")[-1]["reason"] == "Triggered"
        assert csms201.of("FirmwareStatusNotification") == [{"status": "Idle"}]
        assert csms201.of("LogStatusNotification") == [{"status": "Idle"}]
        other = await server.call(call201.TriggerMessage(requested_message="PublishFirmwareStatusNotification"))
        assert other.status == "NotImplemented"
        tx = await sim.start_transaction(1)
        assert (await server.call(call201.TriggerMessage(requested_message="TransactionEvent"))).status == "Accepted"
        await wait_for(lambda: csms201.of("TransactionEvent")[-1]["triggerReason"] == "Trigger")
        assert csms201.of("TransactionEvent")[-1]["transactionInfo"]["transactionId"] == tx
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- configuration / device model


async def test_v16_configuration_takes_effect(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-CFG")
    try:
        wanted = ["HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData", "Nope"]
        got = await server.call(call16.GetConfiguration(key=wanted))
        keys = {k["key"]: k for k in got.configuration_key}
        assert set(keys) == set(wanted[:3]) and got.unknown_key == ["Nope"]
        assert "Temperature" in keys["MeterValuesSampledData"]["value"]
        everything = {k["key"]: k for k in (await server.call(call16.GetConfiguration())).configuration_key}
        assert everything["NumberOfConnectors"]["readonly"] is True
        assert "SmartCharging" in everything["SupportedFeatureProfiles"]["value"]

        def change(key: str, value: str) -> call16.ChangeConfiguration:
            return call16.ChangeConfiguration(key=key, value=value)

        assert (await server.call(change("HeartbeatInterval", "45"))).status == "Accepted"
        assert sim.heartbeat_interval_s == 45
        assert (await server.call(change("MeterValueSampleInterval", "0.5"))).status == "Rejected"  # not an integer
        assert (await server.call(change("MeterValueSampleInterval", "12"))).status == "Accepted"
        assert sim.config.meter_interval_s == 12
        assert (await server.call(change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus"))).status == (
            "Rejected"
        )
        measurands = "Energy.Active.Import.Register,Power.Active.Import"
        assert (await server.call(change("MeterValuesSampledData", measurands))).status == "Accepted"
        assert (await server.call(change("NumberOfConnectors", "4"))).status == "Rejected"
        assert (await server.call(change("NoSuchKey", "1"))).status == "NotSupported"

        await sim.start_transaction(1)
        await sim.send_meter_values(1, seconds=60)
        sampled = csms16.of("MeterValues")[-1]["meterValue"][0]["sampledValue"]
        assert [s["measurand"] for s in sampled] == measurands.split(",")
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_variables_and_chunked_report(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-CFG")
    try:

        def var(component: str, variable: str, value: str | None = None) -> Payload:
            item: Payload = {"component": {"name": component}, "variable": {"name": variable}}
            if value is not None:
                item["attribute_value"] = value
            return item

        got = await server.call(
            call201.GetVariables(
                get_variable_data=[
                    var("OCPPCommCtrlr", "HeartbeatInterval"),
                    var("SampledDataCtrlr", "TxUpdatedInterval"),
                    var("SampledDataCtrlr", "TxUpdatedMeasurands"),
                    var("SampledDataCtrlr", "Nope"),
                    var("NoSuchCtrlr", "Nope"),
                ]
            )
        )
        statuses = [r["attribute_status"] for r in got.get_variable_result]
        assert statuses == ["Accepted", "Accepted", "Accepted", "UnknownVariable", "UnknownComponent"]
        assert got.get_variable_result[0]["attribute_value"] == "300"
        measurands = "Energy.Active.Import.Register,Power.Active.Import,Voltage"
        setr = await server.call(
            call201.SetVariables(
                set_variable_data=[
                    var("OCPPCommCtrlr", "HeartbeatInterval", "30"),
                    var("SampledDataCtrlr", "TxUpdatedInterval", "9"),
                    var("SampledDataCtrlr", "TxUpdatedMeasurands", measurands),
                    var("SampledDataCtrlr", "TxEndedMeasurands", "Temperature"),  # not a 2.0.1 measurand here
                    var("NoSuchCtrlr", "X", "1"),
                ]
            )
        )
        assert [r["attribute_status"] for r in setr.set_variable_result] == [
            "Accepted",
            "Accepted",
            "Accepted",
            "Rejected",
            "UnknownComponent",
        ]
        assert sim.heartbeat_interval_s == 30 and sim.config.meter_interval_s == 9
        await sim.start_transaction(1)
        await sim.send_meter_values(1, seconds=60)
        update = csms201.of("TransactionEvent")[-1]["meterValue"][0]
        assert {s["measurand"] for s in update["sampledValue"]} == set(measurands.split(","))

        sim.variables[("DeviceDataCtrlr", "ItemsPerMessage")].value = "10"
        assert (await server.call(call201.GetBaseReport(request_id=4, report_base="FullInventory"))).status == (
            "Accepted"
        )
        await wait_for(lambda: bool(csms201.of("NotifyReport")) and not csms201.of("NotifyReport")[-1]["tbc"])
        reports = csms201.of("NotifyReport")
        assert len(reports) > 2 and [r["seqNo"] for r in reports] == list(range(len(reports)))
        assert all(r["requestId"] == 4 and len(r["reportData"]) <= 10 for r in reports)
        assert [r["tbc"] for r in reports] == [True] * (len(reports) - 1) + [False]
        names = {(d["component"]["name"], d["variable"]["name"]) for r in reports for d in r["reportData"]}
        assert ("SampledDataCtrlr", "TxUpdatedMeasurands") in names and ("EVSE", "AvailabilityState") in names
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- diagnostics / logs


async def test_v16_get_diagnostics_uploads_multipart(csms16: Csms, upload_server: UploadServer) -> None:
    sim, server = await booted(csms16, "CMD-16-DIAG")
    try:
        await sim.charge(0.1)
        answer = await server.call(call16.GetDiagnostics(location=f"{upload_server.url}/diagnostics/tok-1"))
        assert answer.file_name.startswith("diagnostics-CMD-16-DIAG-") and answer.file_name.endswith(".log")
        await wait_for(lambda: len(csms16.of("DiagnosticsStatusNotification")) == 2)
        assert [p["status"] for p in csms16.of("DiagnosticsStatusNotification")] == ["Uploading", "Uploaded"]

        (upload,) = upload_server.uploads
        assert upload.method == "POST" and upload.path == "/diagnostics/tok-1"
        content_type = upload.headers["Content-Type"]
        assert content_type.startswith("multipart/form-data; boundary=")
        form = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + upload.body)
        (part,) = [p for p in form.walk() if not p.is_multipart()]
        assert part.get_param("name", header="content-disposition") == "file"
        assert part.get_filename() == answer.file_name
        assert part.get_content_type() == "text/plain"
        content = part.get_payload(decode=True)
        assert isinstance(content, bytes)
        text = content.decode()
        assert 500 < len(text) < 20_000
        assert "CMD-16-DIAG" in text and "boot reason      PowerUp" in text
        assert "[recent statuses]" in text and "Charging" in text and "StopTransaction" in text

        # Not a 2xx answer: UploadFailed. Triggered afterwards: Idle.
        failed = await server.call(call16.GetDiagnostics(location=f"{upload_server.url}/x/status/500"))
        assert failed.file_name
        await wait_for(lambda: csms16.of("DiagnosticsStatusNotification")[-1]["status"] == "UploadFailed")
        assert sim.uploads[-1][1:] == (500, False)
        # The charger is idle once the CSMS has answered its UploadFailed, not before.
        await wait_for(lambda: sim.diagnostics_status == "Idle")
        await server.call(call16.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
        await wait_for(lambda: csms16.of("DiagnosticsStatusNotification")[-1]["status"] == "Idle")
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_get_log_uploads_with_put(csms201: Csms, upload_server: UploadServer) -> None:
    sim, server = await booted(csms201, "CMD-201-LOG")
    try:
        await sim.start_transaction(1)
        await sim.send_meter_values(1)
        answer = await server.call(
            call201.GetLog(
                log={"remote_location": f"{upload_server.url}/logs/tok-2"}, log_type="DiagnosticsLog", request_id=5
            )
        )
        assert answer.status == "Accepted"
        assert answer.filename.startswith("diagnostics-CMD-201-LOG-") and answer.filename.endswith(".log")
        await wait_for(lambda: len(csms201.of("LogStatusNotification")) == 2)
        assert csms201.of("LogStatusNotification") == [
            {"status": "Uploading", "requestId": 5},
            {"status": "Uploaded", "requestId": 5},
        ]
        (upload,) = upload_server.uploads
        assert upload.method == "PUT" and upload.path == "/logs/tok-2"
        assert upload.headers["Content-Type"] == "text/plain"
        assert upload.headers["Content-Disposition"] == f'attachment; filename="{answer.filename}"'
        text = upload.body.decode()
        assert text.startswith("Laddnät charger simulator") and "CMD-201-LOG" in text
        assert "[recent meter readings]" in text and "TransactionEvent" in text

        failed = await server.call(
            call201.GetLog(
                log={"remote_location": f"{upload_server.url}/status/403"}, log_type="SecurityLog", request_id=6
            )
        )
        assert failed.filename.startswith("security-")
        await wait_for(lambda: csms201.of("LogStatusNotification")[-1]["status"] == "UploadFailure")
        assert csms201.of("LogStatusNotification")[-1]["requestId"] == 6
        assert len(upload_server.uploads) == 2
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- firmware


async def test_v16_update_firmware(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-FW", firmware_step_s=0.01)
    try:
        await sim.start_transaction(1)
        answer = await server.call(
            call16.UpdateFirmware(location="https://fw.example/sim/sim-2.0.bin", retrieve_date=later(0))
        )
        assert answer is not None
        await wait_for(lambda: len(csms16.of("BootNotification")) == 2)
        fw = [p["status"] for p in csms16.of("FirmwareStatusNotification")]
        assert fw == ["Downloading", "Downloaded", "Installing", "Installed"]
        assert csms16.of("StopTransaction")[0]["reason"] == "Reboot"
        assert csms16.of("BootNotification")[1]["firmwareVersion"] == "sim-2.0"
        assert csms16.connections["CMD-16-FW"] == 2

        server = csms16.cps["CMD-16-FW"]
        await server.call(call16.UpdateFirmware(location="https://fw.example/fail.bin", retrieve_date=later(0)))
        await wait_for(lambda: csms16.of("FirmwareStatusNotification")[-1]["status"] == "DownloadFailed")
        await sim.wait_background()
        assert len(csms16.of("BootNotification")) == 2  # no reboot after a failed download
        assert sim.firmware_status == "Idle"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_update_firmware(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-FW", firmware_step_s=0.01)
    try:
        firmware = {"location": "https://fw.example/sim-3.1.tar.gz", "retrieve_date_time": later(0)}
        answer = await server.call(call201.UpdateFirmware(request_id=9, firmware=firmware))
        assert answer.status == "Accepted"
        await wait_for(lambda: len(csms201.of("BootNotification")) == 2)
        assert csms201.of("FirmwareStatusNotification") == [
            {"status": status, "requestId": 9} for status in ("Downloading", "Downloaded", "Installing", "Installed")
        ]
        boot = csms201.of("BootNotification")[1]
        assert boot["reason"] == "FirmwareUpdate" and boot["chargingStation"]["firmwareVersion"] == "sim-3.1"
        server = csms201.cps["CMD-201-FW"]

        failing = {"location": "https://fw.example/will-fail.bin", "retrieve_date_time": later(0)}
        assert (await server.call(call201.UpdateFirmware(request_id=10, firmware=failing))).status == "Accepted"
        await wait_for(lambda: csms201.of("FirmwareStatusNotification")[-1]["status"] == "DownloadFailed")
        assert csms201.of("FirmwareStatusNotification")[-1]["requestId"] == 10
        # The update is over once the CSMS has answered its DownloadFailed, not before.
        await wait_for(lambda: not sim.firmware_busy)
        # A second update while one is scheduled cancels the first.
        slow = {"location": "https://fw.example/a.bin", "retrieve_date_time": later(30)}
        assert (await server.call(call201.UpdateFirmware(request_id=11, firmware=slow))).status == "Accepted"
        await wait_for(lambda: csms201.of("FirmwareStatusNotification")[-1]["status"] == "DownloadScheduled")
        again = await server.call(call201.UpdateFirmware(request_id=12, firmware=failing))
        assert again.status == "AcceptedCanceled"
        await wait_for(
            lambda: csms201.of("FirmwareStatusNotification")[-1] == {"status": "DownloadFailed", "requestId": 12}
        )
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- local list, cache, data transfer


async def test_v16_local_list_cache_and_data_transfer(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-LL")
    try:
        assert (await server.call(call16.GetLocalListVersion())).list_version == 0
        full = call16.SendLocalList(
            list_version=3,
            update_type="Full",
            local_authorization_list=[
                {"id_tag": "GOOD", "id_tag_info": {"status": "Accepted"}},
                {"id_tag": "LOST", "id_tag_info": {"status": "Blocked"}},
            ],
        )
        assert (await server.call(full)).status == "Accepted"
        assert (await server.call(call16.GetLocalListVersion())).list_version == 3
        stale = call16.SendLocalList(list_version=3, update_type="Differential", local_authorization_list=[])
        assert (await server.call(stale)).status == "VersionMismatch"
        diff = call16.SendLocalList(
            list_version=4, update_type="Differential", local_authorization_list=[{"id_tag": "GOOD"}]
        )
        assert (await server.call(diff)).status == "Accepted"
        assert sim.local_list == {"LOST": {"status": "Blocked"}} and sim.local_list_version == 4

        # Offline, the local list decides.
        await sim.go_offline()
        with pytest.raises(AuthorizationRejected):
            await sim.start_transaction(1, "LOST")
        await sim.come_online()
        server = csms16.cps["CMD-16-LL"]

        assert (await server.call(call16.ClearCache())).status == "Accepted"
        echoed = await server.call(call16.DataTransfer(vendor_id="com.laddnat.sim", message_id="ping", data="hej"))
        assert echoed.status == "Accepted" and echoed.data == "hej"
        assert (await server.call(call16.DataTransfer(vendor_id="other.vendor"))).status == "UnknownVendorId"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_local_list_cache_and_data_transfer(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-LL")
    try:
        assert (await server.call(call201.GetLocalListVersion())).version_number == 0
        entry = {"id_token": {"id_token": "GOOD", "type": "ISO14443"}, "id_token_info": {"status": "Accepted"}}
        full = call201.SendLocalList(version_number=2, update_type="Full", local_authorization_list=[entry])
        assert (await server.call(full)).status == "Accepted"
        stale = call201.SendLocalList(version_number=1, update_type="Differential")
        assert (await server.call(stale)).status == "VersionMismatch"
        assert (await server.call(call201.GetLocalListVersion())).version_number == 2
        assert sim.local_list == {"GOOD": {"status": "Accepted"}}

        assert (await server.call(call201.ClearCache())).status == "Accepted"
        data = {"probe": [1, 2]}
        echoed = await server.call(call201.DataTransfer(vendor_id="com.laddnat.sim", data=data))
        assert echoed.status == "Accepted" and echoed.data == data
        assert (await server.call(call201.DataTransfer(vendor_id="acme"))).status == "UnknownVendorId"
        assert sim.errors == []
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- smart charging


async def test_v16_charging_profiles_cap_power(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-SC", connectors=2)
    try:
        # No profile: the composite schedule is what the hardware can do.
        plain = await server.call(call16.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="W"))
        assert plain.status == "Accepted" and plain.connector_id == 1
        assert schedule(plain.charging_schedule["charging_schedule_period"]) == [{"start_period": 0, "limit": 11000}]
        amps = await server.call(call16.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="A"))
        assert schedule(amps.charging_schedule["charging_schedule_period"]) == [
            {"start_period": 0, "limit": 15.9, "number_phases": 3}
        ]
        missing = await server.call(call16.GetCompositeSchedule(connector_id=9, duration=60))
        assert missing.status == "Rejected"

        await sim.start_transaction(1)
        tx = int(sim.transactions[1])

        def set_profile(connector: int, profile: Payload) -> call16.SetChargingProfile:
            return call16.SetChargingProfile(connector_id=connector, cs_charging_profiles=profile)

        assert (await server.call(set_profile(7, tx_profile16(1, 10)))).status == "Rejected"  # no such connector
        assert (await server.call(set_profile(2, tx_profile16(1, 10)))).status == "Rejected"  # no transaction there
        wrong_tx = tx_profile16(1, 10, transaction_id=tx + 100)
        assert (await server.call(set_profile(1, wrong_tx))).status == "Rejected"
        station_max = {**tx_profile16(2, 10), "charging_profile_purpose": "ChargePointMaxProfile"}
        assert (await server.call(set_profile(1, station_max))).status == "Rejected"  # only on connector 0

        # 10 A x 3 phases x 230 V = 6900 W from the next meter value on.
        assert (await server.call(set_profile(1, tx_profile16(1, 10, transaction_id=tx)))).status == "Accepted"
        await sim.send_meter_values(1)
        assert power(csms16.of("MeterValues")[-1]["meterValue"][0]) == 6900
        assert sim.reading(1).power_w == pytest.approx(6900)

        # A station maximum of 4 kW for the first 10 minutes, then 11 kW.
        station = {
            "charging_profile_id": 5,
            "stack_level": 0,
            "charging_profile_purpose": "ChargePointMaxProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": {
                "start_schedule": later(-1),
                "duration": 3600,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 4000}, {"start_period": 600, "limit": 11000}],
            },
        }
        assert (await server.call(set_profile(0, station))).status == "Accepted"
        composite = await server.call(
            call16.GetCompositeSchedule(connector_id=1, duration=1200, charging_rate_unit="W")
        )
        periods = schedule(composite.charging_schedule["charging_schedule_period"])
        assert [p["limit"] for p in periods] == [4000, 6900]
        assert 595 <= periods[1]["start_period"] <= 600
        await sim.send_meter_values(1)
        assert power(csms16.of("MeterValues")[-1]["meterValue"][0]) == 4000

        # A limit of 0 suspends the transaction; clearing it resumes.
        zero = {**tx_profile16(6, 0, unit="W"), "stack_level": 2}
        assert (await server.call(set_profile(1, zero))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[-1] == "SuspendedEVSE")
        assert sim.reading(1).power_w == 0
        assert (await server.call(call16.ClearChargingProfile(id=99))).status == "Unknown"
        assert (await server.call(call16.ClearChargingProfile(id=6))).status == "Accepted"
        await wait_for(lambda: statuses16(csms16)[-1] == "Charging")
        cleared = call16.ClearChargingProfile(charging_profile_purpose="ChargePointMaxProfile")
        assert (await server.call(cleared)).status == "Accepted"
        await sim.send_meter_values(1)
        assert power(csms16.of("MeterValues")[-1]["meterValue"][0]) == 6900

        # The TxProfile ends with its transaction.
        await sim.stop_transaction(1)
        assert [p.id for p in sim.charging_profiles] == []
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v16_remote_start_with_charging_profile(csms16: Csms) -> None:
    sim, server = await booted(csms16, "CMD-16-RSP")
    try:
        start = call16.RemoteStartTransaction(id_tag="T", connector_id=1, charging_profile=tx_profile16(8, 2000, "W"))
        assert (await server.call(start)).status == "Accepted"
        await wait_for(lambda: 1 in sim.transactions)
        await sim.send_meter_values(1)
        assert power(csms16.of("MeterValues")[-1]["meterValue"][0]) == 2000
        not_tx = {**tx_profile16(9, 10), "charging_profile_purpose": "TxDefaultProfile"}
        refused = await server.call(call16.RemoteStartTransaction(id_tag="T", charging_profile=not_tx))
        assert refused.status == "Rejected"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_charging_profiles_cap_power(csms201: Csms) -> None:
    sim, server = await booted(csms201, "CMD-201-SC")
    try:
        tx = await sim.start_transaction(1)

        def set_profile(evse: int, profile: Payload) -> call201.SetChargingProfile:
            return call201.SetChargingProfile(evse_id=evse, charging_profile=profile)

        limited = profile201(
            1, "TxProfile", [{"start_period": 0, "limit": 8, "number_phases": 1}], "A", transaction_id=tx
        )
        assert (await server.call(set_profile(1, {**limited, "transaction_id": "other"}))).status == "Rejected"
        assert (await server.call(set_profile(4, limited))).status == "Rejected"
        # 8 A on one phase = 1840 W; the change is reported at once (ChargingRateChanged).
        assert (await server.call(set_profile(1, limited))).status == "Accepted"
        await wait_for(lambda: csms201.of("TransactionEvent")[-1]["triggerReason"] == "ChargingRateChanged")
        assert power(csms201.of("TransactionEvent")[-1]["meterValue"][0]) == 1840
        await sim.send_meter_values(1)
        assert power(csms201.of("TransactionEvent")[-1]["meterValue"][0]) == 1840

        default = profile201(2, "TxDefaultProfile", [{"start_period": 0, "limit": 5000}])
        assert (await server.call(set_profile(0, default))).status == "Accepted"
        composite = await server.call(call201.GetCompositeSchedule(duration=300, evse_id=1, charging_rate_unit="W"))
        assert composite.status == "Accepted"
        assert composite.schedule["evse_id"] == 1 and composite.schedule["charging_rate_unit"] == "W"
        assert schedule(composite.schedule["charging_schedule_period"]) == [{"start_period": 0, "limit": 1840}]
        missing = await server.call(call201.GetCompositeSchedule(duration=300, evse_id=3))
        assert missing.status == "Rejected"

        by_criteria = call201.ClearChargingProfile(charging_profile_criteria={"charging_profile_purpose": "TxProfile"})
        assert (await server.call(by_criteria)).status == "Accepted"
        # Back to the TxDefaultProfile of EVSE 0.
        await wait_for(lambda: power(csms201.of("TransactionEvent")[-1]["meterValue"][0]) == 5000)
        assert (await server.call(call201.ClearChargingProfile(charging_profile_id=77))).status == "Unknown"
        assert (await server.call(call201.ClearChargingProfile(charging_profile_id=2))).status == "Accepted"
        await wait_for(lambda: power(csms201.of("TransactionEvent")[-1]["meterValue"][0]) == 11000)
        assert sim.errors == []
    finally:
        await sim.close()
