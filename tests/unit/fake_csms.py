"""The fake CSMS the simulator tests talk to: the ``ocpp`` library's server side on a free port.

It accepts chargers that give ``PASSWORD`` (HTTP Basic), answers every charger-initiated
message the way a permissive CSMS would (id tag ``BLOCKED`` is refused), and records each
call it receives (``of``, ``actions``, ``frames``). ``cps`` holds the server-side ChargePoint
of each identity, through which a test makes CSMS -> charger calls. The ``csms16`` and
``csms201`` fixtures (tests/unit/conftest.py) start one per test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ServerCP16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ServerCP201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from devtools.simulator import SimConfig, SimulatedCharger

PASSWORD = "correct-horse-battery"
Payload = dict[str, Any]


@dataclass
class Received:
    identity: str
    connection: int  # 1 for the first connection of that identity, 2 after a reconnect...
    action: str
    payload: Payload


@dataclass
class Csms:
    version: str
    server: Server | None = None
    calls: list[Received] = field(default_factory=list)
    cps: dict[str, Any] = field(default_factory=dict)  # identity -> its current server ChargePoint
    connections: dict[str, int] = field(default_factory=dict)
    frames: list[str] = field(default_factory=list)  # every incoming frame: action, or "result"
    next_tx: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp"

    def of(self, action: str, identity: str | None = None) -> list[Payload]:
        return [c.payload for c in self.calls if c.action == action and identity in (None, c.identity)]

    def actions(self, identity: str | None = None) -> list[str]:
        return [c.action for c in self.calls if identity in (None, c.identity)]

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{identity}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        identity = ws.request.path.rsplit("/", 1)[-1]
        self.connections[identity] = self.connections.get(identity, 0) + 1
        cls = CsmsCP16 if self.version == "1.6" else CsmsCP201
        cp = cls(identity, ws, self, self.connections[identity])
        self.cps[identity] = cp
        try:
            await cp.start()
        except ConnectionClosed:
            pass

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def new_transaction_id(self) -> int:
        self.next_tx += 1
        return self.next_tx


class _Recorder:
    def _record(self: Any, raw: str | bytes) -> None:
        frame = json.loads(raw)
        self.csms.frames.append(frame[2] if frame[0] == 2 else "result")
        if frame[0] == 2:
            self.csms.calls.append(Received(self.id, self.connection_no, frame[2], frame[3]))


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class CsmsCP16(_Recorder, ServerCP16):
    def __init__(self, identity: str, ws: ServerConnection, csms: Csms, connection_no: int) -> None:
        super().__init__(identity, ws)
        self.csms, self.connection_no = csms, connection_no

    async def route_message(self, raw_msg: str | bytes) -> None:
        self._record(raw_msg)
        await super().route_message(raw_msg)

    @on("BootNotification")
    def csms_boot(self, **kwargs: Any) -> Any:
        return result16.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def csms_heartbeat(self, **kwargs: Any) -> Any:
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def csms_status(self, **kwargs: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    def csms_authorize(self, id_tag: str, **kwargs: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": "Blocked" if id_tag == "BLOCKED" else "Accepted"})

    @on("StartTransaction")
    def csms_start(self, **kwargs: Any) -> Any:
        return result16.StartTransaction(
            transaction_id=self.csms.new_transaction_id(), id_tag_info={"status": "Accepted"}
        )

    @on("MeterValues")
    def csms_meter_values(self, **kwargs: Any) -> Any:
        return result16.MeterValues()

    @on("StopTransaction")
    def csms_stop(self, **kwargs: Any) -> Any:
        return result16.StopTransaction()

    @on("DiagnosticsStatusNotification")
    def csms_diagnostics(self, **kwargs: Any) -> Any:
        return result16.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def csms_firmware(self, **kwargs: Any) -> Any:
        return result16.FirmwareStatusNotification()


class CsmsCP201(_Recorder, ServerCP201):
    def __init__(self, identity: str, ws: ServerConnection, csms: Csms, connection_no: int) -> None:
        super().__init__(identity, ws)
        self.csms, self.connection_no = csms, connection_no

    async def route_message(self, raw_msg: str | bytes) -> None:
        self._record(raw_msg)
        await super().route_message(raw_msg)

    @on("BootNotification")
    def csms_boot(self, **kwargs: Any) -> Any:
        return result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def csms_heartbeat(self, **kwargs: Any) -> Any:
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def csms_status(self, **kwargs: Any) -> Any:
        return result201.StatusNotification()

    @on("Authorize")
    def csms_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        status = "Blocked" if id_token["id_token"] == "BLOCKED" else "Accepted"
        return result201.Authorize(id_token_info={"status": status})

    @on("TransactionEvent")
    def csms_transaction_event(self, id_token: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return result201.TransactionEvent(id_token_info={"status": "Accepted"} if id_token else None)

    @on("MeterValues")
    def csms_meter_values(self, **kwargs: Any) -> Any:
        return result201.MeterValues()

    @on("NotifyEvent")
    def csms_notify_event(self, **kwargs: Any) -> Any:
        return result201.NotifyEvent()

    @on("NotifyReport")
    def csms_notify_report(self, **kwargs: Any) -> Any:
        return result201.NotifyReport()

    @on("FirmwareStatusNotification")
    def csms_firmware(self, **kwargs: Any) -> Any:
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def csms_log_status(self, **kwargs: Any) -> Any:
        return result201.LogStatusNotification()

    @on("ReservationStatusUpdate")
    def csms_reservation_status(self, **kwargs: Any) -> Any:
        return result201.ReservationStatusUpdate()


async def start_csms(version: str) -> Csms:
    """A CSMS speaking ``version`` on a free loopback port; close its ``server`` when done."""
    csms = Csms(version)
    csms.server = await serve(
        csms.handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(f"ocpp{version}")],
        process_request=csms.process_request,
    )
    return csms


def make_sim(csms: Csms, identity: str, **options: Any) -> SimulatedCharger:
    clock = options.pop("clock", None)
    config = SimConfig(
        url=csms.url,
        identity=identity,
        password=options.pop("password", PASSWORD),
        version=csms.version,
        meter_interval_s=options.pop("meter_interval_s", 0.05),
        time_scale=options.pop("time_scale", 60.0),
        **options,
    )
    return SimulatedCharger(config, clock=clock)


async def wait_for(predicate: Callable[[], bool], limit_s: float = 15.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def samples(meter_value: Payload, measurand: str) -> list[Payload]:
    return [sv for sv in meter_value["sampledValue"] if sv.get("measurand") == measurand]
