"""OCPP 2.0.1 handlers of the simulated charger: answer at once, defer what follows (see charge_point.py).

The device model (GetVariables, SetVariables, GetBaseReport) is in v201_device_model.py.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as _ChargePoint201
from ocpp.v201 import call_result as result201

from devtools.simulator.charge_point import (
    parse_bool,
    parse_when,
    schedule_periods,
)
from devtools.simulator.model import SIM_VENDOR_ID, Reservation, iso_z
from devtools.simulator.smart import ChargingProfile
from devtools.simulator.v201_device_model import DeviceModelHandlers201

if TYPE_CHECKING:
    pass

log = logging.getLogger("laddnat.simulator")


class ChargePoint201(DeviceModelHandlers201, _ChargePoint201):  # type: ignore[misc]
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
        authorize = parse_bool(self.sim.variables[("AuthCtrlr", "AuthorizeRemoteStart")].value) is True
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
        location, when = str(firmware["location"]), parse_when(firmware.get("retrieve_date_time"))
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
        return parse_bool(self.sim.variables[("LocalAuthListCtrlr", "Enabled")].value) is True

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
                "charging_schedule_period": schedule_periods(periods),
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
        expiry = parse_when(expiry_date_time)
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
