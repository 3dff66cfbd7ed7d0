"""Plain messages: BootNotification, Heartbeat, Authorize and StatusNotification."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectionLost, NotConnected
from devtools.simulator.model import ERROR_CODES_16, STATUS_16_TO_201, STATUS_201_TO_16, Connector, Payload

log = logging.getLogger("laddnat.simulator")


_STATUSES_201 = frozenset(STATUS_16_TO_201.values())


class PlainMessagesMixin(ChargerCore):
    """SimulatedCharger's plain messages (see the module docstring)."""

    async def boot(self, reason: str = "PowerUp") -> Payload:
        """BootNotification; the answer (status, interval, currentTime)."""
        if self.v16:
            payload: Any = call16.BootNotification(
                charge_point_model=self.config.model,
                charge_point_vendor=self.config.vendor,
                charge_point_serial_number=self.identity[:25],
                charge_box_serial_number=self.identity[:25],
                firmware_version=self.config.firmware_version,
            )
        else:
            payload = call201.BootNotification(
                charging_station={
                    "model": self.config.model,
                    "vendor_name": self.config.vendor,
                    "serial_number": self.identity[:25],
                    "firmware_version": self.config.firmware_version,
                },
                reason=reason,
            )
        answer = await self.call(payload)
        self.last_boot_reason = reason
        self.boot_status = answer.get("status")
        interval = answer.get("interval")
        if isinstance(interval, int):
            self._set_heartbeat_interval(interval, restart=False)
        if self.boot_status == "Accepted":
            self._start_heartbeat()
        return answer

    async def heartbeat(self) -> Payload:
        payload = call16.Heartbeat() if self.v16 else call201.Heartbeat()
        return await self.call(payload)

    async def authorize(self, id_tag: str | None = None) -> str:
        """Authorize; the idTagInfo / idTokenInfo status."""
        tag = id_tag or self.config.id_tag
        if self.v16:
            answer = await self.call(call16.Authorize(id_tag=tag))
            return str(answer["idTagInfo"]["status"])
        answer = await self.call(call201.Authorize(id_token=self._id_token(tag)))
        return str(answer["idTokenInfo"]["status"])

    async def status(
        self,
        connector: int,
        status: str,
        error_code: str = "NoError",
        info: str | None = None,
        vendor_error_code: str | None = None,
    ) -> None:
        """StatusNotification. Takes 1.6 names; 2.0.1 maps them (Charging -> Occupied...).

        Connector 0 is the charge point itself in 1.6; in 2.0.1 it means every EVSE. A 2.0.1
        error_code other than NoError also raises a Problem NotifyEvent (techCode=error_code).
        """
        if self.v16:
            status = STATUS_201_TO_16.get(status, status)
            if status not in STATUS_16_TO_201:
                raise ValueError(f"{status!r} is not a 1.6 connector status")
        elif status not in STATUS_16_TO_201 and status not in _STATUSES_201:
            raise ValueError(f"{status!r} is not a connector status")
        if connector == 0 and self.v16:
            targets = [self._station]
        elif connector == 0:
            targets = list(self.connectors.values())
        else:
            targets = [self.connector(connector)]
        for conn in targets:
            conn.status, conn.error_code = status, error_code
            conn.info, conn.vendor_error_code = info, vendor_error_code
            await self._send_status(conn, force=True)

    async def _set_status(self, conn: Connector, status: str, error_code: str = "NoError") -> None:
        conn.status, conn.error_code = status, error_code
        if error_code == "NoError":
            conn.info = conn.vendor_error_code = None
        await self._send_status(conn)

    def _wire_status(self, conn: Connector) -> tuple[str, str]:
        status = conn.status if self.v16 else STATUS_16_TO_201.get(conn.status, conn.status)
        return status, conn.error_code

    async def _send_status(self, conn: Connector, *, force: bool = False) -> None:
        """Put the connector's state on the wire (if it changed). Never queued: offline, the
        state is resent by come_online."""
        wire = self._wire_status(conn)
        if not force and conn.sent_status == wire:
            return
        if not self.online:
            return
        ts = self.now()
        # Marked as sent before the await: a change made while this call waits for its
        # answer (another handler's follow-up) must not be taken for already sent.
        previous, conn.sent_status = conn.sent_status, wire
        try:
            if self.v16:
                code, vendor_code = conn.error_code, conn.vendor_error_code
                if code not in ERROR_CODES_16:
                    code, vendor_code = "OtherError", vendor_code or conn.error_code
                await self.call(
                    call16.StatusNotification(
                        connector_id=conn.id,
                        error_code=code,
                        status=wire[0],
                        timestamp=ts,
                        info=conn.info[:50] if conn.info else None,
                        vendor_error_code=vendor_code[:50] if vendor_code else None,
                    )
                )
            else:
                await self.call(
                    call201.StatusNotification(timestamp=ts, connector_status=wire[0], evse_id=conn.id, connector_id=1)
                )
                if conn.error_code != "NoError":
                    await self._notify_problem(conn, active=True)
                elif conn.problem_reported:
                    await self._notify_problem(conn, active=False)
        except (NotConnected, ConnectionLost) as exc:
            log.info("%s: status not sent (%s); resent on reconnect", self.identity, exc)
            if conn.sent_status == wire:
                conn.sent_status = previous

    async def resend_status(self, conn: Connector) -> None:
        """Send the connector's current state again (TriggerMessage StatusNotification)."""
        await self._send_status(conn, force=True)

    async def _resync_statuses(self) -> None:
        for conn in self._all_connectors():
            if conn.sent_status is not None and conn.sent_status != self._wire_status(conn):
                await self._send_status(conn)
            elif conn.sent_status is None and conn.id != 0:
                await self._send_status(conn)

    def _all_connectors(self) -> list[Connector]:
        extra = [self._station] if self.v16 and self._station.sent_status is not None else []
        return extra + list(self.connectors.values())
