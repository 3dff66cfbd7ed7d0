"""Authorisation refusals piling up on one charger, and power far below what is expected."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, timedelta

from app.chargers.events import CommandAnswered, ConnectorStatusChanged
from app.core.settings import HealthSettings
from app.health.detectors import LowPowerDetector, SessionDetector
from app.sessions.events import MeterSampled, TokenChecked, TransactionEnded, TransactionStarted, TransactionUpdated
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = HealthSettings()


class Clock(HandClock):
    def __init__(self) -> None:
        super().__init__(T0)


# -- authorisation refusals --------------------------------------------------------------------


def checked(token: str, status: str = "Unknown", identity: str = "CP1") -> TokenChecked:
    return TokenChecked(
        identity=identity,
        token_ref=f"ref-{token}",
        token_hint=token[-4:],
        token_type="ISO14443",
        status=status,
        at=T0,
    )


def test_many_different_cards_refused_at_one_charger_is_its_reader() -> None:
    clock = Clock()
    d = SessionDetector(S, clock)
    for token in ("AAAA0001", "AAAA0002", "AAAA0003", "AAAA0004"):
        assert d.feed(checked(token)) == []
        clock.advance(30)
    [signal] = d.feed(checked("AAAA0005"))
    assert (signal.kind, signal.topic, signal.cause) == ("failed_starts", "authorization", "rfid_reader")
    assert signal.evidence["differentCards"] == 5
    assert [r["tokenHint"] for r in signal.evidence["refusals"]] == ["0001", "0002", "0003", "0004", "0005"]
    assert d.feed(checked("AAAA0006")) == []  # raised once
    [clear] = d.feed(checked("BBBB0001", "Accepted"))
    assert clear.clears and clear.topic == "authorization"


def test_one_drivers_blocked_card_tried_again_and_again_is_not_the_charger() -> None:
    d = SessionDetector(S, Clock())
    for _ in range(20):
        assert d.feed(checked("BLOCKED1", "Blocked")) == []


def test_refusals_spread_over_hours_and_over_chargers_raise_nothing() -> None:
    clock = Clock()
    d = SessionDetector(S, clock)
    for i in range(12):
        assert d.feed(checked(f"CARD{i:04d}")) == []
        clock.advance(S.auth_refusal_window_s / 4 + 1)  # never five within one window
    for i in range(12):
        assert d.feed(checked(f"CARD{i:04d}", identity=f"CP{i}")) == []


def test_an_accepted_card_ends_the_run() -> None:
    d = SessionDetector(S, Clock())
    for i in range(4):
        d.feed(checked(f"CARD{i:04d}"))
    assert d.feed(checked("GOOD0001", "Accepted")) == []
    assert d.feed(checked("CARD0009")) == []  # counting starts again


# -- low power ---------------------------------------------------------------------------------


def started(tx: uuid.UUID, token: str, identity: str = "CP1") -> TransactionStarted:
    return TransactionStarted(
        identity=identity,
        transaction_id=tx,
        number=tx.int % 1_000_000,
        evse=1,
        connector=1,
        id_token=token,
        started_at=T0,
        offline=False,
    )


def ended(tx: uuid.UUID, token: str, identity: str = "CP1") -> TransactionEnded:
    return TransactionEnded(
        identity=identity,
        transaction_id=tx,
        number=tx.int % 1_000_000,
        evse=1,
        connector=1,
        id_token=token,
        started_at=T0,
        stopped_at=T0,
        energy_wh=1000,
        stop_reason="Local",
    )


def power(at: datetime, tx: uuid.UUID, watts: float, *, soc: float | None = None, volts: float = 230.0):
    samples = [Sample(at=at, measurand="Power.Active.Import", value=watts, unit="W")]
    samples += [Sample(at=at, measurand="Voltage", value=volts, unit="V", phase=p) for p in ("L1-N", "L2-N", "L3-N")]
    if soc is not None:
        samples.append(Sample(at=at, measurand="SoC", value=soc, unit="Percent"))
    return MeterSampled(
        identity="CP1", evse=1, transaction_id=tx, transaction_number=tx.int % 1_000_000, samples=samples
    )


def session(d: LowPowerDetector, clock: Clock, token: str, watts: float, minutes: int, **kw: float):
    """A session drawing ``watts`` for ``minutes`` (a sample every 30 s); every signal."""
    tx = uuid.uuid4()
    d.feed(started(tx, token))
    out = []
    for _ in range(minutes * 2):
        out += d.feed(power(clock.advance(30), tx, watts, **kw))
    d.feed(ended(tx, token))
    return out


def test_a_car_that_drew_11_kw_before_gets_3_kw_here() -> None:
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    assert session(d, clock, "CAR1", 11_000, 10) == []  # learns the car draws 11 kW
    [signal] = session(d, clock, "CAR1", 3_000, 10, soc=30)
    assert (signal.kind, signal.topic, signal.cause) == ("power_supply", "low_power", "unknown")
    assert signal.evidence["expectedW"] == 11_000 and signal.evidence["carBestW"] == 11_000
    assert signal.evidence["forS"] >= S.low_power_s
    # The next car charging as it should clears it.
    [clear] = session(d, clock, "CAR1", 10_500, 3)
    assert clear.clears and clear.topic == "low_power"


def test_a_sagging_supply_is_named_as_the_cause() -> None:
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    session(d, clock, "CAR1", 11_000, 5)
    [signal] = session(d, clock, "CAR1", 4_000, 10, volts=205.0)
    assert signal.cause == "grid_supply" and set(signal.evidence["saggingPhases"]) == {"L1-N", "L2-N", "L3-N"}


def test_what_the_car_limits_raises_nothing() -> None:
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    # An unknown car (no history): its own limit is unknown, nothing to judge.
    assert session(d, clock, "NEW1", 3_600, 20) == []
    # A one-phase car always at 3.7 kW on a 22 kW charger: that is its best.
    assert session(d, clock, "NEW1", 3_700, 20) == []
    # A car tapering at high SoC.
    session(d, clock, "CAR2", 11_000, 5, soc=40)
    assert session(d, clock, "CAR2", 2_000, 20, soc=90) == []
    # A car on a small charger: the rating is the limit.
    d.know_rating("CP1", 1, 7.4)
    assert session(d, clock, "CAR2", 7_300, 20) == []


def test_a_charging_profile_is_a_limit_not_a_fault() -> None:
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    session(d, clock, "CAR1", 11_000, 5)
    d.feed(
        CommandAnswered(
            identity="CP1",
            name="set-charging-profile",
            outcome="answered",
            status="Accepted",
            args={"evse": 1, "limit": 3000, "unit": "W"},
            at=T0,
        )
    )
    assert session(d, clock, "CAR1", 3_000, 20) == []


def test_noisy_healthy_sessions_raise_nothing() -> None:
    rng = random.Random(7)
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    cars = {f"CAR{i}": rng.choice((3_700, 7_400, 11_000, 22_000)) for i in range(30)}
    for _ in range(200):
        token = rng.choice(list(cars))
        tx = uuid.uuid4()
        d.feed(started(tx, token))
        for _ in range(rng.randint(2, 60)):
            watts = cars[token] * rng.uniform(0.85, 1.0)
            assert d.feed(power(clock.advance(30), tx, watts, soc=rng.uniform(10, 59))) == []
        d.feed(ended(tx, token))


def test_a_car_pausing_is_not_the_charger() -> None:
    clock = Clock()
    d = LowPowerDetector(S, clock)
    d.know_rating("CP1", 1, 22.0)
    session(d, clock, "CAR1", 11_000, 5)
    # 1.6: the connector says SuspendedEV while the car draws nothing.
    d.feed(
        ConnectorStatusChanged(
            identity="CP1",
            evse=1,
            connector=1,
            status="SuspendedEV",
            error_code=None,
            vendor_error_code=None,
            info=None,
            at=T0,
        )
    )
    assert session(d, clock, "CAR1", 0, 20) == []
    d.feed(
        ConnectorStatusChanged(
            identity="CP1",
            evse=1,
            connector=1,
            status="Charging",
            error_code=None,
            vendor_error_code=None,
            info=None,
            at=T0,
        )
    )
    # 2.0.1: the transaction's charging state says it.
    tx = uuid.uuid4()
    d.feed(started(tx, "CAR1"))
    d.feed(
        TransactionUpdated(
            identity="CP1",
            transaction_id=tx,
            number=tx.int % 1_000_000,
            energy_wh=None,
            charging_state="SuspendedEV",
            at=T0,
        )
    )
    for _ in range(20):
        assert d.feed(power(clock.advance(30), tx, 0)) == []


def test_an_old_sockets_close_told_after_the_new_ones_open_changes_nothing() -> None:
    from app.chargers.events import ChargerConnected, ChargerDisconnected
    from app.health.detectors import OfflineDetector

    clock = Clock()
    d = OfflineDetector(S, 60, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    reconnected = T0 + timedelta(seconds=10)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=reconnected))
    # The first socket's close (at 9 s) is published only now.
    d.feed(ChargerDisconnected(identity="CP1", at=T0 + timedelta(seconds=9), reason="replaced"))
    assert d.tick(clock.advance(d.reconnect.total_seconds() + 1)) == []
    assert not d.is_down("CP1")
    d.feed(ChargerDisconnected(identity="CP1", at=reconnected + timedelta(seconds=5), reason="gone"))
    [signal] = d.tick(clock.advance(d.reconnect.total_seconds() + 1))
    assert signal.kind == "offline" and signal.evidence["reason"] == "socket_closed"


def _reset_accepted() -> CommandAnswered:
    return CommandAnswered(
        identity="CP1", name="reset", outcome="answered", status="Accepted", args={"kind": "soft"}, at=T0
    )


def test_a_charger_we_reset_gets_time_to_reboot_and_its_boot_is_no_loop() -> None:
    from app.chargers.events import ChargerBooted, ChargerConnected, ChargerDisconnected
    from app.health.detectors import BootDetector, OfflineDetector

    clock = Clock()
    offline = OfflineDetector(S, 60, clock)
    offline.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=T0))
    offline.feed(_reset_accepted())
    offline.feed(ChargerDisconnected(identity="CP1", at=clock.advance(1), reason="reboot"))
    assert offline.tick(clock.advance(60)) == []  # a real charger takes a minute to boot
    [late] = offline.tick(clock.advance(S.reboot_grace_s))  # but not forever
    assert late.evidence["reason"] == "socket_closed"

    boots = BootDetector(dataclasses.replace(S, boot_loop_count=2), clock)

    def booted() -> ChargerBooted:
        return ChargerBooted(
            identity="CP1",
            vendor="V",
            model="M",
            firmware_version="1",
            reason="PowerUp",
            registration_status="Accepted",
            at=clock.now,
        )

    assert boots.feed(booted()) == []
    boots.feed(_reset_accepted())
    assert boots.feed(booted()) == []  # the boot we asked for
    [loop] = boots.feed(booted())  # one nobody asked for
    assert loop.kind == "boot_loop"
