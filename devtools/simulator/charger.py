"""A simulated charger speaking OCPP 1.6J or 2.0.1 over a real WebSocket.

Built on the client side of the ``ocpp`` library: our calls go out with
``ChargePoint.call`` while the library's receive loop (``ChargePoint.start``) runs as a
task and answers the CSMS's calls through the ``@on`` handlers in
:mod:`devtools.simulator.handlers`.

Transaction messages (start, meter values, stop) made while offline are queued with the
timestamps they had when they happened and replayed in order on reconnect, as the spec
asks of a real charger; status notifications are not queued, the current state is sent
again instead.

CSMS commands are answered as a real charger would (see handlers.py): remote start / stop,
resets with a reconnect and BootNotification, availability, trigger message,
configuration / device model, firmware updates (FirmwareStatusNotification steps
``firmware_step_s`` apart, then a reboot), diagnostics / log uploads over HTTP(S) with the
standard library (upload.py), the local authorization list, reservations, and charging
profiles that cap the simulated power (smart.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.protocol import State
from websockets.typing import Subprotocol

from devtools.simulator import smart, upload
from devtools.simulator.handlers import ChargePoint16, ChargePoint201, SimChargePoint
from devtools.simulator.model import (
    ERROR_CODES_16,
    HIGH_TEMPERATURE_C,
    MEASURANDS,
    NOMINAL_VOLTAGE_V,
    START_SOC,
    STATUS_16_TO_201,
    STATUS_201_TO_16,
    AuthorizationRejected,
    CallFailed,
    Clock,
    ConnectFailed,
    ConnectionLost,
    Connector,
    ElectricalModel,
    NotConnected,
    Payload,
    Reading,
    Reservation,
    SimConfig,
    SimulatorError,
    Transaction,
    iso_z,
    meter_value,
    reason_16,
    reason_201,
    sampled_values,
    trigger_for_stop,
    utc_now,
)

log = logging.getLogger("laddnat.simulator")

_STATUSES_201 = frozenset(STATUS_16_TO_201.values())
_HTTP_HINTS = {
    401: "wrong identity or password?",
    403: "charger blocked or not allowed?",
    404: "unknown charger identity or wrong URL path?",
}


@dataclass
class QueuedCall:
    """A transaction message waiting for the connection, built when its event happened."""

    action: str
    payload: Any  # an ocpp.v16.call / ocpp.v201.call dataclass
    connector: int = 0
    #: 1.6: the local placeholder transaction id, swapped for the CSMS's id on replay.
    local_tx: str | None = None
    response: Payload | None = None
    error: SimulatorError | None = None


@dataclass
class Setting:
    """A 1.6 configuration key or a 2.0.1 variable."""

    value: str
    mutability: str = "ReadWrite"  # ReadOnly / ReadWrite / WriteOnly
    data_type: str = "string"  # 2.0.1 DataEnumType
    #: A comma-separated list of these (1.6 CSL / 2.0.1 MemberList), when set.
    members: tuple[str, ...] | None = None

    @property
    def readonly(self) -> bool:
        return self.mutability == "ReadOnly"


@dataclass
class _Counters:
    local_tx: int = 0
    event_id: int = 0
    report_seq: int = 0


class SimulatedCharger:
    """One charger. Connectors are numbered from 1 (2.0.1: EVSE n with connector 1)."""

    def __init__(self, config: SimConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.clock: Clock = clock or utc_now
        #: Every call put on the wire, in order: (action, camelCase payload).
        self.sent: list[tuple[str, Payload]] = []
        #: Every call the CSMS made to us: (action, camelCase payload).
        self.received: list[tuple[str, Payload]] = []
        #: connector -> id of its running transaction (1.6: the CSMS's integer as text).
        self.transactions: dict[int, str] = {}
        #: Transaction messages waiting for the connection.
        self.queue: list[QueuedCall] = []
        #: Exceptions of background work (remote starts, resets, triggered messages).
        self.errors: list[BaseException] = []
        self.boot_status: str | None = None
        self.heartbeat_interval_s: int | None = None
        self.connectors: dict[int, Connector] = {
            i: Connector(i, float(config.meter_start_wh)) for i in range(1, config.connectors + 1)
        }
        # 1.6 connector 0: the charge point as a whole (status only).
        self._station = Connector(0, 0.0)
        self._model = ElectricalModel(config.power_kw, config.phases)
        self._ws: ClientConnection | None = None
        self._cp: SimChargePoint | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._responses: dict[str, Payload] = {}
        self._resolved_tx: dict[str, int] = {}
        self._counters = _Counters()
        self._flush_lock = asyncio.Lock()
        #: 2.0.1 Reset OnIdle (or a 1.6 availability change) waiting for transactions to end.
        self._reset_when_idle: str | None = None
        self.settings: dict[str, Setting] = self._default_settings()
        self.variables: dict[tuple[str, str], Setting] = self._default_variables()
        #: The reason given in the last BootNotification (1.6 has none on the wire).
        self.last_boot_reason = "PowerUp"
        #: SendLocalList: id tag -> its idTagInfo / idTokenInfo (snake_case), and the version.
        self.local_list: dict[str, Payload] = {}
        self.local_list_version = 0
        #: SetChargingProfile: every installed profile (connector 0 = the whole charger).
        self.charging_profiles: list[smart.ChargingProfile] = []
        #: Firmware update / diagnostics upload in progress (what a TriggerMessage reports).
        self.firmware_status = "Idle"
        #: Scripted: the status every firmware update ends in instead of Installed
        #: (DownloadFailed, InstallationFailed, InstallVerificationFailed, InvalidSignature).
        self.firmware_failure: str | None = None
        self.firmware_request_id: int | None = None
        self.diagnostics_status = "Idle"
        self.log_request_id: int | None = None
        #: Every diagnostics / log upload: (url, HTTP status or None, succeeded).
        self.uploads: list[tuple[str, int | None, bool]] = []
        self._firmware_task: asyncio.Task[Any] | None = None
        self._upload_task: asyncio.Task[Any] | None = None
        self._reservation_timers: dict[int, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ inspection

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def v16(self) -> bool:
        return self.config.version == "1.6"

    @property
    def online(self) -> bool:
        return (
            self._ws is not None
            and self._ws.state is State.OPEN
            and self._loop_task is not None
            and not self._loop_task.done()
        )

    def energy_wh(self, connector: int = 1) -> float:
        """The connector's energy register (Wh)."""
        return self.connector(connector).energy_wh

    def reading(self, connector: int = 1) -> Reading:
        """What the connector's meter shows right now (power, voltages, temperature...)."""
        conn = self.connector(connector)
        self._refresh_limit(conn)
        return self._model.reading(conn)

    def session_energy_wh(self, connector: int = 1) -> float:
        """Energy of the running transaction so far (0 without one)."""
        conn = self.connector(connector)
        if conn.transaction is None:
            return 0.0
        return conn.energy_wh - conn.transaction.meter_start_wh

    def last_response(self, action: str) -> Payload | None:
        """The CSMS's last answer to ``action`` (camelCase, as on the wire)."""
        return self._responses.get(action)

    def sent_actions(self, action: str) -> list[Payload]:
        return [payload for name, payload in self.sent if name == action]

    def connector(self, connector: int) -> Connector:
        try:
            return self.connectors[connector]
        except KeyError:
            raise SimulatorError(
                f"{self.identity} has no connector {connector} (1..{self.config.connectors})"
            ) from None

    def now(self) -> str:
        return iso_z(self.clock())

    # ------------------------------------------------------------------ connection

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
        cp = cls(self.identity, ws, self, response_timeout=self.config.response_timeout_s)
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

    # ------------------------------------------------------------------ calls

    async def call(self, payload: Any) -> Payload:
        """Send any ``ocpp.v16.call`` / ``ocpp.v201.call`` payload; the answer as a dict."""
        action = type(payload).__name__
        cp, loop_task = self._cp, self._loop_task
        if not self.online or cp is None or loop_task is None:
            raise NotConnected(f"{self.identity} is offline; cannot send {action}")
        unique_id = str(uuid.uuid4())
        pending = asyncio.ensure_future(cp.call(payload, suppress=True, unique_id=unique_id))
        error: BaseException | None = None
        try:
            done, _ = await asyncio.wait({pending, loop_task}, return_when=asyncio.FIRST_COMPLETED)
            if pending not in done:
                raise ConnectionLost(f"{self.identity}: connection closed while waiting on {action}")
            error = pending.exception()
        finally:
            if not pending.done():
                pending.cancel()
        raw = cp.responses.pop(unique_id, None)
        if raw is not None and raw.message_type_id == 4:  # CALLERROR
            raise CallFailed(action, raw.error_code, raw.error_description)
        if isinstance(error, ConnectionClosed):
            raise ConnectionLost(f"{self.identity}: connection closed while sending {action}") from error
        if isinstance(error, TimeoutError):
            raise CallFailed(action, "Timeout", f"no answer in {self.config.response_timeout_s:g} s")
        if error is not None and not (raw is not None and isinstance(error, TypeError)):
            # TypeError: an answer with fields the library's dataclass lacks; the raw one is fine.
            code = getattr(error, "code", type(error).__name__)
            raise CallFailed(action, str(code), str(error)) from error
        if raw is None:
            raise CallFailed(action, "NoAnswer")
        answer: Payload = raw.payload
        self._responses[action] = answer
        return answer

    async def _tx_call(self, entry: QueuedCall) -> Payload | None:
        """Send a transaction message, or queue it (keeping order) when that is impossible."""
        if not self.online or self.queue:
            self._enqueue(entry)
            if self.online:
                await self.flush_queue()
            if entry.error is not None:
                raise entry.error
            return entry.response
        self._resolve(entry)
        try:
            entry.response = await self.call(entry.payload)
        except (NotConnected, ConnectionLost):
            self._enqueue(entry)
            return None
        return entry.response

    def _enqueue(self, entry: QueuedCall) -> None:
        if entry.action == "TransactionEvent":
            entry.payload.offline = True
        self.queue.append(entry)
        log.info("%s: offline, queued %s (%d waiting)", self.identity, entry.action, len(self.queue))

    def _resolve(self, entry: QueuedCall) -> None:
        if entry.local_tx is not None and entry.local_tx in self._resolved_tx:
            entry.payload.transaction_id = self._resolved_tx[entry.local_tx]

    async def flush_queue(self) -> int:
        """Replay queued transaction messages in order; returns how many went out."""
        replayed = 0
        async with self._flush_lock:
            while self.queue and self.online:
                entry = self.queue[0]
                self._resolve(entry)
                if entry.action == "StopTransaction" and entry.payload.transaction_id is None:
                    log.warning("%s: dropping StopTransaction of a never started transaction", self.identity)
                    self.queue.pop(0)
                    continue
                try:
                    entry.response = await self.call(entry.payload)
                except (NotConnected, ConnectionLost):
                    break  # stays at the head of the queue
                except CallFailed as exc:
                    log.warning("%s: CSMS refused replayed %s: %s", self.identity, entry.action, exc)
                    entry.error = exc
                self.queue.pop(0)
                replayed += 1
                if entry.action == "StartTransaction" and entry.local_tx and entry.response:
                    self._transaction_id_known(entry.local_tx, int(entry.response["transactionId"]))
        return replayed

    def _transaction_id_known(self, local: str, real: int) -> None:
        self._resolved_tx[local] = real
        for conn in self.connectors.values():
            if conn.transaction is not None and conn.transaction.id == local:
                conn.transaction.id = str(real)
                self.transactions[conn.id] = str(real)

    # ------------------------------------------------------------------ plain messages

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

    # ------------------------------------------------------------------ 2.0.1 events

    def _next_event_id(self) -> int:
        self._counters.event_id += 1
        return self._counters.event_id

    async def _notify_event(self, event: Payload) -> None:
        ts = event.setdefault("timestamp", self.now())
        await self.call(call201.NotifyEvent(generated_at=ts, seq_no=0, event_data=[event]))

    async def _notify_problem(self, conn: Connector, *, active: bool) -> None:
        event: Payload = {
            "event_id": self._next_event_id(),
            "timestamp": self.now(),
            "trigger": "Alerting",
            "actual_value": "true" if active else "false",
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": conn.id, "connector_id": 1}},
            "variable": {"name": "Problem"},
        }
        if active:
            event["tech_code"] = conn.error_code[:50]
            if conn.info:
                event["tech_info"] = conn.info[:500]
        else:
            event["cleared"] = True
        await self._notify_event(event)
        conn.problem_reported = active

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

    # ------------------------------------------------------------------ transactions

    @staticmethod
    def _id_token(tag: str) -> Payload:
        return {"id_token": tag, "type": "ISO14443"}

    def _tx_ref(self, tx: Transaction) -> tuple[int | None, str | None]:
        """1.6: (CSMS transaction id, None) or (None, local placeholder) while unknown."""
        if tx.id.startswith("local-"):
            return self._resolved_tx.get(tx.id), tx.id
        return int(tx.id), None

    def _charging_state(self, conn: Connector) -> str:
        if conn.delivering:
            return "Charging"
        if conn.status == "SuspendedEV":
            return "SuspendedEV"
        if conn.transaction is not None:
            return "SuspendedEVSE"
        return "EVConnected"

    async def start_transaction(
        self,
        connector: int = 1,
        id_tag: str | None = None,
        *,
        remote_start_id: int | None = None,
        authorize: bool = True,
    ) -> str:
        """Plug in, authorize, start, Charging. Returns the transaction id.

        Offline the tag is taken as locally authorized and the start is queued (1.6: the id
        is a ``local-N`` placeholder until the CSMS assigns one on replay).
        """
        conn = self.connector(connector)
        if conn.busy:
            raise SimulatorError(f"connector {connector} already has a transaction")
        if not conn.operative or conn.status in ("Faulted", "Unavailable"):
            raise SimulatorError(f"connector {connector} is {conn.status}")
        tag = id_tag or self.config.id_tag
        reservation = conn.reservation
        if reservation is not None and not reservation.admits(tag):
            raise SimulatorError(f"connector {connector} is reserved for another id tag")
        conn.starting = True
        try:
            if reservation is not None:
                self._drop_reservation(reservation.id)  # used up by this transaction
            await self._set_status(conn, "Preparing")
            if authorize and self.online:
                try:
                    status = await self.authorize(tag)
                except (NotConnected, ConnectionLost):
                    status = self._local_status(tag)  # LocalAuthorizeOffline
                if status != "Accepted":
                    raise AuthorizationRejected(tag, status)
            elif authorize and (status := self._local_status(tag)) != "Accepted":
                raise AuthorizationRejected(tag, status)  # offline: the local list says no
            conn.soc = START_SOC  # a new EV
            ts = self.now()
            begin = meter_value(
                ts,
                sampled_values(self._model.reading(conn), "Transaction.Begin", self.version, full=False),
            )
            if self.v16:
                self._counters.local_tx += 1
                local = f"local-{self._counters.local_tx}"
                entry = QueuedCall(
                    "StartTransaction",
                    call16.StartTransaction(
                        connector_id=connector,
                        id_tag=tag,
                        meter_start=round(conn.energy_wh),
                        timestamp=ts,
                        reservation_id=reservation.id if reservation is not None else None,
                    ),
                    connector=connector,
                    local_tx=local,
                )
                answer = await self._tx_call(entry)
                tx_id = str(answer["transactionId"]) if answer else local
                status = answer["idTagInfo"]["status"] if answer else "Accepted"
                tx = Transaction(tx_id, tag, conn.energy_wh, self.clock(), begin)
            else:
                tx = Transaction(
                    str(uuid.uuid4()),
                    tag,
                    conn.energy_wh,
                    self.clock(),
                    begin,
                    remote_start_id=remote_start_id,
                )
                info: Payload = {"transaction_id": tx.id, "charging_state": "Charging"}
                if remote_start_id is not None:
                    info["remote_start_id"] = remote_start_id
                payload = call201.TransactionEvent(
                    event_type="Started",
                    timestamp=ts,
                    trigger_reason="RemoteStart" if remote_start_id is not None else "Authorized",
                    seq_no=tx.next_seq(),
                    transaction_info=info,
                    id_token=self._id_token(tag),
                    evse={"id": connector, "connector_id": 1},
                    meter_value=[begin],
                    reservation_id=reservation.id if reservation is not None else None,
                )
                answer = await self._tx_call(QueuedCall("TransactionEvent", payload, connector))
                status = (answer or {}).get("idTokenInfo", {}).get("status", "Accepted")
            conn.transaction = tx
            self.transactions[connector] = tx.id
        except Exception:
            conn.starting = False
            self._drop_tx_profiles(conn.id)
            if conn.status == "Preparing":
                with contextlib.suppress(SimulatorError):
                    await self._set_status(conn, self._idle_status(conn))  # unplugged again
            raise
        finally:
            conn.starting = False
        if status != "Accepted":
            await self.stop_transaction(connector, reason="DeAuthorized")
            raise AuthorizationRejected(tag, status)
        self._refresh_limit(conn)
        if conn.limit_w is not None and conn.limit_w <= 0:
            conn.suspended_by_limit = True
            await self._set_status(conn, "SuspendedEVSE")
        else:
            await self._set_status(conn, "Charging")
        return tx.id

    async def send_meter_values(self, connector: int = 1, seconds: float | None = None) -> None:
        """Let ``seconds`` (default meter_interval_s * time_scale) of charging pass and report.

        1.6: MeterValues (with transactionId while charging); 2.0.1: TransactionEvent Updated
        while charging, MeterValues otherwise.
        """
        if seconds is None:
            seconds = self.config.meter_interval_s * self.config.time_scale
        await self._meter(self.connector(connector), seconds, "Sample.Periodic")

    async def _meter(
        self,
        conn: Connector,
        seconds: float,
        context: str,
        *,
        trigger_reason: str = "MeterValuePeriodic",
        standalone: bool = False,
    ) -> None:
        await self._follow_limit(conn)
        reading = self._model.advance(conn, seconds)
        ts = self.now()
        mv = meter_value(ts, sampled_values(reading, context, self.version, measurands=self._measurands()))
        tx = conn.transaction
        if self.v16:
            if tx is not None:
                tx_id, local = self._tx_ref(tx)
                payload16 = call16.MeterValues(connector_id=conn.id, meter_value=[mv], transaction_id=tx_id)
                await self._tx_call(QueuedCall("MeterValues", payload16, conn.id, local_tx=local))
            elif self.online:
                await self.call(call16.MeterValues(connector_id=conn.id, meter_value=[mv]))
            return
        if tx is not None and not standalone:
            payload = call201.TransactionEvent(
                event_type="Updated",
                timestamp=ts,
                trigger_reason=trigger_reason,
                seq_no=tx.next_seq(),
                transaction_info={
                    "transaction_id": tx.id,
                    "charging_state": self._charging_state(conn),
                },
                meter_value=[mv],
            )
            await self._tx_call(QueuedCall("TransactionEvent", payload, conn.id))
        elif self.online:
            await self.call(call201.MeterValues(evse_id=conn.id, meter_value=[mv]))
        if self.online:
            await self._report_temperature(conn)

    async def stop_transaction(self, connector: int = 1, reason: str = "Local") -> None:
        """End the transaction (1.6 StopTransaction / 2.0.1 TransactionEvent Ended), then the
        connector becomes Available (1.6 via Finishing) unless it is faulted or made
        inoperative meanwhile."""
        conn = self.connector(connector)
        tx = conn.transaction
        if tx is None:
            raise SimulatorError(f"connector {connector} has no transaction")
        ts = self.now()
        end = meter_value(ts, sampled_values(self._model.reading(conn), "Transaction.End", self.version, full=False))
        if self.v16:
            tx_id, local = self._tx_ref(tx)
            r16 = reason_16(reason)
            payload16 = call16.StopTransaction(
                meter_stop=round(conn.energy_wh),
                timestamp=ts,
                transaction_id=tx_id,
                reason=r16,
                id_tag=tx.id_tag if r16 == "Local" else None,
                transaction_data=[tx.begin_sample, end],
            )
            entry = QueuedCall("StopTransaction", payload16, connector, local_tx=local)
        else:
            r201 = reason_201(reason)
            info: Payload = {
                "transaction_id": tx.id,
                "charging_state": "Idle" if r201 == "EVDisconnected" else "EVConnected",
                "stopped_reason": r201,
            }
            if tx.remote_start_id is not None:
                info["remote_start_id"] = tx.remote_start_id
            payload = call201.TransactionEvent(
                event_type="Ended",
                timestamp=ts,
                trigger_reason=trigger_for_stop(r201, unlock=reason == "UnlockCommand"),
                seq_no=tx.next_seq(),
                transaction_info=info,
                id_token=self._id_token(tx.id_tag) if r201 == "Local" else None,
                meter_value=[end],
            )
            entry = QueuedCall("TransactionEvent", payload, connector)
        conn.transaction = None
        self.transactions.pop(connector, None)
        self._drop_tx_profiles(connector)
        conn.suspended_by_limit = False
        try:
            await self._tx_call(entry)
        finally:
            if conn.status != "Faulted":
                if self.v16:
                    await self._set_status(conn, "Finishing")
                if conn.pending_operative is not None:
                    conn.operative, conn.pending_operative = conn.pending_operative, None
                await self._set_status(conn, self._idle_status(conn))
            self._maybe_reset_when_idle()

    async def charge(self, duration_s: float, connector: int = 1) -> None:
        """Start, a meter value every meter_interval_s (real time) for duration_s, stop."""
        await self.start_transaction(connector)
        elapsed, interval = 0.0, max(self.config.meter_interval_s, 0.001)
        while elapsed < duration_s - 1e-9:
            step = min(interval, duration_s - elapsed)
            await asyncio.sleep(step)
            elapsed += step
            await self.send_meter_values(connector, seconds=step * self.config.time_scale)
        await self.stop_transaction(connector)

    # ------------------------------------------------------------------ scripted trouble

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

    # ------------------------------------------------------------------ heartbeat

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

    # ------------------------------------------------------------------ background work

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[None]:
        """Run ``coro`` after a handler answered (never await the CSMS inside a handler)."""
        task = asyncio.create_task(self._guard(coro, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(exc)
            log.warning("%s: %s failed: %s", self.identity, what, exc)

    async def wait_background(self, limit_s: float = 10.0) -> None:
        """Wait for work started by CSMS calls (remote starts, resets...) to finish."""
        current = asyncio.current_task()
        async with asyncio.timeout(limit_s):
            while tasks := [t for t in self._tasks if t is not current and not t.done()]:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def answer_delay(self) -> None:
        if self.config.slow_answers_s > 0:
            await asyncio.sleep(self.config.slow_answers_s)

    # ------------------------------------------------------------------ for the handlers

    def free_connector(self, requested: int | None, id_tag: str | None = None) -> Connector | None:
        """The connector a remote start for ``id_tag`` may use, or None. Without a connector
        asked for, one reserved for the tag comes first, then any free one."""
        if self._reset_when_idle is not None:
            return None  # a reset is waiting for the charger to go idle

        def reserved_for_tag(conn: Connector) -> bool:
            return conn.reservation is not None and conn.reservation.admits(id_tag)

        candidates: list[Connector | None]
        if requested is not None and requested > 0:
            candidates = [self.connectors.get(requested)]
        else:
            ordered: list[Connector] = sorted(self.connectors.values(), key=lambda c: not reserved_for_tag(c))
            candidates = list(ordered)
        for conn in candidates:
            if (
                conn is not None
                and not conn.busy
                and conn.operative
                and conn.status not in ("Faulted", "Unavailable")
                and (conn.reservation is None or conn.reservation.admits(id_tag))
            ):
                return conn
        return None

    def connector_of_transaction(self, transaction_id: str) -> Connector | None:
        for conn in self.connectors.values():
            if conn.transaction is not None and conn.transaction.id == transaction_id:
                return conn
        return None

    async def remote_start(
        self,
        connector: int,
        id_tag: str,
        *,
        remote_start_id: int | None,
        authorize: bool,
        profile: smart.ChargingProfile | None = None,
    ) -> None:
        """RemoteStartTransaction / RequestStartTransaction, after the answer went out. A
        TxProfile sent along limits the transaction from its first meter value."""
        conn = self.connector(connector)
        conn.starting = False  # reserved by the handler until now
        if conn.ev_unseen:
            # The pilot never sees the car: Preparing until the connection timeout, then
            # idle again, and no transaction (what the failed-starts detector looks for).
            await self._set_status(conn, "Preparing")
            await asyncio.sleep(self._connection_timeout_s())
            if not conn.busy and conn.status == "Preparing":
                await self._set_status(conn, self._idle_status(conn))
            return
        if profile is not None:
            self._install_profile(profile)
        await self.start_transaction(connector, id_tag, remote_start_id=remote_start_id, authorize=authorize)

    def _connection_timeout_s(self) -> float:
        if self.v16:
            return float(self.settings["ConnectionTimeOut"].value)
        return float(self.variables[("TxCtrlr", "EVConnectionTimeOut")].value)

    async def unlock(self, conn: Connector) -> None:
        """UnlockConnector on a connector without a transaction: the actuator runs again,
        which frees a jammed lock (a ConnectorLockFailure clears)."""
        if conn.error_code == "ConnectorLockFailure":
            conn.info = conn.vendor_error_code = None
            await self._set_status(conn, self._idle_status(conn), "NoError")

    async def reset(self, *, boot_reason: str, stop_reason: str) -> None:
        await self._reboot(boot_reason=boot_reason, stop_reason=stop_reason)

    def schedule_reset_when_idle(self, boot_reason: str) -> None:
        self._reset_when_idle = boot_reason

    def _maybe_reset_when_idle(self) -> None:
        if self._reset_when_idle is not None and not any(c.busy for c in self.connectors.values()):
            reason, self._reset_when_idle = self._reset_when_idle, None
            self.spawn(self.reset(boot_reason=reason, stop_reason="ImmediateReset"), "scheduled reset")

    async def set_availability(self, connectors: list[Connector], operative: bool) -> None:
        for conn in connectors:
            if conn.busy:
                conn.pending_operative = operative
                continue
            conn.operative = operative
            if conn.status != "Faulted":
                await self._set_status(conn, self._idle_status(conn))

    async def triggered_meter_values(self, conn: Connector, *, as_transaction_event: bool) -> None:
        await self._meter(
            conn,
            0.0,
            "Trigger",
            trigger_reason="Trigger",
            standalone=not as_transaction_event,
        )

    def set_meter_interval(self, seconds: float) -> None:
        self.config.meter_interval_s = seconds
        self.settings["MeterValueSampleInterval"].value = f"{seconds:g}"
        self.variables[("SampledDataCtrlr", "TxUpdatedInterval")].value = f"{seconds:g}"

    def set_password(self, password: str) -> None:
        """The CSMS rotated our Basic-auth password; used from the next connection on."""
        self.config.password = password

    def set_heartbeat_interval(self, seconds: int) -> None:
        self._set_heartbeat_interval(seconds)

    def next_report_seq(self) -> int:
        self._counters.report_seq += 1
        return self._counters.report_seq

    def _aware_now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    def _idle_status(self, conn: Connector) -> str:
        """The status of a connector without a transaction (1.6 spelling)."""
        if not conn.operative:
            return "Unavailable"
        return "Reserved" if conn.reservation is not None else "Available"

    def _measurands(self) -> tuple[str, ...] | None:
        """MeterValuesSampledData (1.6) / SampledDataCtrlr.TxUpdatedMeasurands (2.0.1)."""
        if self.v16:
            value = self.settings["MeterValuesSampledData"].value
        else:
            value = self.variables[("SampledDataCtrlr", "TxUpdatedMeasurands")].value
        return tuple(item.strip() for item in value.split(",") if item.strip()) or None

    @staticmethod
    def _take_over(previous: asyncio.Task[Any] | None) -> asyncio.Task[Any] | None:
        """The running task replaces ``previous`` (a firmware update or upload), cancelling it."""
        current = asyncio.current_task()
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()
        return current

    # ------------------------------------------------------------------ local authorization list

    def update_local_list(self, version: int, *, full: bool, entries: list[tuple[str, Payload | None]]) -> str:
        """SendLocalList: Accepted, or VersionMismatch for a differential update that is not
        newer than the list held. An entry without info removes the tag."""
        if not full and version <= self.local_list_version:
            return "VersionMismatch"
        if full:
            self.local_list = {}
        for tag, info in entries:
            if info is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = info
        self.local_list_version = version
        return "Accepted"

    def _local_status(self, tag: str) -> str:
        """Offline authorization: what the local list says (unknown tags are let through)."""
        info = self.local_list.get(tag)
        return "Accepted" if info is None else str(info.get("status", "Accepted"))

    # ------------------------------------------------------------------ reservations

    def find_reservation(self, reservation_id: int) -> Connector | None:
        for conn in self.connectors.values():
            if conn.reservation is not None and conn.reservation.id == reservation_id:
                return conn
        return None

    def reservation_problem(self, conn: Connector) -> str | None:
        """The ReserveNow status when ``conn`` cannot be reserved now, else None."""
        if conn.status == "Faulted":
            return "Faulted"
        if not conn.operative or conn.status == "Unavailable":
            return "Unavailable"
        if conn.busy or conn.status not in ("Available", "Reserved"):
            return "Occupied"
        return None

    def reserve(self, conn: Connector, reservation: Reservation) -> str:
        """ReserveNow on ``conn``: Accepted (a reservation with the same id is replaced),
        Occupied / Faulted / Unavailable. Statuses follow via :meth:`sync_reservations`."""
        if conn.reservation is not None and conn.reservation.id != reservation.id:
            return "Occupied"
        problem = self.reservation_problem(conn)
        if problem is not None:
            return problem
        self._drop_reservation(reservation.id)
        conn.reservation = reservation
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> bool:
        return self._drop_reservation(reservation_id) is not None

    def _drop_reservation(self, reservation_id: int) -> Connector | None:
        timer = self._reservation_timers.pop(reservation_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        conn = self.find_reservation(reservation_id)
        if conn is not None:
            conn.reservation = None
        return conn

    async def sync_reservations(self) -> None:
        """After ReserveNow / CancelReservation: Reserved / Available on the wire, expiry timers."""
        for conn in self.connectors.values():
            res = conn.reservation
            if res is not None and res.id not in self._reservation_timers:
                self._reservation_timers[res.id] = asyncio.create_task(
                    self._guard(self._expire_reservation(conn.id, res), "reservation expiry")
                )
            if not conn.busy and conn.status in ("Available", "Reserved"):
                await self._set_status(conn, self._idle_status(conn))

    async def _expire_reservation(self, connector: int, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - self._aware_now()).total_seconds()))
        conn = self.connectors[connector]
        if conn.reservation is not reservation:
            return
        self._drop_reservation(reservation.id)
        log.info("%s: reservation %d expired", self.identity, reservation.id)
        if not self.v16 and self.online:
            await self.call(
                call201.ReservationStatusUpdate(reservation_id=reservation.id, reservation_update_status="Expired")
            )
        if not conn.busy and conn.status == "Reserved":
            await self._set_status(conn, self._idle_status(conn))

    # ------------------------------------------------------------------ smart charging

    def set_charging_profile(self, profile: smart.ChargingProfile) -> str:
        """SetChargingProfile: Accepted, or Rejected (no such connector, a station maximum on
        a connector, a TxProfile without that transaction, too high a stack level)."""
        number = profile.connector
        if number != 0 and number not in self.connectors:
            return "Rejected"
        if profile.purpose == smart.EXTERNAL or (profile.purpose == smart.MAX and number != 0):
            return "Rejected"
        if profile.purpose == smart.TX:
            tx = self.connectors[number].transaction if number else None
            if tx is None or profile.transaction_id not in (None, tx.id):
                return "Rejected"
        if self.v16:
            max_stack = self.settings["ChargeProfileMaxStackLevel"].value
        else:
            max_stack = self.variables[("SmartChargingCtrlr", "ProfileStackLevel")].value
        if profile.stack_level > int(max_stack) or not profile.periods:
            return "Rejected"
        self._install_profile(profile)
        return "Accepted"

    def _install_profile(self, profile: smart.ChargingProfile) -> None:
        # The same id, or the same purpose and stack level on the connector, is replaced.
        self.charging_profiles = [
            p
            for p in self.charging_profiles
            if p.id != profile.id
            and not (
                p.connector == profile.connector
                and p.purpose == profile.purpose
                and p.stack_level == profile.stack_level
            )
        ]
        self.charging_profiles.append(profile)

    def clear_charging_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: remove the matching profiles (an id takes precedence over the
        other criteria; none at all clears everything). False when nothing matched."""

        def matches(p: smart.ChargingProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose == smart.PURPOSES.get(purpose, purpose))
                and (stack_level is None or p.stack_level == stack_level)
            )

        keep = [p for p in self.charging_profiles if not matches(p)]
        cleared = len(keep) != len(self.charging_profiles)
        self.charging_profiles = keep
        return cleared

    def _drop_tx_profiles(self, connector: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.charging_profiles = [
            p for p in self.charging_profiles if not (p.purpose == smart.TX and p.connector == connector)
        ]

    def _refresh_limit(self, conn: Connector) -> None:
        tx, at = conn.transaction, self._aware_now()
        start = tx.started_at if tx is not None else at
        conn.limit_w = smart.limit_w(
            self.charging_profiles,
            conn.id,
            at,
            transaction_id=tx.id if tx is not None else None,
            ref=start if start.tzinfo is not None else start.replace(tzinfo=UTC),
            default_phases=self.config.phases,
        )

    async def _follow_limit(self, conn: Connector) -> bool:
        """Recompute the connector's limit; a limit of 0 suspends charging (SuspendedEVSE)
        until it is lifted. True when the limit changed."""
        before = conn.limit_w
        self._refresh_limit(conn)
        if conn.transaction is not None:
            if conn.limit_w is not None and conn.limit_w <= 0 and conn.status == "Charging":
                conn.suspended_by_limit = True
                await self._set_status(conn, "SuspendedEVSE")
            elif conn.suspended_by_limit and (conn.limit_w is None or conn.limit_w > 0):
                conn.suspended_by_limit = False
                if conn.status == "SuspendedEVSE":
                    await self._set_status(conn, "Charging")
        return conn.limit_w != before

    async def apply_limits(self) -> None:
        """After SetChargingProfile / ClearChargingProfile: the new limits take effect now
        (2.0.1: a TransactionEvent Updated with triggerReason ChargingRateChanged)."""
        for conn in self.connectors.values():
            changed = await self._follow_limit(conn)
            if changed and conn.transaction is not None and not self.v16:
                await self._meter(conn, 0.0, "Sample.Periodic", trigger_reason="ChargingRateChanged")

    def composite_schedule(
        self, connector: int, duration_s: int, unit: str | None
    ) -> tuple[datetime, str, list[smart.Period]]:
        """GetCompositeSchedule: (start, unit, periods) of what will be in force; without any
        profile, one period at what the hardware can deliver."""
        at = self._aware_now()
        conn = self.connectors.get(connector)
        tx = conn.transaction if conn is not None else None
        tx_id = tx.id if tx is not None else None
        if unit is None:
            groups = smart.applicable(self.charging_profiles, connector, tx_id)
            unit = next((p.unit for group in groups for p in group), "W")
        hardware = self._model.max_power_w * (len(self.connectors) if connector == 0 else 1)
        ref = tx.started_at if tx is not None else at
        periods = smart.composite(
            self.charging_profiles,
            connector,
            at,
            duration_s,
            unit=unit,
            transaction_id=tx_id,
            ref=ref if ref.tzinfo is not None else ref.replace(tzinfo=UTC),
            hardware_w=hardware,
            default_phases=self.config.phases,
        )
        return at, unit, periods

    # ------------------------------------------------------------------ firmware

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

    # ------------------------------------------------------------------ diagnostics / logs

    @property
    def upload_busy(self) -> bool:
        return self._upload_task is not None and not self._upload_task.done()

    def diagnostics_filename(self, kind: str = "diagnostics") -> str:
        stamp = self._aware_now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{kind}-{self.identity}-{stamp}.log"

    async def upload_diagnostics(
        self,
        location: str,
        filename: str,
        *,
        request_id: int | None = None,
        retries: int | None = None,
        retry_interval_s: float | None = None,
    ) -> bool:
        """GetDiagnostics / GetLog, after the answer: Uploading, the generated log to
        ``location`` (1.6 POST multipart/form-data, 2.0.1 PUT), then Uploaded or
        UploadFailed (2.0.1 UploadFailure). Retries connection failures and 5xx answers."""
        self._upload_task = self._take_over(self._upload_task)
        self.log_request_id = request_id
        ok = False
        try:
            await self._log_notify("Uploading")
            body = self.diagnostics_log().encode("utf-8")
            send = upload.post_multipart if self.v16 else upload.put_file
            for attempt in range(1 + max(0, retries or 0)):
                if attempt:
                    await asyncio.sleep(
                        retry_interval_s if retry_interval_s is not None else self.config.firmware_step_s
                    )
                code: int | None = None
                try:
                    code = await asyncio.to_thread(
                        send,
                        location,
                        filename,
                        body,
                        ssl_context=self.config.ssl_context,
                        timeout_s=self.config.response_timeout_s,
                    )
                    ok = 200 <= code < 300
                    if not ok:
                        log.warning("%s: upload to %s answered HTTP %d", self.identity, location, code)
                except (OSError, upload.UploadError) as exc:
                    log.warning("%s: upload to %s failed: %s", self.identity, location, exc)
                self.uploads.append((location, code, ok))
                if ok or (code is not None and code < 500):
                    break
            await self._log_notify("Uploaded" if ok else ("UploadFailed" if self.v16 else "UploadFailure"))
        finally:
            if self._upload_task is asyncio.current_task():
                self.diagnostics_status, self.log_request_id = "Idle", None
        return ok

    async def _log_notify(self, status: str) -> None:
        self.diagnostics_status = status
        payload: Any
        if self.v16:
            payload = call16.DiagnosticsStatusNotification(status=status)
        else:
            payload = call201.LogStatusNotification(status=status, request_id=self.log_request_id)
        try:
            await self.call(payload)
        except (NotConnected, ConnectionLost) as exc:
            log.info("%s: log status %s not sent (%s)", self.identity, status, exc)

    async def send_log_status(self) -> None:
        """TriggerMessage DiagnosticsStatusNotification / LogStatusNotification."""
        if self.v16:
            await self.call(call16.DiagnosticsStatusNotification(status=self.diagnostics_status))
        else:
            request_id = self.log_request_id if self.diagnostics_status != "Idle" else None
            await self.call(call201.LogStatusNotification(status=self.diagnostics_status, request_id=request_id))

    def diagnostics_log(self) -> str:
        """The log a GetDiagnostics / GetLog uploads: identity, boot, connectors, settings,
        recent statuses, meter readings and messages."""
        lines = [
            "Laddnät charger simulator - diagnostics log",
            f"generated        {self.now()}",
            f"identity         {self.identity}",
            f"vendor / model   {self.config.vendor} / {self.config.model}",
            f"firmware         {self.config.firmware_version}",
            f"ocpp             {self.version} at {self.config.endpoint}",
            f"online           {'yes' if self.online else 'no'}",
            f"boot reason      {self.last_boot_reason} (answer {self.boot_status or 'none yet'})",
            f"heartbeat        {self.heartbeat_interval_s or 0} s",
            f"meter interval   {self.config.meter_interval_s:g} s",
            f"hardware         {self.config.power_kw:g} kW, {self.config.phases} phase(s), "
            f"{len(self.connectors)} connector(s)",
            f"firmware status  {self.firmware_status}",
            f"local list       version {self.local_list_version}, {len(self.local_list)} id tag(s)",
            f"queued messages  {len(self.queue)}",
            "",
            "[connectors]",
        ]
        for conn in self.connectors.values():
            reading = self._model.reading(conn)
            tx = conn.transaction.id if conn.transaction is not None else "-"
            res = conn.reservation.id if conn.reservation is not None else "-"
            limit = f"{conn.limit_w:.0f} W" if conn.limit_w is not None else "-"
            lines.append(
                f"{conn.id}: {conn.status} {conn.error_code} operative={conn.operative} "
                f"energy={conn.energy_wh:.1f} Wh power={reading.power_w:.0f} W "
                f"temperature={conn.temperature_c:.1f} C voltage={conn.voltage_v:.0f} V "
                f"transaction={tx} reservation={res} limit={limit}"
            )
        lines += ["", "[charging profiles]"]
        for profile in self.charging_profiles:
            periods = ", ".join(f"+{q.start_s}s {q.limit:g} {profile.unit}" for q in profile.periods)
            lines.append(
                f"id {profile.id} connector {profile.connector} {profile.purpose} "
                f"stack {profile.stack_level} {profile.kind}: {periods}"
            )
        lines += ["", "[configuration]"]
        if self.v16:
            settings = [(name, s) for name, s in self.settings.items()]
        else:
            settings = [(f"{c}.{v}", s) for (c, v), s in self.variables.items()]
        lines += [f"{name} = {s.value}" for name, s in settings if s.mutability != "WriteOnly"]
        lines += ["", "[recent statuses]"]
        statuses = [p for a, p in self.sent if a == "StatusNotification"][-25:]
        for p in statuses:
            where = p.get("connectorId") if self.v16 else p.get("evseId")
            status = p.get("status") or p.get("connectorStatus")
            lines.append(f"{p.get('timestamp')} connector {where} {status} {p.get('errorCode', '')}".rstrip())
        lines += ["", "[recent meter readings]"]
        for action, p in [(a, p) for a, p in self.sent if a in _METER_ACTIONS][-25:]:
            lines += _meter_lines(action, p)
        lines += ["", "[recent messages]"]
        for action, p in self.sent[-40:]:
            lines.append(f"-> {action} {json.dumps(p, ensure_ascii=False, separators=(',', ':'))[:160]}")
        for action, p in self.received[-20:]:
            lines.append(f"<- {action} {json.dumps(p, ensure_ascii=False, separators=(',', ':'))[:160]}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ configuration

    def _default_settings(self) -> dict[str, Setting]:
        measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Temperature,SoC"
        ro, rw = "ReadOnly", "ReadWrite"
        return {
            "HeartbeatInterval": Setting("0", rw, "integer"),
            "MeterValueSampleInterval": Setting(f"{self.config.meter_interval_s:g}", rw, "integer"),
            "NumberOfConnectors": Setting(str(self.config.connectors), ro, "integer"),
            "AuthorizeRemoteTxRequests": Setting("false", rw, "boolean"),
            "LocalAuthorizeOffline": Setting("true", rw, "boolean"),
            "LocalPreAuthorize": Setting("false", rw, "boolean"),
            "StopTransactionOnInvalidId": Setting("true", rw, "boolean"),
            "StopTransactionOnEVSideDisconnect": Setting("true", rw, "boolean"),
            "ConnectionTimeOut": Setting("60", rw, "integer"),
            "ClockAlignedDataInterval": Setting("0", rw, "integer"),
            "MeterValuesSampledData": Setting(measurands, rw, members=MEASURANDS["1.6"]),
            "StopTxnSampledData": Setting("Energy.Active.Import.Register", rw, members=MEASURANDS["1.6"]),
            "TransactionMessageAttempts": Setting("3", rw, "integer"),
            "TransactionMessageRetryInterval": Setting("60", rw, "integer"),
            "WebSocketPingInterval": Setting("20", rw, "integer"),
            "SupportedFeatureProfiles": Setting(
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger", ro
            ),
            "LocalAuthListEnabled": Setting("true", rw, "boolean"),
            "LocalAuthListMaxLength": Setting("1000", ro, "integer"),
            "SendLocalListMaxLength": Setting("100", ro, "integer"),
            "ReserveConnectorZeroSupported": Setting("false", ro, "boolean"),
            "ChargeProfileMaxStackLevel": Setting("8", ro, "integer"),
            "ChargingScheduleAllowedChargingRateUnit": Setting("Current,Power", ro),
            "ChargingScheduleMaxPeriods": Setting("24", ro, "integer"),
            "MaxChargingProfilesInstalled": Setting("16", ro, "integer"),
            "AuthorizationKey": Setting("", "WriteOnly"),
        }

    def _default_variables(self) -> dict[tuple[str, str], Setting]:
        ro, rw = "ReadOnly", "ReadWrite"
        profile = "2" if self.config.url.startswith("wss://") else "1"
        measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,Frequency"
        return {
            ("OCPPCommCtrlr", "HeartbeatInterval"): Setting("0", rw, "integer"),
            ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"): Setting("3", rw, "integer"),
            ("OCPPCommCtrlr", "OfflineThreshold"): Setting("60", rw, "integer"),
            ("SampledDataCtrlr", "TxUpdatedInterval"): Setting(f"{self.config.meter_interval_s:g}", rw, "integer"),
            ("SampledDataCtrlr", "TxUpdatedMeasurands"): Setting(
                measurands, rw, "MemberList", members=MEASURANDS["2.0.1"]
            ),
            ("SampledDataCtrlr", "TxEndedMeasurands"): Setting(
                "Energy.Active.Import.Register", rw, "MemberList", members=MEASURANDS["2.0.1"]
            ),
            ("AuthCtrlr", "AuthorizeRemoteStart"): Setting("false", rw, "boolean"),
            ("AuthCtrlr", "LocalAuthorizeOffline"): Setting("true", rw, "boolean"),
            ("LocalAuthListCtrlr", "Enabled"): Setting("true", rw, "boolean"),
            ("LocalAuthListCtrlr", "ItemsPerMessage"): Setting("100", ro, "integer"),
            ("ReservationCtrlr", "Enabled"): Setting("true", ro, "boolean"),
            ("SmartChargingCtrlr", "Enabled"): Setting("true", ro, "boolean"),
            ("SmartChargingCtrlr", "RateUnit"): Setting("A,W", ro, "MemberList"),
            ("SmartChargingCtrlr", "ProfileStackLevel"): Setting("8", ro, "integer"),
            ("SmartChargingCtrlr", "PeriodsPerSchedule"): Setting("24", ro, "integer"),
            ("TxCtrlr", "EVConnectionTimeOut"): Setting("60", rw, "integer"),
            ("TxCtrlr", "StopTxOnInvalidId"): Setting("true", rw, "boolean"),
            ("SecurityCtrlr", "Identity"): Setting(self.identity, ro),
            ("SecurityCtrlr", "SecurityProfile"): Setting(profile, ro, "integer"),
            ("SecurityCtrlr", "BasicAuthPassword"): Setting("", "WriteOnly"),
            ("DeviceDataCtrlr", "ItemsPerMessage"): Setting("50", ro, "integer"),
            ("ChargingStation", "Model"): Setting(self.config.model, ro),
            ("ChargingStation", "VendorName"): Setting(self.config.vendor, ro),
            ("ChargingStation", "AvailabilityState"): Setting("Available", ro),
        }


_METER_ACTIONS = frozenset({"MeterValues", "TransactionEvent", "StartTransaction", "StopTransaction"})


def _meter_lines(action: str, payload: Payload) -> list[str]:
    """One line per meter value of a sent message: time, where, energy register, power."""
    if action == "StartTransaction":
        return [
            f"{payload.get('timestamp')} connector {payload.get('connectorId')} start {payload.get('meterStart')} Wh"
        ]
    if action == "StopTransaction":
        return [
            f"{payload.get('timestamp')} transaction {payload.get('transactionId')} stop {payload.get('meterStop')} Wh"
        ]
    where = payload.get("connectorId", payload.get("evseId", (payload.get("evse") or {}).get("id", "")))
    out = []
    for mv in payload.get("meterValue", []):
        values = {
            sv.get("measurand", "Energy.Active.Import.Register"): sv.get("value") for sv in mv.get("sampledValue", [])
        }
        energy = values.get("Energy.Active.Import.Register")
        power = values.get("Power.Active.Import")
        text = f"{mv.get('timestamp')} {action} {where} energy {energy} Wh".replace("  ", " ")
        out.append(text + (f" power {power} W" if power is not None else ""))
    return out


_FIRMWARE_SUFFIX = re.compile(r"\.(bin|img|fw|hex|zip|tar|gz|tgz|swu)$", re.IGNORECASE)


def _firmware_version(location: str, current: str) -> str:
    """The version a firmware image installs: its file name without the extension."""
    name = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    while (stripped := _FIRMWARE_SUFFIX.sub("", name)) != name:
        name = stripped
    return name[:50] if name else f"{current}+1"[:50]
