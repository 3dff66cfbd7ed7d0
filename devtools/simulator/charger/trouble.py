"""Scripted trouble: a fault, overheating, a voltage sag."""

from __future__ import annotations

import asyncio

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.model import NOMINAL_VOLTAGE_V


class ScriptedTroubleMixin(ChargerCore):
    """SimulatedCharger's scripted trouble (see the module docstring)."""

    async def fault(self, connector: int, error_code: str, info: str | None = None) -> None:
        """The connector goes Faulted with ``error_code`` (energy stops flowing)."""
        await self.status(connector, "Faulted", error_code, info)

    async def overheat(self, connector: int = 1, to_celsius: float = 95.0, steps: int = 5) -> None:
        """Temperature climbs to ``to_celsius`` over ``steps`` meter values."""
        conn = self.connector(connector)
        start = conn.temperature_c
        conn.hold_temperature = True
        try:
            for i in range(1, max(1, steps) + 1):
                if i > 1:
                    await asyncio.sleep(self.config.meter_interval_s)
                conn.temperature_c = start + (to_celsius - start) * i / max(1, steps)
                await self.send_meter_values(connector)
        finally:
            conn.hold_temperature = False

    async def voltage_sag(self, connector: int = 1, volts: float = 190.0, steps: int = 3) -> None:
        """Supply voltage drops to ``volts`` for ``steps`` meter values, then recovers."""
        conn = self.connector(connector)
        conn.voltage_v = volts
        try:
            for i in range(max(1, steps)):
                if i > 0:
                    await asyncio.sleep(self.config.meter_interval_s)
                await self.send_meter_values(connector)
        finally:
            conn.voltage_v = NOMINAL_VOLTAGE_V
