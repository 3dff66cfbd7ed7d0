"""The simulator's side of CSMS-initiated calls, on the ``ocpp`` library's client ChargePoint.

Handlers answer at once (after ``slow_answers_s``); whatever must follow the answer
(starting a transaction, rebooting, sending a triggered message) is deferred: the
``@on`` handler stores it under the call's unique id and the matching ``@after`` hook
spawns it as a task. Awaiting a call to the CSMS inside a handler would deadlock the
library's receive loop, which is also what delivers our answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import ChargePoint as _LibChargePoint
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as _ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as _ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from devtools.simulator.model import SIM_VENDOR_ID, STATUS_16_TO_201, Reservation, iso_z, parse_ts
from devtools.simulator.smart import ChargingProfile, Period

if TYPE_CHECKING:
    from devtools.simulator.charger import SimulatedCharger
    from devtools.simulator.charger.configuration import Setting
    from devtools.simulator.model import Connector

log = logging.getLogger("laddnat.simulator")

Deferred = Callable[[], Coroutine[Any, Any, Any]]


class SimChargePoint(_LibChargePoint):  # type: ignore[misc]
    """Records traffic for the simulator and keeps raw answers by unique id."""

    def __init__(self, id: str, connection: Any, sim: SimulatedCharger, response_timeout: float = 30) -> None:
        super().__init__(id, connection, response_timeout=response_timeout)
        self.sim = sim
        #: unique id -> the raw CallResult / CallError message (read by SimulatedCharger.call).
        self.responses: dict[str, Any] = {}
        self._deferred: dict[str, tuple[str, Deferred]] = {}

    async def _get_specific_response(self, unique_id: str, limit_s: float) -> Any:
        response = await super()._get_specific_response(unique_id, limit_s)
        self.responses[unique_id] = response
        return response

    async def _send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] == 2:
            self.sim.sent.append((frame[2], frame[3]))
        await super()._send(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
        try:
            frame = json.loads(raw_msg)
            if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
                self.sim.received.append((frame[2], frame[3]))
        except ValueError:
            pass
        await super().route_message(raw_msg)

    # ---- deferring work until the answer is on the wire

    def defer(self, unique_id: str, what: str, work: Deferred) -> None:
        self._deferred[unique_id] = (what, work)

    def run_deferred(self, unique_id: str) -> None:
        item = self._deferred.pop(unique_id, None)
        if item is not None:
            what, work = item
            self.sim.spawn(work(), what)

    # ---- device model helpers shared by both versions

    def _answer_delay(self) -> Coroutine[Any, Any, None]:
        return self.sim.answer_delay()


def _bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def _valid(setting: Setting, value: str) -> bool:
    if setting.members is not None:
        return all(item.strip() in setting.members for item in value.split(",") if item.strip())
    if setting.data_type == "integer":
        try:
            return int(value) >= 0
        except ValueError:
            return False
    if setting.data_type == "boolean":
        return _bool(value) is not None
    return True


def _when(value: str | None) -> datetime | None:
    try:
        return parse_ts(value) if value else None
    except ValueError:
        return None


def _periods(periods: list[Period]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in periods:
        row: dict[str, Any] = {"start_period": p.start_s, "limit": p.limit}
        if p.phases is not None:
            row["number_phases"] = p.phases
        out.append(row)
    return out


class ChargePoint16(SimChargePoint, _ChargePoint16):  # type: ignore[misc]
    """OCPP 1.6J: Core, FirmwareManagement, LocalAuthListManagement, Reservation, SmartCharging
    and RemoteTrigger, as a charge point answers them."""

    @on("RemoteStartTransaction")
    async def on_remote_start_transaction(
        self, id_tag: str, call_unique_id: str, connector_id: int | None = None, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        conn = self.sim.free_connector(connector_id, id_tag)
        profile_data = kwargs.get("charging_profile")
        if conn is None or (profile_data and profile_data.get("charging_profile_purpose") != "TxProfile"):
            return result16.RemoteStartTransaction(status="Rejected")
        conn.starting = True  # reserved until the deferred start runs
        authorize = _bool(self.sim.settings["AuthorizeRemoteTxRequests"].value) is True
        number = conn.id
        profile = ChargingProfile.from_16(number, profile_data) if profile_data else None

        def work() -> Coroutine[Any, Any, None]:
            return self.sim.remote_start(number, id_tag, remote_start_id=None, authorize=authorize, profile=profile)

        self.defer(call_unique_id, "remote start", work)
        return result16.RemoteStartTransaction(status="Accepted")

    @after("RemoteStartTransaction")
    def after_remote_start_transaction(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("RemoteStopTransaction")
    async def on_remote_stop_transaction(self, transaction_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        conn = self.sim.connector_of_transaction(str(transaction_id))
        if conn is None:
            return result16.RemoteStopTransaction(status="Rejected")
        number = conn.id
        self.defer(call_unique_id, "remote stop", lambda: self.sim.stop_transaction(number, reason="Remote"))
        return result16.RemoteStopTransaction(status="Accepted")

    @after("RemoteStopTransaction")
    def after_remote_stop_transaction(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("Reset")
    async def on_reset(self, type: str, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        stop_reason = "HardReset" if type == "Hard" else "SoftReset"
        self.defer(
            call_unique_id,
            f"{type.lower()} reset",
            lambda: self.sim.reset(boot_reason="RemoteReset", stop_reason=stop_reason),
        )
        return result16.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("UnlockConnector")
    async def on_unlock_connector(self, connector_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        conn = self.sim.connectors.get(connector_id)
        if conn is None:
            return result16.UnlockConnector(status="NotSupported")
        if conn.transaction is not None:
            # 1.6: unlocking ends the transaction first.
            number = conn.id
            self.defer(
                call_unique_id,
                "unlock",
                lambda: self.sim.stop_transaction(number, reason="UnlockCommand"),
            )
        else:
            self.defer(call_unique_id, "unlock", lambda: self.sim.unlock(conn))
        return result16.UnlockConnector(status="Unlocked")

    @after("UnlockConnector")
    def after_unlock_connector(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        if connector_id == 0:
            targets = list(self.sim.connectors.values())
        elif connector_id in self.sim.connectors:
            targets = [self.sim.connectors[connector_id]]
        else:
            return result16.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        scheduled = any(c.busy and c.operative != operative for c in targets)
        self.defer(call_unique_id, "availability", lambda: self.sim.set_availability(targets, operative))
        return result16.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after("ChangeAvailability")
    def after_change_availability(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("TriggerMessage")
    async def on_trigger_message(
        self,
        requested_message: str,
        call_unique_id: str,
        connector_id: int | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        sim = self.sim
        if connector_id is not None and connector_id != 0 and connector_id not in sim.connectors:
            return result16.TriggerMessage(status="Rejected")
        targets: list[Connector] = [sim.connectors[connector_id]] if connector_id else list(sim.connectors.values())

        async def send() -> None:
            if requested_message == "BootNotification":
                await sim.boot()
            elif requested_message == "Heartbeat":
                await sim.heartbeat()
            elif requested_message == "StatusNotification":
                for conn in targets:
                    await sim.resend_status(conn)
            elif requested_message == "MeterValues":
                for conn in targets:
                    await sim.triggered_meter_values(conn, as_transaction_event=False)
            elif requested_message == "DiagnosticsStatusNotification":
                await sim.send_log_status()
            elif requested_message == "FirmwareStatusNotification":
                await sim.send_firmware_status()

        self.defer(call_unique_id, f"triggered {requested_message}", send)
        return result16.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        await self._answer_delay()
        settings = self.sim.settings
        names = key if key else [n for n, s in settings.items() if s.mutability != "WriteOnly"]
        known = [
            {"key": n, "readonly": settings[n].readonly, "value": settings[n].value}
            for n in names
            if n in settings and settings[n].mutability != "WriteOnly"
        ]
        unknown = [n for n in names if n not in settings or settings[n].mutability == "WriteOnly"]
        return result16.GetConfiguration(configuration_key=known or None, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        setting = self.sim.settings.get(key)
        if setting is None:
            return result16.ChangeConfiguration(status="NotSupported")
        if setting.readonly or not _valid(setting, value):
            return result16.ChangeConfiguration(status="Rejected")
        setting.value = value
        if key == "HeartbeatInterval":
            self.sim.set_heartbeat_interval(int(value))
        elif key == "MeterValueSampleInterval" and int(value) > 0:
            self.sim.set_meter_interval(float(value))
        elif key == "AuthorizationKey":
            setting.value = ""
            self.sim.set_password(value)
        return result16.ChangeConfiguration(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, data: str | None = None, **kwargs: Any) -> Any:
        await self._answer_delay()
        if vendor_id != SIM_VENDOR_ID:
            return result16.DataTransfer(status="UnknownVendorId")
        return result16.DataTransfer(status="Accepted", data=data)

    @on("ClearCache")
    async def on_clear_cache(self, **kwargs: Any) -> Any:
        await self._answer_delay()
        return result16.ClearCache(status="Accepted")

    # ---- firmware management

    @on("UpdateFirmware")
    async def on_update_firmware(self, location: str, retrieve_date: str, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        when = _when(retrieve_date)
        self.defer(
            call_unique_id,
            "firmware update",
            lambda: self.sim.update_firmware(location, when, request_id=None),
        )
        return result16.UpdateFirmware()

    @after("UpdateFirmware")
    def after_update_firmware(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("GetDiagnostics")
    async def on_get_diagnostics(
        self,
        location: str,
        call_unique_id: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        filename = self.sim.diagnostics_filename()

        def work() -> Coroutine[Any, Any, bool]:
            return self.sim.upload_diagnostics(location, filename, retries=retries, retry_interval_s=retry_interval)

        self.defer(call_unique_id, "diagnostics upload", work)
        return result16.GetDiagnostics(file_name=filename)

    @after("GetDiagnostics")
    def after_get_diagnostics(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    # ---- local authorization list

    @on("SendLocalList")
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        if _bool(self.sim.settings["LocalAuthListEnabled"].value) is not True:
            return result16.SendLocalList(status="NotSupported")
        entries = [(str(e["id_tag"]), e.get("id_tag_info")) for e in local_authorization_list or []]
        if len(entries) > int(self.sim.settings["SendLocalListMaxLength"].value):
            return result16.SendLocalList(status="Failed")
        status = self.sim.update_local_list(list_version, full=update_type == "Full", entries=entries)
        return result16.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        await self._answer_delay()
        if _bool(self.sim.settings["LocalAuthListEnabled"].value) is not True:
            return result16.GetLocalListVersion(list_version=-1)
        return result16.GetLocalListVersion(list_version=self.sim.local_list_version)

    # ---- smart charging

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], call_unique_id: str, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        status = self.sim.set_charging_profile(ChargingProfile.from_16(connector_id, cs_charging_profiles))
        if status == "Accepted":
            self.defer(call_unique_id, "charging limits", self.sim.apply_limits)
        return result16.SetChargingProfile(status=status)

    @after("SetChargingProfile")
    def after_set_charging_profile(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        call_unique_id: str,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        cleared = self.sim.clear_charging_profiles(
            profile_id=id, connector=connector_id, purpose=charging_profile_purpose, stack_level=stack_level
        )
        if not cleared:
            return result16.ClearChargingProfile(status="Unknown")
        self.defer(call_unique_id, "charging limits", self.sim.apply_limits)
        return result16.ClearChargingProfile(status="Accepted")

    @after("ClearChargingProfile")
    def after_clear_charging_profile(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        if connector_id != 0 and connector_id not in self.sim.connectors:
            return result16.GetCompositeSchedule(status="Rejected")
        start, unit, periods = self.sim.composite_schedule(connector_id, duration, charging_rate_unit)
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso_z(start),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso_z(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": _periods(periods),
            },
        )

    # ---- reservations

    @on("ReserveNow")
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        call_unique_id: str,
        parent_id_tag: str | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        conn = self.sim.connectors.get(connector_id)
        expiry = _when(expiry_date)
        if conn is None or expiry is None:  # connector 0: ReserveConnectorZeroSupported is false
            return result16.ReserveNow(status="Rejected")
        status = self.sim.reserve(conn, Reservation(reservation_id, id_tag, expiry, parent_id_tag))
        if status == "Accepted":
            self.defer(call_unique_id, "reservation", self.sim.sync_reservations)
        return result16.ReserveNow(status=status)

    @after("ReserveNow")
    def after_reserve_now(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        if not self.sim.cancel_reservation(reservation_id):
            return result16.CancelReservation(status="Rejected")
        self.defer(call_unique_id, "reservation", self.sim.sync_reservations)
        return result16.CancelReservation(status="Accepted")

    @after("CancelReservation")
    def after_cancel_reservation(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)


class ChargePoint201(SimChargePoint, _ChargePoint201):  # type: ignore[misc]
    """OCPP 2.0.1: one connector per EVSE, a small device model."""

    @on("RequestStartTransaction")
    async def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        call_unique_id: str,
        evse_id: int | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        tag = str(id_token["id_token"])
        conn = self.sim.free_connector(evse_id, tag)
        profile_data = kwargs.get("charging_profile")
        if conn is None or (profile_data and profile_data.get("charging_profile_purpose") != "TxProfile"):
            busy = self.sim.connectors.get(evse_id) if evse_id else None
            tx_id = busy.transaction.id if busy and busy.transaction else None
            return result201.RequestStartTransaction(status="Rejected", transaction_id=tx_id)
        conn.starting = True
        authorize = _bool(self.sim.variables[("AuthCtrlr", "AuthorizeRemoteStart")].value) is True
        number = conn.id
        profile = ChargingProfile.from_201(number, profile_data) if profile_data else None

        def work() -> Coroutine[Any, Any, None]:
            return self.sim.remote_start(
                number, tag, remote_start_id=remote_start_id, authorize=authorize, profile=profile
            )

        self.defer(call_unique_id, "remote start", work)
        return result201.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    def after_request_start_transaction(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("RequestStopTransaction")
    async def on_request_stop_transaction(self, transaction_id: str, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        conn = self.sim.connector_of_transaction(transaction_id)
        if conn is None:
            return result201.RequestStopTransaction(status="Rejected")
        number = conn.id
        self.defer(call_unique_id, "remote stop", lambda: self.sim.stop_transaction(number, reason="Remote"))
        return result201.RequestStopTransaction(status="Accepted")

    @after("RequestStopTransaction")
    def after_request_stop_transaction(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("Reset")
    async def on_reset(self, type: str, call_unique_id: str, evse_id: int | None = None, **kwargs: Any) -> Any:
        await self._answer_delay()
        if evse_id is not None:
            return result201.Reset(status="Rejected", status_info={"reason_code": "UnsupportedRequest"})
        if type == "OnIdle" and self.sim.transactions:
            self.sim.schedule_reset_when_idle("RemoteReset")
            return result201.Reset(status="Scheduled")
        self.defer(
            call_unique_id,
            "reset",
            lambda: self.sim.reset(boot_reason="RemoteReset", stop_reason="ImmediateReset"),
        )
        return result201.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("UnlockConnector")
    async def on_unlock_connector(self, evse_id: int, connector_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        conn = self.sim.connectors.get(evse_id)
        if conn is None or connector_id != 1:
            return result201.UnlockConnector(status="UnknownConnector")
        if conn.transaction is not None:
            return result201.UnlockConnector(status="OngoingAuthorizedTransaction")
        self.defer(call_unique_id, "unlock", lambda: self.sim.unlock(conn))
        return result201.UnlockConnector(status="Unlocked")

    @after("UnlockConnector")
    def after_unlock_connector(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("ChangeAvailability")
    async def on_change_availability(
        self,
        operational_status: str,
        call_unique_id: str,
        evse: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        if evse is None or evse.get("id", 0) == 0:
            targets = list(self.sim.connectors.values())
        elif evse["id"] in self.sim.connectors:
            targets = [self.sim.connectors[evse["id"]]]
        else:
            return result201.ChangeAvailability(status="Rejected")
        operative = operational_status == "Operative"
        scheduled = any(c.busy and c.operative != operative for c in targets)
        self.defer(call_unique_id, "availability", lambda: self.sim.set_availability(targets, operative))
        return result201.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after("ChangeAvailability")
    def after_change_availability(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("TriggerMessage")
    async def on_trigger_message(
        self,
        requested_message: str,
        call_unique_id: str,
        evse: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        sim = self.sim
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in sim.connectors:
            return result201.TriggerMessage(status="Rejected")
        targets = [sim.connectors[evse_id]] if evse_id else list(sim.connectors.values())
        if requested_message == "TransactionEvent":
            targets = [c for c in targets if c.transaction is not None]
            if not targets:
                return result201.TriggerMessage(status="Rejected")
        supported = {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "TransactionEvent",
            "FirmwareStatusNotification",
            "LogStatusNotification",
        }
        if requested_message not in supported:
            return result201.TriggerMessage(status="NotImplemented")

        async def send() -> None:
            if requested_message == "BootNotification":
                await sim.boot(reason="Triggered")
            elif requested_message == "Heartbeat":
                await sim.heartbeat()
            elif requested_message == "StatusNotification":
                for conn in targets:
                    await sim.resend_status(conn)
            elif requested_message in ("MeterValues", "TransactionEvent"):
                for conn in targets:
                    await sim.triggered_meter_values(conn, as_transaction_event=requested_message == "TransactionEvent")
            elif requested_message == "FirmwareStatusNotification":
                await sim.send_firmware_status()
            elif requested_message == "LogStatusNotification":
                await sim.send_log_status()

        self.defer(call_unique_id, f"triggered {requested_message}", send)
        return result201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    def _lookup(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[str, Setting | None]:
        """(attribute status if not found, setting)."""
        key = (str(component.get("name")), str(variable.get("name")))
        setting = self.sim.variables.get(key)
        if setting is not None:
            return "Accepted", setting
        known_components = {c for c, _ in self.sim.variables}
        return ("UnknownVariable" if key[0] in known_components else "UnknownComponent"), None

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._answer_delay()
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            status, setting = self._lookup(component, variable)
            result: dict[str, Any] = {
                "attribute_status": status,
                "component": component,
                "variable": variable,
            }
            if item.get("attribute_type") not in (None, "Actual"):
                result["attribute_status"] = "NotSupportedAttributeType"
                result["attribute_type"] = item["attribute_type"]
            elif setting is not None and setting.mutability == "WriteOnly":
                result["attribute_status"] = "Rejected"
            elif setting is not None:
                result["attribute_value"] = setting.value
            results.append(result)
        return result201.GetVariables(get_variable_result=results)

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._answer_delay()
        results = []
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            value = str(item["attribute_value"])
            status, setting = self._lookup(component, variable)
            if item.get("attribute_type") not in (None, "Actual"):
                status = "NotSupportedAttributeType"
            elif setting is not None:
                if setting.readonly or not _valid(setting, value):
                    status = "Rejected"
                else:
                    self._apply(component["name"], variable["name"], setting, value)
            result: dict[str, Any] = {
                "attribute_status": status,
                "component": component,
                "variable": variable,
            }
            if item.get("attribute_type") is not None:
                result["attribute_type"] = item["attribute_type"]
            results.append(result)
        return result201.SetVariables(set_variable_result=results)

    def _apply(self, component: str, variable: str, setting: Setting, value: str) -> None:
        setting.value = value
        if (component, variable) == ("OCPPCommCtrlr", "HeartbeatInterval"):
            self.sim.set_heartbeat_interval(int(value))
        elif (component, variable) == ("SampledDataCtrlr", "TxUpdatedInterval") and int(value) > 0:
            self.sim.set_meter_interval(float(value))
        elif (component, variable) == ("SecurityCtrlr", "BasicAuthPassword"):
            setting.value = ""
            self.sim.set_password(value)

    @on("GetBaseReport")
    async def on_get_base_report(self, request_id: int, report_base: str, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        self.defer(call_unique_id, "NotifyReport", lambda: self._notify_report(request_id))
        return result201.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    def after_get_base_report(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    async def _notify_report(self, request_id: int) -> None:
        data: list[dict[str, Any]] = []
        for (component, variable), setting in self.sim.variables.items():
            attribute: dict[str, Any] = {"type": "Actual", "mutability": setting.mutability}
            if setting.mutability != "WriteOnly":
                attribute["value"] = setting.value
            data.append(
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variable_attribute": [attribute],
                    "variable_characteristics": {
                        "data_type": setting.data_type,
                        "supports_monitoring": False,
                    },
                }
            )
        for conn in self.sim.connectors.values():
            data.append(
                {
                    "component": {"name": "EVSE", "evse": {"id": conn.id}},
                    "variable": {"name": "AvailabilityState"},
                    "variable_attribute": [
                        {
                            "type": "Actual",
                            "mutability": "ReadOnly",
                            "value": STATUS_16_TO_201.get(conn.status, conn.status),
                        }
                    ],
                    "variable_characteristics": {"data_type": "string", "supports_monitoring": False},
                }
            )
        # In messages of at most DeviceDataCtrlr.ItemsPerMessage entries, tbc on all but the last.
        size = max(1, int(self.sim.variables[("DeviceDataCtrlr", "ItemsPerMessage")].value))
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [[]]
        generated_at = self.sim.now()
        for seq_no, chunk in enumerate(chunks):
            await self.sim.call(
                call201.NotifyReport(
                    request_id=request_id,
                    generated_at=generated_at,
                    seq_no=seq_no,
                    report_data=chunk or None,
                    tbc=seq_no < len(chunks) - 1,
                )
            )

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, data: Any = None, **kwargs: Any) -> Any:
        await self._answer_delay()
        if vendor_id != SIM_VENDOR_ID:
            return result201.DataTransfer(status="UnknownVendorId")
        return result201.DataTransfer(status="Accepted", data=data)

    @on("ClearCache")
    async def on_clear_cache(self, **kwargs: Any) -> Any:
        await self._answer_delay()
        return result201.ClearCache(status="Accepted")

    # ---- firmware and logs

    @on("UpdateFirmware")
    async def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], call_unique_id: str, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        status = "AcceptedCanceled" if self.sim.firmware_busy else "Accepted"
        location, when = str(firmware["location"]), _when(firmware.get("retrieve_date_time"))
        self.defer(
            call_unique_id,
            "firmware update",
            lambda: self.sim.update_firmware(location, when, request_id=request_id),
        )
        return result201.UpdateFirmware(status=status)

    @after("UpdateFirmware")
    def after_update_firmware(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("GetLog")
    async def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        call_unique_id: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        status = "AcceptedCanceled" if self.sim.upload_busy else "Accepted"
        filename = self.sim.diagnostics_filename("security" if log_type == "SecurityLog" else "diagnostics")
        location = str(log["remote_location"])

        def work() -> Coroutine[Any, Any, bool]:
            return self.sim.upload_diagnostics(
                location, filename, request_id=request_id, retries=retries, retry_interval_s=retry_interval
            )

        self.defer(call_unique_id, "log upload", work)
        return result201.GetLog(status=status, filename=filename)

    @after("GetLog")
    def after_get_log(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    # ---- local authorization list

    def _local_list_enabled(self) -> bool:
        return _bool(self.sim.variables[("LocalAuthListCtrlr", "Enabled")].value) is True

    @on("SendLocalList")
    async def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        if not self._local_list_enabled():
            return result201.SendLocalList(status="Failed")
        entries = [(str(e["id_token"]["id_token"]), e.get("id_token_info")) for e in local_authorization_list or []]
        status = self.sim.update_local_list(version_number, full=update_type == "Full", entries=entries)
        return result201.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        await self._answer_delay()
        version = self.sim.local_list_version if self._local_list_enabled() else 0
        return result201.GetLocalListVersion(version_number=version)

    # ---- smart charging

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], call_unique_id: str, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        status = self.sim.set_charging_profile(ChargingProfile.from_201(evse_id, charging_profile))
        if status == "Accepted":
            self.defer(call_unique_id, "charging limits", self.sim.apply_limits)
        return result201.SetChargingProfile(status=status)

    @after("SetChargingProfile")
    def after_set_charging_profile(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        call_unique_id: str,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        criteria = charging_profile_criteria or {}
        cleared = self.sim.clear_charging_profiles(
            profile_id=charging_profile_id,
            connector=criteria.get("evse_id"),
            purpose=criteria.get("charging_profile_purpose"),
            stack_level=criteria.get("stack_level"),
        )
        if not cleared:
            return result201.ClearChargingProfile(status="Unknown")
        self.defer(call_unique_id, "charging limits", self.sim.apply_limits)
        return result201.ClearChargingProfile(status="Accepted")

    @after("ClearChargingProfile")
    def after_clear_charging_profile(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        await self._answer_delay()
        if evse_id != 0 and evse_id not in self.sim.connectors:
            return result201.GetCompositeSchedule(status="Rejected", status_info={"reason_code": "UnknownEVSE"})
        start, unit, periods = self.sim.composite_schedule(evse_id, duration, charging_rate_unit)
        return result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": iso_z(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": _periods(periods),
            },
        )

    # ---- reservations

    @on("ReserveNow")
    async def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        call_unique_id: str,
        evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self._answer_delay()
        expiry = _when(expiry_date_time)
        sim = self.sim
        if evse_id:
            conn = sim.connectors.get(evse_id)
        else:  # any EVSE: the first that can be reserved (or the first, for its refusal)
            free = [c for c in sim.connectors.values() if c.reservation is None and sim.reservation_problem(c) is None]
            conn = free[0] if free else next(iter(sim.connectors.values()))
        if conn is None or expiry is None:
            return result201.ReserveNow(status="Rejected", status_info={"reason_code": "UnknownEVSE"})
        group = str(group_id_token["id_token"]) if group_id_token else None
        status = sim.reserve(conn, Reservation(id, str(id_token["id_token"]), expiry, group))
        if status == "Accepted":
            self.defer(call_unique_id, "reservation", sim.sync_reservations)
        return result201.ReserveNow(status=status)

    @after("ReserveNow")
    def after_reserve_now(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        await self._answer_delay()
        if not self.sim.cancel_reservation(reservation_id):
            return result201.CancelReservation(status="Rejected")
        self.defer(call_unique_id, "reservation", self.sim.sync_reservations)
        return result201.CancelReservation(status="Accepted")

    @after("CancelReservation")
    def after_cancel_reservation(self, call_unique_id: str, **kwargs: Any) -> None:
        self.run_deferred(call_unique_id)
