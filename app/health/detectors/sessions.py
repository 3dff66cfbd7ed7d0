"""Failed starts and vehicle communication, read from how sessions start and end.

- accepted remote starts that never become a transaction, several in a row on one charger;
- a run of very short, near-zero sessions on one charger (the car never really charged);
- authorisation refusals piling up on one charger for many different cards (its reader
  misreads them, or its local list is wrong), until a card is accepted there again;
- sessions ending early with EV-side reasons on one charger across several different
  cars (one car is the car's problem; many cars is the charger's side of the link).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from app.chargers.events import CommandAnswered
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where
from app.health.signals import Signal
from app.sessions.events import TokenChecked, TransactionEnded, TransactionStarted

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
        # Accepted remote starts waiting for their transaction, and misses in a row.
        self.awaiting: dict[str, deque[tuple[datetime, dict[str, object]]]] = {}
        self.missed: dict[str, list[dict[str, object]]] = {}
        # Refused Authorize requests per charger, oldest first: (at, token ref, record).
        self.refusals: dict[str, deque[tuple[datetime, str, dict[str, object]]]] = {}

    def tick(self, now: datetime) -> list[Signal]:
        out: list[Signal] = []
        timeout = timedelta(seconds=self.s.remote_start_timeout_s)
        for identity, waiting in self.awaiting.items():
            while waiting and now - waiting[0][0] > timeout:
                _, start = waiting.popleft()
                missed = self.missed.setdefault(identity, [])
                missed.append(start)
                del missed[: -self.s.failed_remote_starts]
                where = (identity, None, "remote_starts")
                if len(missed) >= self.s.failed_remote_starts and where not in self.raised:
                    self.raised.add(where)
                    out.append(
                        Signal(
                            kind="failed_starts",
                            identity=identity,
                            topic="remote_starts",
                            at=now,
                            severity="warning",
                            # The charger said yes but no car started charging: most often it
                            # cannot sense the car (control pilot), or the cable lock.
                            cause="vehicle_communication",
                            confidence=0.4,
                            summary=f"Charger {identity} accepted {len(missed)} remote starts in a row "
                            "that never became a session.",
                            evidence={
                                "remoteStarts": list(missed),
                                "thresholds": {
                                    "timeoutS": self.s.remote_start_timeout_s,
                                    "inARow": self.s.failed_remote_starts,
                                },
                            },
                        )
                    )
        return out

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, CommandAnswered):
            if event.name == "remote-start" and event.status == "Accepted":
                start: dict[str, object] = {"acceptedAt": event.at.isoformat(), **event.args}
                self.awaiting.setdefault(event.identity, deque()).append((self.clock(), start))
            return []
        if isinstance(event, TransactionStarted):
            return self._started(event)
        if isinstance(event, TokenChecked):
            return self._token_checked(event)
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

    def _started(self, event: TransactionStarted) -> list[Signal]:
        """A session started: the remote start it answers (by token, else the oldest) is
        kept, and a run of misses is over."""
        waiting = self.awaiting.get(event.identity)
        if waiting:
            match = next((w for w in waiting if w[1].get("idToken") == event.id_token), waiting[0])
            waiting.remove(match)
        self.missed.pop(event.identity, None)
        where = (event.identity, None, "remote_starts")
        if where not in self.raised:
            return []
        self.raised.discard(where)
        record: dict[str, object] = {"transactionId": str(event.transaction_id), "idToken": event.id_token}
        return [self._clear(event.identity, "failed_starts", "remote_starts", record)]

    def _token_checked(self, event: TokenChecked) -> list[Signal]:
        identity = event.identity
        where = (identity, None, "authorization")
        if event.status == "Accepted":
            self.refusals.pop(identity, None)
            if where not in self.raised:
                return []
            self.raised.discard(where)
            record: dict[str, object] = {"tokenHint": event.token_hint, "at": event.at.isoformat()}
            return [
                Signal(
                    kind="failed_starts",
                    identity=identity,
                    topic="authorization",
                    at=self.clock(),
                    clears=True,
                    summary=f"Charger {identity} read a card that was accepted.",
                    evidence={"accepted": record},
                )
            ]
        now = self.clock()
        refused = self.refusals.setdefault(identity, deque())
        refused.append(
            (
                now,
                event.token_ref,
                {
                    "tokenHint": event.token_hint,
                    "type": event.token_type,
                    "status": event.status,
                    "at": event.at.isoformat(),
                },
            )
        )
        window = timedelta(seconds=self.s.auth_refusal_window_s)
        while refused and now - refused[0][0] > window:
            refused.popleft()
        while len(refused) > 4 * self.s.auth_refusals:  # bounded, whatever a charger sends
            refused.popleft()
        cards = {ref for _, ref, _ in refused}
        if len(refused) < self.s.auth_refusals or len(cards) < self.s.auth_refused_tokens or where in self.raised:
            return []
        self.raised.add(where)
        return [
            Signal(
                kind="failed_starts",
                identity=identity,
                topic="authorization",
                at=now,
                severity="warning",
                # Many different cards refused at one charger and nowhere else: its reader
                # misreads them (a wrong UID is an unknown card).
                cause="rfid_reader",
                confidence=0.5,
                summary=f"Charger {identity} had {len(refused)} cards refused ({len(cards)} different ones) "
                f"within {self.s.auth_refusal_window_s / 60:g} minutes.",
                evidence={
                    "refusals": [r for _, _, r in refused],
                    "differentCards": len(cards),
                    "thresholds": {
                        "refusals": self.s.auth_refusals,
                        "differentCards": self.s.auth_refused_tokens,
                        "windowS": self.s.auth_refusal_window_s,
                    },
                },
            )
        ]

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
