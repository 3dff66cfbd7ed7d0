"""Calls to the CSMS: one call and its answer, and the offline queue of transaction messages."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed

from devtools.simulator.charger.core import ChargerCore, QueuedCall
from devtools.simulator.errors import CallFailed, ConnectionLost, NotConnected
from devtools.simulator.model import Payload

log = logging.getLogger("laddnat.simulator")


class CallsMixin(ChargerCore):
    """SimulatedCharger's calls to the CSMS and its offline queue (see the module docstring)."""

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
