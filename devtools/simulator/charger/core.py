"""The state every concern of a simulated charger shares, and what the charger is right now.

``SimulatedCharger`` (``charger/__init__.py``) is this core plus one mixin per concern
(connection, calls, messages, transactions, reservations...), each in its own module. A
concern reaches another only through ``self``; the methods they call across modules are
declared at the end of :class:`ChargerCore` for the type checker, and defined once, in the
module named above each group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from devtools.simulator import smart
from devtools.simulator.charge_point import SimChargePoint
from devtools.simulator.charger.configuration import Setting, default_settings, default_variables
from devtools.simulator.config import SimConfig
from devtools.simulator.errors import SimulatorError
from devtools.simulator.model import Clock, Connector, ElectricalModel, Payload, Reading, iso_z, utc_now


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
class _Counters:
    local_tx: int = 0
    event_id: int = 0
    report_seq: int = 0


class ChargerCore:
    """One charger's state. Connectors are numbered from 1 (2.0.1: EVSE n with connector 1)."""

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
        self.settings: dict[str, Setting] = default_settings(config)
        self.variables: dict[tuple[str, str], Setting] = default_variables(config)
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

    def _aware_now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    def _idle_status(self, conn: Connector) -> str:
        """The status of a connector without a transaction (1.6 spelling)."""
        if not conn.operative:
            return "Unavailable"
        return "Reserved" if conn.reservation is not None else "Available"

    @staticmethod
    def _id_token(tag: str) -> Payload:
        return {"id_token": tag, "type": "ISO14443"}

    @staticmethod
    def _take_over(previous: asyncio.Task[Any] | None) -> asyncio.Task[Any] | None:
        """The running task replaces ``previous`` (a firmware update or upload), cancelling it."""
        current = asyncio.current_task()
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()
        return current

    if TYPE_CHECKING:
        # Declared for the type checker only: defined by the concern's module named above each
        # group, so one concern can call another's methods through self.

        # connection.py
        async def _reboot(self, *, boot_reason: str, stop_reason: str) -> None: ...

        # calls.py
        async def call(self, payload: Any) -> Payload: ...
        async def _tx_call(self, entry: QueuedCall) -> Payload | None: ...
        async def flush_queue(self) -> int: ...

        # messages.py
        async def boot(self, reason: str = "PowerUp") -> Payload: ...
        async def heartbeat(self) -> Payload: ...
        async def authorize(self, id_tag: str | None = None) -> str: ...
        async def status(
            self,
            connector: int,
            status: str,
            error_code: str = "NoError",
            info: str | None = None,
            vendor_error_code: str | None = None,
        ) -> None: ...
        async def _set_status(self, conn: Connector, status: str, error_code: str = "NoError") -> None: ...
        async def _send_status(self, conn: Connector, *, force: bool = False) -> None: ...
        async def _resync_statuses(self) -> None: ...
        def _all_connectors(self) -> list[Connector]: ...

        # events.py
        async def _notify_problem(self, conn: Connector, *, active: bool) -> None: ...
        async def _report_temperature(self, conn: Connector) -> None: ...

        # transactions.py
        async def start_transaction(
            self,
            connector: int = 1,
            id_tag: str | None = None,
            *,
            remote_start_id: int | None = None,
            authorize: bool = True,
        ) -> str: ...
        async def send_meter_values(self, connector: int = 1, seconds: float | None = None) -> None: ...
        async def _meter(
            self,
            conn: Connector,
            seconds: float,
            context: str,
            *,
            trigger_reason: str = "MeterValuePeriodic",
            standalone: bool = False,
        ) -> None: ...
        async def stop_transaction(self, connector: int = 1, reason: str = "Local") -> None: ...

        # heartbeat.py
        def _set_heartbeat_interval(self, seconds: int, *, restart: bool = True) -> None: ...
        def _start_heartbeat(self) -> None: ...
        def _stop_heartbeat(self) -> None: ...

        # background.py
        def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[None]: ...
        async def _guard(self, coro: Coroutine[Any, Any, Any], what: str) -> None: ...

        # handler_support.py
        def _maybe_reset_when_idle(self) -> None: ...

        # local_list.py
        def _local_status(self, tag: str) -> str: ...

        # reservations.py
        def _drop_reservation(self, reservation_id: int) -> Connector | None: ...

        # smart_charging.py
        def _install_profile(self, profile: smart.ChargingProfile) -> None: ...
        def _drop_tx_profiles(self, connector: int) -> None: ...
        def _refresh_limit(self, conn: Connector) -> None: ...
        async def _follow_limit(self, conn: Connector) -> bool: ...
