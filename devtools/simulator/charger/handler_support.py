"""What the CSMS-call handlers (v16.py, v201.py) ask of the charger: remote starts,
resets, availability, and the settings they change."""

from __future__ import annotations

import asyncio

from devtools.simulator import smart
from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.model import Connector


class HandlerSupportMixin(ChargerCore):
    """What the CSMS-call handlers ask of the charger."""

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
