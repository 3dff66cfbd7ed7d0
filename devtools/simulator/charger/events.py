"""2.0.1 NotifyEvent: connector problems and temperature, which 2.0.1 reports as events."""

from __future__ import annotations

from ocpp.v201 import call as call201

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectionLost, NotConnected
from devtools.simulator.model import HIGH_TEMPERATURE_C, Connector, Payload


class Events201Mixin(ChargerCore):
    """SimulatedCharger's 2.0.1 NotifyEvent messages (see the module docstring)."""

    def _next_event_id(self) -> int:
        self._counters.event_id += 1
        return self._counters.event_id

    async def _notify_event(self, event: Payload) -> None:
        ts = event.setdefault("timestamp", self.now())
        await self.call(call201.NotifyEvent(generated_at=ts, seq_no=0, event_data=[event]))

    async def _notify_problem(self, conn: Connector, *, active: bool) -> None:
        component, variable = conn.problem_part or ("Connector", "Problem")
        event: Payload = {
            "event_id": self._next_event_id(),
            "timestamp": self.now(),
            "trigger": "Alerting",
            "actual_value": "true" if active else "false",
            "event_notification_type": "HardWiredNotification",
            "component": {"name": component, "evse": {"id": conn.id, "connector_id": 1}},
            "variable": {"name": variable},
        }
        if active:
            if conn.problem_part is None:
                event["tech_code"] = conn.error_code[:50]
            if conn.info:
                event["tech_info"] = conn.info[:500]
        else:
            event["cleared"] = True
        await self._notify_event(event)
        conn.problem_reported = active

    async def notify_variable(
        self,
        component: str,
        variable: str,
        value: str,
        *,
        evse: int = 1,
        trigger: str = "Delta",
        cleared: bool = False,
    ) -> None:
        """A NotifyEvent for one device-model variable (a monitor's report of normal operation,
        e.g. the plug retention lock engaging)."""
        event: Payload = {
            "event_id": self._next_event_id(),
            "timestamp": self.now(),
            "trigger": trigger,
            "actual_value": value,
            "event_notification_type": "HardWiredMonitor",
            "component": {"name": component, "evse": {"id": evse, "connector_id": 1}},
            "variable": {"name": variable},
        }
        if cleared:
            event["cleared"] = True
        await self._notify_event(event)

    async def _report_temperature(self, conn: Connector) -> None:
        """2.0.1 has no Temperature measurand: a delta monitor reports it as an event."""
        temp, last = conn.temperature_c, conn.reported_temperature_c
        if last is None:
            conn.reported_temperature_c = temp  # the monitor's baseline
            return
        crossed = (temp >= HIGH_TEMPERATURE_C) != (last >= HIGH_TEMPERATURE_C)
        if abs(temp - last) < 5.0 and not crossed:
            return
        high = temp >= HIGH_TEMPERATURE_C
        event: Payload = {
            "event_id": self._next_event_id(),
            "timestamp": self.now(),
            "trigger": "Alerting" if high or crossed else "Delta",
            "actual_value": f"{temp:.1f}",
            "event_notification_type": "HardWiredMonitor",
            "component": {"name": "TemperatureSensor", "evse": {"id": conn.id}},
            "variable": {"name": "Temperature"},
        }
        if high:
            event["tech_code"] = "HighTemperature"
        elif crossed:
            event["cleared"] = True
        try:
            await self._notify_event(event)
        except (NotConnected, ConnectionLost):
            return
        conn.reported_temperature_c = temp
