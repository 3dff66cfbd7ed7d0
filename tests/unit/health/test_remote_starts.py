"""Accepted remote starts that never become a transaction (the failed-starts detector)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.chargers.events import CommandAnswered
from app.core.settings import HealthSettings
from app.health.detectors import OfflineDetector, SessionDetector
from app.sessions.events import TransactionStarted
from tests.unit.health.clock import HandClock

S = HealthSettings(remote_start_timeout_s=120.0, failed_remote_starts=2)
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock(HandClock):
    def __init__(self) -> None:
        super().__init__(T0)


def accepted(token: str, status: str = "Accepted", outcome: str = "answered") -> CommandAnswered:
    return CommandAnswered(
        identity="CP-1",
        name="remote-start",
        outcome=outcome,
        status=status,
        args={"idToken": token, "evse": 1},
        at=T0,
    )


def started(token: str) -> TransactionStarted:
    return TransactionStarted(
        identity="CP-1",
        transaction_id=uuid.uuid4(),
        number=1,
        evse=1,
        connector=1,
        id_token=token,
        started_at=T0,
        offline=False,
    )


def test_two_accepted_remote_starts_without_a_session_raise_failed_starts_and_a_session_clears_it() -> None:
    clock = Clock()
    d = SessionDetector(S, clock)
    assert d.feed(accepted("P1")) == []
    assert d.tick(clock.advance(121)) == []  # one miss: could be the driver
    d.feed(accepted("P2"))
    (signal,) = d.tick(clock.advance(121))
    assert (signal.kind, signal.topic, signal.cause) == ("failed_starts", "remote_starts", "vehicle_communication")
    assert [s["idToken"] for s in signal.evidence["remoteStarts"]] == ["P1", "P2"]
    d.feed(accepted("P3"))
    (cleared,) = d.feed(started("P3"))
    assert cleared.clears and cleared.topic == "remote_starts"
    assert d.tick(clock.advance(121)) == []  # P3 became a session: nothing left waiting


def test_remote_starts_that_become_sessions_or_were_rejected_raise_nothing() -> None:
    clock = Clock()
    d = SessionDetector(S, clock)
    for n in range(5):
        d.feed(accepted(f"P{n}"))
        clock.advance(30)
        d.feed(started(f"P{n}"))
        assert d.tick(clock.advance(200)) == []
    for n in range(3):
        d.feed(accepted(f"R{n}", status="Rejected"))
        assert d.tick(clock.advance(200)) == []


def test_a_command_to_an_offline_charger_is_not_a_sign_of_life() -> None:
    clock = Clock()
    d = OfflineDetector(S, heartbeat_interval_s=10, clock=clock)
    d.feed(accepted("X", status=None, outcome="answered"))  # first sight: connected
    clock.advance(2 * 10 + S.offline_grace_s + 1)
    d.feed(accepted("Y", status=None, outcome="offline"))  # our command found nobody
    assert [s.kind for s in d.tick(clock.now)] == ["offline"]
