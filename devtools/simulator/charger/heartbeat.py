"""The heartbeat loop: its interval, pausing it (a hung charger) and resuming it."""

from __future__ import annotations

import asyncio
import logging

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectionLost, NotConnected, SimulatorError

log = logging.getLogger("laddnat.simulator")


class HeartbeatMixin(ChargerCore):
    """SimulatedCharger's heartbeat loop (see the module docstring)."""

    def _set_heartbeat_interval(self, seconds: int, *, restart: bool = True) -> None:
        self.heartbeat_interval_s = seconds
        self.settings["HeartbeatInterval"].value = str(seconds)
        self.variables[("OCPPCommCtrlr", "HeartbeatInterval")].value = str(seconds)
        if restart and self._heartbeat_task is not None:
            self._start_heartbeat()

    def _start_heartbeat(self) -> None:
        self._stop_heartbeat()
        if self.config.auto_heartbeat and self.heartbeat_interval_s and self.online:
            self._heartbeat_task = asyncio.create_task(self._heartbeats())

    def pause_heartbeats(self) -> None:
        """Stay connected but send no Heartbeat: a hung charger, silent rather than gone."""
        self._stop_heartbeat()

    def resume_heartbeats(self) -> None:
        self._start_heartbeat()

    def _stop_heartbeat(self) -> None:
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _heartbeats(self) -> None:
        while self.heartbeat_interval_s and self.heartbeat_interval_s > 0:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await self.heartbeat()
            except (NotConnected, ConnectionLost):
                return
            except SimulatorError as exc:
                log.warning("%s: heartbeat failed: %s", self.identity, exc)
