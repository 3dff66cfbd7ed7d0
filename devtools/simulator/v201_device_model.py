"""OCPP 2.0.1 device model handlers of the simulated charger: GetVariables, SetVariables and
GetBaseReport over the charger's variables (charger/configuration.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from devtools.simulator.charge_point import (
    SimChargePoint,
    valid_setting_value,
)
from devtools.simulator.model import STATUS_16_TO_201

if TYPE_CHECKING:
    from devtools.simulator.charger.configuration import Setting

log = logging.getLogger("laddnat.simulator")


class DeviceModelHandlers201(SimChargePoint):  # type: ignore[misc]
    """2.0.1 GetVariables / SetVariables / GetBaseReport; mixed into ChargePoint201."""

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
                if setting.readonly or not valid_setting_value(setting, value):
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
