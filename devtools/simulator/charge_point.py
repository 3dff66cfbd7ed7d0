"""The simulator's side of CSMS-initiated calls, on the ``ocpp`` library's client ChargePoint:
what both versions share (v16.py and v201.py hold each version's handlers).

Handlers answer at once (after ``slow_answers_s``); whatever must follow the answer
(starting a transaction, rebooting, sending a triggered message) is deferred: the
``@on`` handler stores it under the call's unique id and the matching ``@after`` hook
spawns it as a task. Awaiting a call to the CSMS inside a handler would deadlock the
library's receive loop, which is also what delivers our answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import ChargePoint as _LibChargePoint

from devtools.simulator.model import parse_ts
from devtools.simulator.smart import Period

if TYPE_CHECKING:
    from devtools.simulator.charger import SimulatedCharger
    from devtools.simulator.charger.configuration import Setting

log = logging.getLogger("laddnat.simulator")

Deferred = Callable[[], Coroutine[Any, Any, Any]]


class SimChargePoint(_LibChargePoint):  # type: ignore[misc]
    """Records traffic for the simulator and keeps raw answers by unique id."""

    def __init__(self, id: str, connection: Any, sim: SimulatedCharger, response_timeout: float = 30) -> None:
        super().__init__(id, connection, response_timeout=response_timeout)
        self.sim = sim
        #: unique id -> the raw CallResult / CallError message (read by SimulatedCharger.call).
        self.responses: dict[str, Any] = {}
        self._deferred: dict[str, tuple[str, Deferred]] = {}

    async def _get_specific_response(self, unique_id: str, limit_s: float) -> Any:
        response = await super()._get_specific_response(unique_id, limit_s)
        self.responses[unique_id] = response
        return response

    async def _send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] == 2:
            self.sim.sent.append((frame[2], frame[3]))
        await super()._send(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
        try:
            frame = json.loads(raw_msg)
            if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
                self.sim.received.append((frame[2], frame[3]))
        except ValueError:
            pass
        await super().route_message(raw_msg)

    # ---- deferring work until the answer is on the wire

    def defer(self, unique_id: str, what: str, work: Deferred) -> None:
        self._deferred[unique_id] = (what, work)

    def run_deferred(self, unique_id: str) -> None:
        item = self._deferred.pop(unique_id, None)
        if item is not None:
            what, work = item
            self.sim.spawn(work(), what)

    # ---- device model helpers shared by both versions

    def _answer_delay(self) -> Coroutine[Any, Any, None]:
        return self.sim.answer_delay()


def parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def valid_setting_value(setting: Setting, value: str) -> bool:
    if setting.members is not None:
        return all(item.strip() in setting.members for item in value.split(",") if item.strip())
    if setting.data_type == "integer":
        try:
            return int(value) >= 0
        except ValueError:
            return False
    if setting.data_type == "boolean":
        return parse_bool(value) is not None
    return True


def parse_when(value: str | None) -> datetime | None:
    try:
        return parse_ts(value) if value else None
    except ValueError:
        return None


def schedule_periods(periods: list[Period]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in periods:
        row: dict[str, Any] = {"start_period": p.start_s, "limit": p.limit}
        if p.phases is not None:
            row["number_phases"] = p.phases
        out.append(row)
    return out
