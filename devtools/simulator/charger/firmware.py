"""Firmware updates: the FirmwareStatusNotification steps, then a reboot into the new version."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectionLost, NotConnected

log = logging.getLogger("laddnat.simulator")


class FirmwareMixin(ChargerCore):
    """SimulatedCharger's firmware updates (see the module docstring)."""

    @property
    def firmware_busy(self) -> bool:
        return self._firmware_task is not None and not self._firmware_task.done()

    async def update_firmware(self, location: str, retrieve_at: datetime | None, *, request_id: int | None) -> None:
        """UpdateFirmware, after the answer: wait for the retrieve date, Downloading ->
        Downloaded -> Installing -> Installed (firmware_step_s apart), then reboot with
        BootNotification reason FirmwareUpdate. A location containing "fail" ends in
        DownloadFailed; while ``firmware_failure`` is set every update ends in it instead, at
        its stage. The version becomes the file name of the location."""
        self._firmware_task = self._take_over(self._firmware_task)
        self.firmware_request_id = request_id
        step = max(0.0, self.config.firmware_step_s)
        installed = False
        try:
            wait = (retrieve_at - self._aware_now()).total_seconds() if retrieve_at is not None else 0.0
            if wait > 0:
                if not self.v16:
                    await self._firmware_notify("DownloadScheduled")
                await asyncio.sleep(wait)
            await self._firmware_notify("Downloading")
            await asyncio.sleep(step)
            failure = "DownloadFailed" if "fail" in location.lower() else self.firmware_failure
            if failure == "DownloadFailed":
                await self._firmware_notify(failure)
                return
            await self._firmware_notify("Downloaded")
            if failure == "InvalidSignature":  # 2.0.1: the signature is checked before installing
                await self._firmware_notify(failure)
                return
            await self._firmware_notify("Installing")
            await asyncio.sleep(step)
            if failure is not None:
                await self._firmware_notify(failure)
                return
            self.config.firmware_version = _firmware_version(location, self.config.firmware_version)
            await self._firmware_notify("Installed")
            installed = True
        finally:
            if self._firmware_task is asyncio.current_task():
                self.firmware_status, self.firmware_request_id = "Idle", None
        if installed:
            if self._firmware_task is asyncio.current_task():
                self._firmware_task = None  # done: a new update must not cancel the reboot
            await self._reboot(boot_reason="FirmwareUpdate", stop_reason="Reboot")

    async def _firmware_notify(self, status: str) -> None:
        self.firmware_status = status
        payload: Any
        if self.v16:
            payload = call16.FirmwareStatusNotification(status=status)
        else:
            payload = call201.FirmwareStatusNotification(status=status, request_id=self.firmware_request_id)
        try:
            await self.call(payload)
        except (NotConnected, ConnectionLost) as exc:
            log.info("%s: firmware status %s not sent (%s)", self.identity, status, exc)

    async def send_firmware_status(self) -> None:
        """TriggerMessage FirmwareStatusNotification: the current state (Idle when none)."""
        if self.v16:
            await self.call(call16.FirmwareStatusNotification(status=self.firmware_status))
        else:
            request_id = self.firmware_request_id if self.firmware_status != "Idle" else None
            await self.call(call201.FirmwareStatusNotification(status=self.firmware_status, request_id=request_id))


_FIRMWARE_SUFFIX = re.compile(r"\.(bin|img|fw|hex|zip|tar|gz|tgz|swu)$", re.IGNORECASE)


def _firmware_version(location: str, current: str) -> str:
    """The version a firmware image installs: its file name without the extension."""
    name = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    while (stripped := _FIRMWARE_SUFFIX.sub("", name)) != name:
        name = stripped
    return name[:50] if name else f"{current}+1"[:50]
