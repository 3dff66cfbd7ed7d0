"""The charger simulator against a tiny in-test CSMS built on the ``ocpp`` library's server side.

Real sockets (websockets on a free port), both OCPP versions: boot, charging with rising
meter values, offline queueing and replay with the original timestamps, CSMS-initiated
calls (remote start/stop, reset, configuration...), scripted trouble, and the CLI.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator import ConnectFailed, SimConfig, SimulatedCharger
from devtools.simulator.cli import add_cli_arguments, run_simulation
from tests.unit.fake_csms import PASSWORD, Csms, make_sim, samples, wait_for

Payload = dict[str, Any]


# ---------------------------------------------------------------------------- helpers


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def iso(self) -> str:
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def energies(meter_values: list[Payload]) -> list[float]:
    return [
        float(sv["value"])
        for mv in meter_values
        for sv in mv["sampledValue"]
        if sv.get("measurand") == "Energy.Active.Import.Register"
    ]


# ---------------------------------------------------------------------------- boot and charge


async def test_v16_boot_and_charge(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-A")
    try:
        await sim.connect()
        boot = await sim.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == 300
        assert sim.last_response("BootNotification") == boot
        assert (await sim.heartbeat())["currentTime"]
        await sim.status(1, "Available")
        await sim.charge(0.2)
    finally:
        await sim.close()

    (boot_req,) = csms16.of("BootNotification")
    assert boot_req["chargePointVendor"] == "Laddnät" and boot_req["chargePointModel"] == "Sim-22"
    statuses = [p["status"] for p in csms16.of("StatusNotification")]
    assert statuses == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert all(p["timestamp"].endswith("Z") for p in csms16.of("StatusNotification"))
    order = [a for a in csms16.actions() if a not in ("StatusNotification", "Heartbeat")]
    assert order[:3] == ["BootNotification", "Authorize", "StartTransaction"]
    assert order[-1] == "StopTransaction"

    (start,) = csms16.of("StartTransaction")
    assert start["meterStart"] == 0 and start["idTag"] == "DEMO-TAG-0001" and start["timestamp"].endswith("Z")
    meter_values = csms16.of("MeterValues")
    assert len(meter_values) == 4
    assert {p["transactionId"] for p in meter_values} == {1}
    values = energies([mv for p in meter_values for mv in p["meterValue"]])
    assert values == sorted(values) and values[0] > 0 and len(set(values)) == len(values)
    first = meter_values[0]["meterValue"][0]
    assert [s["phase"] for s in samples(first, "Current.Import")] == ["L1", "L2", "L3"]
    assert [s["phase"] for s in samples(first, "Voltage")] == ["L1-N", "L2-N", "L3-N"]
    assert samples(first, "Temperature")[0]["unit"] == "Celsius"
    assert samples(first, "SoC") and samples(first, "Power.Active.Import")[0]["value"] == "11000"

    (stop,) = csms16.of("StopTransaction")
    assert stop["transactionId"] == 1 and stop["reason"] == "Local"
    # 11 kW for 0.2 s at 60x = 12 simulated seconds = 36.7 Wh
    assert stop["meterStop"] == round(sim.energy_wh(1)) == 37
    contexts = [s["context"] for mv in stop["transactionData"] for s in mv["sampledValue"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    assert sim.transactions == {}
    assert [a for a, _ in sim.sent] == csms16.actions()


async def test_v201_boot_and_charge(csms201: Csms) -> None:
    sim = make_sim(csms201, "SIM-201-A", meter_start_wh=1000)
    try:
        await sim.connect()
        boot = await sim.boot()
        assert boot["status"] == "Accepted"
        await sim.status(1, "Available")
        tx = await sim.start_transaction(1)
        assert sim.transactions == {1: tx}
        for _ in range(3):
            await sim.send_meter_values(1)
        await sim.stop_transaction(1)
    finally:
        await sim.close()

    (boot_req,) = csms201.of("BootNotification")
    assert boot_req["reason"] == "PowerUp"
    assert boot_req["chargingStation"] == {
        "model": "Sim-22",
        "vendorName": "Laddnät",
        "serialNumber": "SIM-201-A",
        "firmwareVersion": "sim-1.0",
    }
    # Preparing and Charging both map to Occupied: only changes go out.
    assert [p["connectorStatus"] for p in csms201.of("StatusNotification")] == ["Available", "Occupied", "Available"]
    events = csms201.of("TransactionEvent")
    assert [e["eventType"] for e in events] == ["Started", "Updated", "Updated", "Updated", "Ended"]
    assert [e["seqNo"] for e in events] == [0, 1, 2, 3, 4]
    assert {e["transactionInfo"]["transactionId"] for e in events} == {tx}
    assert all("offline" not in e for e in events)
    started, ended = events[0], events[-1]
    assert started["triggerReason"] == "Authorized"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["idToken"] == {"idToken": "DEMO-TAG-0001", "type": "ISO14443"}
    assert samples(started["meterValue"][0], "Energy.Active.Import.Register")[0]["context"] == "Transaction.Begin"
    assert all(e["triggerReason"] == "MeterValuePeriodic" for e in events[1:-1])
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["triggerReason"] == "StopAuthorized"
    assert samples(ended["meterValue"][0], "Energy.Active.Import.Register")[0]["context"] == "Transaction.End"
    values = energies([mv for e in events for mv in e["meterValue"]])
    # 3 samples of 0.05 s at 60x: 9 simulated seconds of 11 kW = 27.5 Wh
    assert values[0] == 1000 and values == sorted(values) and values[-1] == pytest.approx(1027.5, abs=0.1)
    update = events[1]["meterValue"][0]
    assert samples(update, "Frequency")[0]["unitOfMeasure"] == {"unit": "Hz"}
    assert not samples(update, "Temperature")  # not a 2.0.1 measurand
    assert samples(update, "Voltage")[0]["value"] == 230


async def test_rejected_id_tag_does_not_start(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-BLOCKED")
    try:
        await sim.connect()
        await sim.boot()
        with pytest.raises(Exception, match="Blocked"):
            await sim.start_transaction(1, "BLOCKED")
    finally:
        await sim.close()
    assert not csms16.of("StartTransaction")
    assert [p["status"] for p in csms16.of("StatusNotification")] == ["Preparing", "Available"]


# ---------------------------------------------------------------------------- offline


async def test_v16_offline_queue_replays_with_original_timestamps(csms16: Csms) -> None:
    clock = FakeClock()
    sim = make_sim(csms16, "SIM-16-OFF", clock=clock)
    try:
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        await sim.start_transaction(1)
        assert sim.transactions[1] == "1"

        await sim.go_offline()
        assert not sim.online
        stamps = []
        clock.advance(60)
        await sim.send_meter_values(1)
        stamps.append(clock.iso())
        clock.advance(60)
        await sim.stop_transaction(1)
        stamps.append(clock.iso())
        # A whole transaction while offline: the CSMS's id is unknown until replay.
        clock.advance(60)
        local = await sim.start_transaction(1)
        assert local.startswith("local-")
        stamps.append(clock.iso())
        clock.advance(60)
        await sim.send_meter_values(1)
        stamps.append(clock.iso())
        assert [q.action for q in sim.queue] == ["MeterValues", "StopTransaction", "StartTransaction", "MeterValues"]
        assert csms16.connections["SIM-16-OFF"] == 1

        clock.advance(3600)
        await sim.come_online()
        assert sim.queue == []
        assert sim.transactions == {1: "2"}  # the placeholder became the CSMS's id
        clock.advance(60)
        await sim.stop_transaction(1)
    finally:
        await sim.close()

    replayed = [c for c in csms16.calls if c.connection == 2 and c.action != "StatusNotification"]
    assert [c.action for c in replayed] == [
        "MeterValues",
        "StopTransaction",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ]
    meter1, stop1, start2, meter2, stop2 = (c.payload for c in replayed)
    assert meter1["meterValue"][0]["timestamp"] == stamps[0] and meter1["transactionId"] == 1
    assert stop1["timestamp"] == stamps[1] and stop1["transactionId"] == 1
    assert start2["timestamp"] == stamps[2]
    assert meter2["meterValue"][0]["timestamp"] == stamps[3] and meter2["transactionId"] == 2
    assert stop2["transactionId"] == 2
    assert not any(c.action == "BootNotification" for c in csms16.calls if c.connection == 2)
    # Statuses are not queued; the state is only resent when it differs from the last one sent
    # (here Charging before and after), so the second connection only sees the final stop.
    statuses = [c.payload["status"] for c in csms16.calls if c.connection == 2 and c.action == "StatusNotification"]
    assert statuses == ["Finishing", "Available"]


async def test_v201_offline_flags_and_seq_numbers(csms201: Csms) -> None:
    clock = FakeClock()
    sim = make_sim(csms201, "SIM-201-OFF", clock=clock)
    try:
        await sim.connect()
        await sim.boot()
        tx = await sim.start_transaction(1)
        await sim.go_offline()
        clock.advance(30)
        await sim.send_meter_values(1)
        at_meter = clock.iso()
        clock.advance(30)
        await sim.stop_transaction(1)
        at_stop = clock.iso()
        clock.advance(600)
        await sim.come_online()
    finally:
        await sim.close()
    events = csms201.of("TransactionEvent")
    assert [(e["eventType"], e["seqNo"], e.get("offline")) for e in events] == [
        ("Started", 0, None),
        ("Updated", 1, True),
        ("Ended", 2, True),
    ]
    assert {e["transactionInfo"]["transactionId"] for e in events} == {tx}
    assert events[1]["timestamp"] == at_meter and events[2]["timestamp"] == at_stop


async def test_dropped_connection_queues_until_reconnect(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-DROP")
    try:
        await sim.connect()
        await sim.boot()
        await sim.start_transaction(1)
        await csms16.cps["SIM-16-DROP"]._connection.close()
        await wait_for(lambda: not sim.online)
        await sim.send_meter_values(1)
        await sim.fault(1, "GroundFailure")  # not sent: statuses are not queued...
        assert [q.action for q in sim.queue] == ["MeterValues"]
        await sim.come_online()
        await sim.stop_transaction(1)
    finally:
        await sim.close()
    second = [(c.action, c.payload.get("status")) for c in csms16.calls if c.connection == 2]
    # ...but the changed state is sent once back; a faulted connector stays Faulted after the stop.
    assert second == [("MeterValues", None), ("StatusNotification", "Faulted"), ("StopTransaction", None)]


# ---------------------------------------------------------------------------- CSMS-initiated calls


async def test_v16_remote_start_really_starts(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-RS")
    try:
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        server = csms16.cps["SIM-16-RS"]
        csms16.frames.clear()
        answer = await server.call(call16.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1))
        assert answer.status == "Accepted"
        await wait_for(lambda: bool(csms16.of("StartTransaction")) and 1 in sim.transactions)
        # The answer goes out before the charger acts on it.
        assert csms16.frames[:3] == ["result", "StatusNotification", "StartTransaction"]
        assert csms16.of("StartTransaction")[0]["idTag"] == "REMOTE-1"
        assert "Authorize" not in csms16.actions()  # AuthorizeRemoteTxRequests is false
        # A second start on the busy connector is refused.
        again = await server.call(call16.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1))
        assert again.status == "Rejected"

        bad = await server.call(call16.RemoteStopTransaction(transaction_id=999))
        assert bad.status == "Rejected"
        answer = await server.call(call16.RemoteStopTransaction(transaction_id=int(sim.transactions[1])))
        assert answer.status == "Accepted"
        await wait_for(lambda: bool(csms16.of("StopTransaction")))
        assert csms16.of("StopTransaction")[0]["reason"] == "Remote"
        await wait_for(lambda: csms16.of("StatusNotification")[-1]["status"] == "Available")
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_request_start_and_stop(csms201: Csms) -> None:
    sim = make_sim(csms201, "SIM-201-RS")
    try:
        await sim.connect()
        await sim.boot()
        server = csms201.cps["SIM-201-RS"]
        answer = await server.call(
            call201.RequestStartTransaction(
                id_token={"id_token": "REMOTE-2", "type": "Central"}, remote_start_id=42, evse_id=1
            )
        )
        assert answer.status == "Accepted"
        await wait_for(lambda: 1 in sim.transactions and bool(csms201.of("TransactionEvent")))
        started = csms201.of("TransactionEvent")[0]
        assert started["triggerReason"] == "RemoteStart"
        assert started["transactionInfo"]["remoteStartId"] == 42
        assert started["idToken"]["idToken"] == "REMOTE-2"

        unlock = await server.call(call201.UnlockConnector(evse_id=1, connector_id=1))
        assert unlock.status == "OngoingAuthorizedTransaction"
        answer = await server.call(call201.RequestStopTransaction(transaction_id=sim.transactions[1]))
        assert answer.status == "Accepted"
        await wait_for(lambda: csms201.of("TransactionEvent")[-1]["eventType"] == "Ended")
        ended = csms201.of("TransactionEvent")[-1]
        assert ended["transactionInfo"]["stoppedReason"] == "Remote"
        assert ended["triggerReason"] == "RemoteStop"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v16_configuration_trigger_availability_reset(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-CFG")
    try:
        await sim.connect()
        await sim.boot()
        server = csms16.cps["SIM-16-CFG"]
        got = await server.call(call16.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
        assert got.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        assert got.unknown_key == ["NoSuchKey"]
        everything = await server.call(call16.GetConfiguration())
        assert "AuthorizationKey" not in {k["key"] for k in everything.configuration_key}

        assert (await server.call(call16.ChangeConfiguration(key="MeterValueSampleInterval", value="7"))).status == (
            "Accepted"
        )
        assert sim.config.meter_interval_s == 7
        assert (await server.call(call16.ChangeConfiguration(key="NumberOfConnectors", value="3"))).status == "Rejected"
        assert (await server.call(call16.ChangeConfiguration(key="Bogus", value="1"))).status == "NotSupported"
        assert (await server.call(call16.DataTransfer(vendor_id="acme"))).status == "UnknownVendorId"
        assert (await server.call(call16.ClearCache())).status == "Accepted"
        assert (await server.call(call16.UnlockConnector(connector_id=1))).status == "Unlocked"

        trig = await server.call(call16.TriggerMessage(requested_message="StatusNotification", connector_id=1))
        assert trig.status == "Accepted"
        await wait_for(lambda: bool(csms16.of("StatusNotification")))

        avail = await server.call(call16.ChangeAvailability(connector_id=0, type="Inoperative"))
        assert avail.status == "Accepted"
        await wait_for(lambda: csms16.of("StatusNotification")[-1]["status"] == "Unavailable")

        assert (await server.call(call16.Reset(type="Soft"))).status == "Accepted"
        await wait_for(lambda: len(csms16.of("BootNotification")) == 2)
        assert csms16.connections["SIM-16-CFG"] == 2
        await wait_for(lambda: csms16.calls[-1].action == "StatusNotification")
        assert csms16.calls[-1].payload["status"] == "Unavailable"  # availability survives a reboot
        assert sim.errors == []
    finally:
        await sim.close()


async def test_v201_variables_report_trigger_reset(csms201: Csms) -> None:
    sim = make_sim(csms201, "SIM-201-CFG")
    try:
        await sim.connect()
        await sim.boot()
        server = csms201.cps["SIM-201-CFG"]
        got = await server.call(
            call201.GetVariables(
                get_variable_data=[
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
                    {"component": {"name": "Nope"}, "variable": {"name": "Nope"}},
                    {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
                ]
            )
        )
        assert [r["attribute_status"] for r in got.get_variable_result] == [
            "Accepted",
            "UnknownVariable",
            "UnknownComponent",
            "Rejected",
        ]
        assert got.get_variable_result[0]["attribute_value"] == "300"
        setr = await server.call(
            call201.SetVariables(
                set_variable_data=[
                    {
                        "attribute_value": "60",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    },
                    {
                        "attribute_value": "x",
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "Identity"},
                    },
                ]
            )
        )
        assert [r["attribute_status"] for r in setr.set_variable_result] == ["Accepted", "Rejected"]
        assert sim.heartbeat_interval_s == 60

        assert (await server.call(call201.GetBaseReport(request_id=7, report_base="FullInventory"))).status == (
            "Accepted"
        )
        await wait_for(lambda: bool(csms201.of("NotifyReport")))
        report = csms201.of("NotifyReport")[0]
        assert report["requestId"] == 7 and report["reportData"]

        trig = await server.call(call201.TriggerMessage(requested_message="Heartbeat"))
        assert trig.status == "Accepted"
        await wait_for(lambda: bool(csms201.of("Heartbeat")))
        trig = await server.call(call201.TriggerMessage(requested_message="TransactionEvent"))
        assert trig.status == "Rejected"  # nothing running

        assert (await server.call(call201.Reset(type="Immediate"))).status == "Accepted"
        await wait_for(lambda: len(csms201.of("BootNotification")) == 2)
        assert csms201.of("BootNotification")[1]["reason"] == "RemoteReset"
        assert sim.errors == []
    finally:
        await sim.close()


async def test_slow_answers(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-SLOW", slow_answers_s=0.3)
    try:
        await sim.connect()
        await sim.boot()
        began = time.monotonic()
        answer = await csms16.cps["SIM-16-SLOW"].call(call16.ClearCache())
        assert answer.status == "Accepted"
        assert time.monotonic() - began >= 0.3
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- scripted trouble


async def test_v201_fault_raises_and_clears_problem_event(csms201: Csms) -> None:
    sim = make_sim(csms201, "SIM-201-F")
    try:
        await sim.connect()
        await sim.boot()
        await sim.fault(1, "GroundFailure", info="RCD tripped")
        await sim.status(1, "Available")
    finally:
        await sim.close()
    assert [p["connectorStatus"] for p in csms201.of("StatusNotification")] == ["Faulted", "Available"]
    raised, cleared = (p["eventData"][0] for p in csms201.of("NotifyEvent"))
    assert raised["techCode"] == "GroundFailure" and raised["techInfo"] == "RCD tripped"
    assert raised["variable"] == {"name": "Problem"} and raised["actualValue"] == "true"
    assert raised["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert cleared["actualValue"] == "false" and cleared["cleared"] is True


async def test_v16_fault_overheat_and_voltage_sag(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-T", meter_interval_s=0.01)
    try:
        await sim.connect()
        await sim.boot()
        await sim.start_transaction(1)
        await sim.overheat(1, to_celsius=95.0, steps=3)
        await sim.voltage_sag(1, volts=190.0, steps=2)
        await sim.send_meter_values(1)
        await sim.fault(1, "NotA16Code", info="custom")
        await sim.stop_transaction(1, reason="Other")
    finally:
        await sim.close()
    mvs = [p["meterValue"][0] for p in csms16.of("MeterValues")]
    temps = [float(samples(mv, "Temperature")[0]["value"]) for mv in mvs[:3]]
    assert temps == sorted(temps) and temps[-1] == 95.0
    sag = [[float(s["value"]) for s in samples(mv, "Voltage")] for mv in mvs[3:5]]
    assert sag == [[190.0] * 3, [190.0] * 3]
    assert float(samples(mvs[3], "Power.Active.Import")[0]["value"]) < 11000
    assert float(samples(mvs[5], "Voltage")[0]["value"]) == 230.0  # recovered
    faulted = csms16.of("StatusNotification")[-1]
    assert faulted["status"] == "Faulted"
    assert faulted["errorCode"] == "OtherError" and faulted["vendorErrorCode"] == "NotA16Code"
    assert csms16.of("StopTransaction")[0]["reason"] == "Other"


async def test_v201_overheat_reports_temperature_events(csms201: Csms) -> None:
    sim = make_sim(csms201, "SIM-201-T", meter_interval_s=0.01)
    try:
        await sim.connect()
        await sim.boot()
        await sim.start_transaction(1)
        await sim.send_meter_values(1)
        await sim.overheat(1, to_celsius=95.0, steps=3)
    finally:
        await sim.close()
    events = [p["eventData"][0] for p in csms201.of("NotifyEvent")]
    assert all(e["variable"] == {"name": "Temperature"} for e in events)
    assert events[-1]["trigger"] == "Alerting" and events[-1]["techCode"] == "HighTemperature"
    assert float(events[-1]["actualValue"]) == 95.0


# ---------------------------------------------------------------------------- connecting


async def test_auth_failure_and_refused_connection(csms16: Csms) -> None:
    sim = make_sim(csms16, "SIM-16-AUTH", password="wrong")
    with pytest.raises(ConnectFailed, match="HTTP 401") as failure:
        await sim.connect()
    assert failure.value.status_code == 401

    closed = SimulatedCharger(SimConfig(url="ws://127.0.0.1:9/ocpp", identity="X", password=None, connect_timeout_s=2))
    with pytest.raises(ConnectFailed) as refused:
        await closed.connect()
    assert refused.value.status_code is None


# ---------------------------------------------------------------------------- the CLI


def cli_args(url: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    return parser.parse_args(["--url", url, "--duration", "0.1", "--interval", "0.05", *extra])


@pytest.mark.parametrize("scenario", ["charge", "error", "overheat", "voltage-sag", "offline", "reboot"])
async def test_cli_scenarios_v16(csms16: Csms, scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli_args(csms16.url, "--identity", "SIM-CLI", "--password", PASSWORD, "--scenario", scenario)
    assert await run_simulation(args) == 0
    out = capsys.readouterr().out
    assert "SIM-CLI boot Accepted" in out
    assert "SIM-CLI transaction 1 started" in out
    assert "SIM-CLI done" in out


async def test_cli_v201_count_and_failures(csms201: Csms, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli_args(csms201.url, "--identity", "FLEET", "--count", "2", "--password", PASSWORD, "--version", "2.0.1")
    assert await run_simulation(args) == 0
    out = capsys.readouterr().out
    assert "FLEET-001 boot Accepted" in out and "FLEET-002 boot Accepted" in out
    assert "kWh delivered" in out
    assert {c.identity for c in csms201.calls} == {"FLEET-001", "FLEET-002"}

    bad = cli_args(csms201.url, "--identity", "FLEET-X", "--password", "nope", "--version", "2.0.1")
    assert await run_simulation(bad) == 1
    assert "HTTP 401" in capsys.readouterr().err

    refused = cli_args("ws://127.0.0.1:9/ocpp", "--identity", "NOWHERE")
    assert await run_simulation(refused) == 1
    assert "cannot connect" in capsys.readouterr().err

    missing = cli_args(csms201.url)
    assert await run_simulation(missing) == 1
    assert "--identity" in capsys.readouterr().err
