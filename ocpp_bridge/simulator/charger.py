"""A simulated charger speaking OCPP 1.6J or 2.0.1 over a real WebSocket.

Built on the client side of the ``ocpp`` library: our calls go out with
``ChargePoint.call`` while the library's receive loop (``ChargePoint.start``) runs as a
task and answers the CSMS's calls through the ``@on`` handlers in
:mod:`ocpp_bridge.simulator.handlers`.

Transaction messages (start, meter values, stop) made while offline are queued with the
timestamps they had when they happened and replayed in order on reconnect, as the spec
asks of a real charger; status notifications are not queued, the current state is sent
again instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.protocol import State
from websockets.typing import Subprotocol

from ocpp_bridge.simulator.handlers import ChargePoint16, ChargePoint201, SimChargePoint
from ocpp_bridge.simulator.model import (
    ERROR_CODES_16,
    HIGH_TEMPERATURE_C,
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
        return self._model.reading(self.connector(connector))

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
        tasks = [t for t in self._tasks if t is not current]
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
            conn.status = "Available" if conn.operative else "Unavailable"
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
            return
        conn.sent_status = wire

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
        conn.starting = True
        try:
            await self._set_status(conn, "Preparing")
            if authorize and self.online:
                try:
                    status = await self.authorize(tag)
                except (NotConnected, ConnectionLost):
                    status = "Accepted"  # LocalAuthorizeOffline
                if status != "Accepted":
                    raise AuthorizationRejected(tag, status)
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
                )
                answer = await self._tx_call(QueuedCall("TransactionEvent", payload, connector))
                status = (answer or {}).get("idTokenInfo", {}).get("status", "Accepted")
            conn.transaction = tx
            self.transactions[connector] = tx.id
        except Exception:
            conn.starting = False
            if conn.status == "Preparing":
                with contextlib.suppress(SimulatorError):
                    await self._set_status(conn, "Available")  # unplugged again
            raise
        finally:
            conn.starting = False
        if status != "Accepted":
            await self.stop_transaction(connector, reason="DeAuthorized")
            raise AuthorizationRejected(tag, status)
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
        reading = self._model.advance(conn, seconds)
        ts = self.now()
        mv = meter_value(ts, sampled_values(reading, context, self.version))
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
        try:
            await self._tx_call(entry)
        finally:
            if conn.status != "Faulted":
                if self.v16:
                    await self._set_status(conn, "Finishing")
                if conn.pending_operative is not None:
                    conn.operative, conn.pending_operative = conn.pending_operative, None
                await self._set_status(conn, "Available" if conn.operative else "Unavailable")
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

    def free_connector(self, requested: int | None) -> Connector | None:
        """The connector a remote start may use, or None."""
        if requested is not None and requested > 0:
            candidates = [self.connectors.get(requested)]
        else:
            candidates = list(self.connectors.values())
        for conn in candidates:
            if (
                conn is not None
                and not conn.busy
                and conn.operative
                and conn.status not in ("Faulted", "Unavailable", "Reserved")
            ):
                return conn
        return None

    def connector_of_transaction(self, transaction_id: str) -> Connector | None:
        for conn in self.connectors.values():
            if conn.transaction is not None and conn.transaction.id == transaction_id:
                return conn
        return None

    async def remote_start(self, connector: int, id_tag: str, *, remote_start_id: int | None, authorize: bool) -> None:
        conn = self.connector(connector)
        conn.starting = False  # reserved by the handler until now
        await self.start_transaction(connector, id_tag, remote_start_id=remote_start_id, authorize=authorize)

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
                await self._set_status(conn, "Available" if operative else "Unavailable")

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
            "MeterValuesSampledData": Setting(measurands, rw),
            "StopTxnSampledData": Setting("Energy.Active.Import.Register", rw),
            "TransactionMessageAttempts": Setting("3", rw, "integer"),
            "TransactionMessageRetryInterval": Setting("60", rw, "integer"),
            "WebSocketPingInterval": Setting("20", rw, "integer"),
            "SupportedFeatureProfiles": Setting("Core,RemoteTrigger", ro),
            "ChargeProfileMaxStackLevel": Setting("0", ro, "integer"),
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
            ("SampledDataCtrlr", "TxUpdatedMeasurands"): Setting(measurands, rw, "MemberList"),
            ("SampledDataCtrlr", "TxEndedMeasurands"): Setting("Energy.Active.Import.Register", rw, "MemberList"),
            ("AuthCtrlr", "AuthorizeRemoteStart"): Setting("false", rw, "boolean"),
            ("AuthCtrlr", "LocalAuthorizeOffline"): Setting("true", rw, "boolean"),
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
