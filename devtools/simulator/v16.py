"""OCPP 1.6J handlers of the simulated charger: answer at once, defer what follows (see charge_point.py)."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as _ChargePoint16
from ocpp.v16 import call_result as result16

from devtools.simulator.charge_point import (
    SimChargePoint,
    parse_bool,
    parse_when,
    schedule_periods,
    valid_setting_value,
)
from devtools.simulator.model import SIM_VENDOR_ID, Reservation, iso_z
from devtools.simulator.smart import ChargingProfile

if TYPE_CHECKING:
    from devtools.simulator.model import Connector

log = logging.getLogger("laddnat.simulator")


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
        authorize = parse_bool(self.sim.settings["AuthorizeRemoteTxRequests"].value) is True
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
        if setting.readonly or not valid_setting_value(setting, value):
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
        when = parse_when(retrieve_date)
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
        if parse_bool(self.sim.settings["LocalAuthListEnabled"].value) is not True:
            return result16.SendLocalList(status="NotSupported")
        entries = [(str(e["id_tag"]), e.get("id_tag_info")) for e in local_authorization_list or []]
        if len(entries) > int(self.sim.settings["SendLocalListMaxLength"].value):
            return result16.SendLocalList(status="Failed")
        status = self.sim.update_local_list(list_version, full=update_type == "Full", entries=entries)
        return result16.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        await self._answer_delay()
        if parse_bool(self.sim.settings["LocalAuthListEnabled"].value) is not True:
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
                "charging_schedule_period": schedule_periods(periods),
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
        expiry = parse_when(expiry_date)
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
