"""Transactions: start, meter values, stop (1.6 Start/StopTransaction, 2.0.1 TransactionEvent)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator.charger.core import ChargerCore, QueuedCall
from devtools.simulator.errors import AuthorizationRejected, ConnectionLost, NotConnected, SimulatorError
from devtools.simulator.model import (
    START_SOC,
    Connector,
    Payload,
    Transaction,
    meter_value,
    reason_16,
    reason_201,
    sampled_values,
    trigger_for_stop,
)


class TransactionsMixin(ChargerCore):
    """SimulatedCharger's transactions (see the module docstring)."""

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
                # StopTxnSampledData empty: meterStop alone, as many chargers send it.
                transaction_data=[tx.begin_sample, end] if self.settings["StopTxnSampledData"].value else None,
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
                # TxEndedMeasurands empty: an Ended without a reading of its own.
                meter_value=[end] if self.variables[("SampledDataCtrlr", "TxEndedMeasurands")].value else None,
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

    def _measurands(self) -> tuple[str, ...] | None:
        """MeterValuesSampledData (1.6) / SampledDataCtrlr.TxUpdatedMeasurands (2.0.1)."""
        if self.v16:
            value = self.settings["MeterValuesSampledData"].value
        else:
            value = self.variables[("SampledDataCtrlr", "TxUpdatedMeasurands")].value
        return tuple(item.strip() for item in value.split(",") if item.strip()) or None
