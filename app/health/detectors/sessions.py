"""Failed starts and vehicle communication, read from how sessions end.

- a run of very short, near-zero sessions on one charger (the car never really charged);
- sessions ending early with EV-side reasons on one charger across several different
  cars (one car is the car's problem; many cars is the charger's side of the link).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where
from app.health.signals import Signal
from app.sessions.events import TransactionEnded

# Stop reasons (1.6 Reason / 2.0.1 ReasonEnum) that come from the vehicle's side.
EV_SIDE_REASONS = frozenset({"EVDisconnected", "EVCommunicationError", "EVDeparted"})
# An EV-side end this soon after the start is "early".
EARLY_S = 15 * 60.0


class SessionDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.short_run: dict[str, list[dict[str, object]]] = {}
        self.ev_side: dict[str, deque[tuple[datetime, str, dict[str, object]]]] = {}
        self.raised: set[Where] = set()

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def feed(self, event: Event) -> list[Signal]:
        if not isinstance(event, TransactionEnded):
            return []
        identity = event.identity
        seconds = (event.stopped_at - event.started_at).total_seconds()
        record: dict[str, object] = {
            "transactionId": str(event.transaction_id),
            "idToken": event.id_token,
            "seconds": round(seconds, 1),
            "energyWh": event.energy_wh,
            "stopReason": event.stop_reason,
            "stoppedAt": event.stopped_at.isoformat(),
        }
        out: list[Signal] = []
        short = seconds < self.s.short_session_s and event.energy_wh < self.s.short_session_wh
        run = self.short_run.setdefault(identity, [])
        if short:
            run.append(record)
            del run[: -self.s.short_session_run]
            if len(run) >= self.s.short_session_run and (identity, None, "short_sessions") not in self.raised:
                self.raised.add((identity, None, "short_sessions"))
                out.append(
                    Signal(
                        kind="failed_starts",
                        identity=identity,
                        topic="short_sessions",
                        at=self.clock(),
                        severity="warning",
                        cause="unknown",
                        confidence=0.4,
                        summary=f"Charger {identity} ended {len(run)} sessions in a row within seconds, "
                        "with no energy.",
                        evidence={
                            "sessions": list(run),
                            "thresholds": {"seconds": self.s.short_session_s, "wh": self.s.short_session_wh},
                        },
                    )
                )
        else:
            run.clear()
            if (identity, None, "short_sessions") in self.raised:
                self.raised.discard((identity, None, "short_sessions"))
                out.append(self._clear(identity, "failed_starts", "short_sessions", record))

        window = timedelta(seconds=self.s.ev_side_window_s)
        ends = self.ev_side.setdefault(identity, deque())
        now = self.clock()
        while ends and now - ends[0][0] > window:
            ends.popleft()
        where = (identity, None, "ev_side_stops")
        if event.stop_reason in EV_SIDE_REASONS and seconds < EARLY_S:
            ends.append((now, event.id_token or str(event.transaction_id), record))
            cars = {car for _, car, _ in ends}
            if len(cars) >= self.s.ev_side_stops and where not in self.raised:
                self.raised.add(where)
                out.append(
                    Signal(
                        kind="vehicle_communication",
                        identity=identity,
                        topic="ev_side_stops",
                        at=now,
                        severity="warning",
                        cause="vehicle_communication",
                        confidence=0.6,
                        summary=f"Charger {identity}: {len(cars)} different cars ended their sessions early "
                        "from the vehicle side.",
                        evidence={"sessions": [r for _, _, r in ends], "cars": len(cars)},
                    )
                )
        elif seconds >= EARLY_S and event.energy_wh >= 1000 and where in self.raised:
            ends.clear()
            self.raised.discard(where)
            out.append(self._clear(identity, "vehicle_communication", "ev_side_stops", record))
        return out

    def _clear(self, identity: str, kind: str, topic: str, record: dict[str, object]) -> Signal:
        return Signal(
            kind=kind,
            identity=identity,
            topic=topic,
            at=self.clock(),
            clears=True,
            summary=f"Charger {identity} completed a normal session.",
            evidence={"session": record},
        )
