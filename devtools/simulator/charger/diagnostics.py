"""Diagnostics and logs: the generated log, its upload over HTTP(S) and the status notifications."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from devtools.simulator import upload
from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.errors import ConnectionLost, NotConnected
from devtools.simulator.model import Payload

log = logging.getLogger("laddnat.simulator")


class DiagnosticsMixin(ChargerCore):
    """SimulatedCharger's diagnostics and logs (see the module docstring)."""

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
