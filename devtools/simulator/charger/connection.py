"""Connection: open, lose, restore and power-cycle the WebSocket to the CSMS."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from devtools.simulator.charge_point import SimChargePoint
from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectFailed, SimulatorError
from devtools.simulator.model import NOMINAL_VOLTAGE_V
from devtools.simulator.v16 import ChargePoint16
from devtools.simulator.v201 import ChargePoint201

if TYPE_CHECKING:
    from devtools.simulator.charger import SimulatedCharger

log = logging.getLogger("laddnat.simulator")


_HTTP_HINTS = {
    401: "wrong identity or password?",
    403: "charger blocked or not allowed?",
    404: "unknown charger identity or wrong URL path?",
}


class ConnectionMixin(ChargerCore):
    """SimulatedCharger's connection (see the module docstring)."""

    async def connect(self) -> None:
        """Open the WebSocket and start the library's receive loop."""
        if self.online:
            return
        await self._disconnect()
        headers: dict[str, str] = {}
        if self.config.password is not None:
            token = f"{self.identity}:{self.config.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        endpoint = self.config.endpoint
        options: dict[str, Any] = {}
        if endpoint.startswith("wss://") and self.config.ssl_context is not None:
            options["ssl"] = self.config.ssl_context
        try:
            ws = await connect(
                endpoint,
                subprotocols=[Subprotocol(self.config.subprotocol)],
                additional_headers=headers,
                open_timeout=self.config.connect_timeout_s,
                user_agent_header="laddnat-simulator",
                **options,
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            hint = _HTTP_HINTS.get(code)
            if code == 400:
                hint = f"does the server speak {self.config.subprotocol}?"
            body = (exc.response.body or b"").decode("utf-8", "replace").strip().splitlines()
            detail = f": {body[0][:120]}" if body else ""
            text = f"{endpoint} refused the connection: HTTP {code} {exc.response.reason_phrase}{detail}"
            raise ConnectFailed(f"{text} ({hint})" if hint else text, code) from exc
        except TimeoutError as exc:
            raise ConnectFailed(f"cannot connect to {endpoint}: timed out") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {endpoint}: {exc.strerror or exc}") from exc
        except WebSocketException as exc:
            raise ConnectFailed(f"cannot connect to {endpoint}: {exc}") from exc
        if ws.subprotocol != self.config.subprotocol:
            await ws.close()
            raise ConnectFailed(
                f"{endpoint} did not accept subprotocol {self.config.subprotocol} (got {ws.subprotocol or 'none'})"
            )
        cls = ChargePoint16 if self.v16 else ChargePoint201
        # The handlers talk to the whole charger, which is what mixes this concern in.
        charger = cast("SimulatedCharger", self)
        cp = cls(self.identity, ws, charger, response_timeout=self.config.response_timeout_s)
        self._ws, self._cp = ws, cp
        self._loop_task = asyncio.create_task(self._receive(cp), name=f"ocpp-{self.identity}")

    async def _receive(self, cp: SimChargePoint) -> None:
        try:
            await cp.start()
        except ConnectionClosed as exc:
            log.info("%s: connection closed (%s)", self.identity, exc)
        except Exception:
            log.exception("%s: receive loop failed", self.identity)

    async def _disconnect(self) -> None:
        self._stop_heartbeat()
        ws, task = self._ws, self._loop_task
        self._ws, self._cp, self._loop_task = None, None, None
        if ws is not None:
            await ws.close()
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        """Stop background work and close the socket. Queued messages stay in ``queue``."""
        current = asyncio.current_task()
        tasks = [t for t in (*self._tasks, *self._reservation_timers.values()) if t is not current]
        self._reservation_timers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._disconnect()

    async def go_offline(self) -> None:
        """Lose the connection: transaction messages are queued from now on."""
        await self._disconnect()

    async def come_online(self) -> None:
        """Reconnect (no new BootNotification), replay the queue, then resend changed states."""
        await self.connect()
        await self.flush_queue()
        await self._resync_statuses()
        self._start_heartbeat()

    async def move_to(self, url: str) -> None:
        """Come online at another CSMS base URL (its node died; the load balancer sends the
        charger elsewhere): drop what is left of the old socket, then as ``come_online``."""
        await self._disconnect()
        self.config.url = url
        await self.come_online()

    async def reboot(self) -> None:
        """Power cycle: stop transactions, close, reconnect, BootNotification (PowerUp)."""
        await self._reboot(boot_reason="PowerUp", stop_reason="Reboot")

    async def _reboot(self, *, boot_reason: str, stop_reason: str) -> None:
        for connector in list(self.transactions):
            try:
                await self.stop_transaction(connector, reason=stop_reason)
            except SimulatorError as exc:
                log.warning("%s: stopping transaction before reboot: %s", self.identity, exc)
        self._reset_when_idle = None
        await self._disconnect()
        for conn in self._all_connectors():
            # A restart clears faults; the connector comes back as its availability says.
            conn.error_code, conn.info, conn.vendor_error_code = "NoError", None, None
            conn.status = self._idle_status(conn)
            conn.suspended_by_limit = False
            conn.sent_status = None
            conn.voltage_v = NOMINAL_VOLTAGE_V
        await asyncio.sleep(0.01)
        await self.connect()
        await self.boot(reason=boot_reason)
        await self.flush_queue()
        for conn in self.connectors.values():
            await self._send_status(conn, force=True)
