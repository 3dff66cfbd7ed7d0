"""Issue 14's false positives on healthy chargers: the register at a transaction's end is the
idle baseline, blips and announced reboots are no outages, planned boots are no loop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.chargers.events import ChargerBooted, ChargerConnected, ChargerDisconnected, ChargerEventRecorded
from app.core.settings import HealthSettings
from app.health.detectors import BootDetector, MeteringDetector, OfflineDetector
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = HealthSettings()


def register(
    at: datetime,
    wh: float,
    *,
    w: float | None = None,
    tx: uuid.UUID | None = None,
    evse: int = 1,
    context: str = "Sample.Periodic",
) -> MeterSampled:
    samples = [Sample(at=at, measurand="Energy.Active.Import.Register", value=wh, unit="Wh", context=context)]
    if w is not None:
        samples.append(Sample(at=at, measurand="Power.Active.Import", value=w, unit="W", context=context))
    return MeterSampled(identity="CP1", evse=evse, transaction_id=tx, samples=samples)


def started(tx: uuid.UUID) -> TransactionStarted:
    return TransactionStarted(
        identity="CP1", transaction_id=tx, number=1, evse=1, connector=1, id_token="A", started_at=T0, offline=False
    )


def ended(tx: uuid.UUID, at: datetime, meter_stop_wh: float | None) -> TransactionEnded:
    return TransactionEnded(
        identity="CP1",
        transaction_id=tx,
        number=1,
        evse=1,
        connector=1,
        id_token="A",
        started_at=T0,
        stopped_at=at,
        energy_wh=0.0,
        stop_reason="Local",
        meter_stop_wh=meter_stop_wh,
    )


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


# -- metering: every reading moves the baseline ------------------------------------------------


def test_meter_stop_after_a_late_last_periodic_reading_is_the_idle_baseline() -> None:
    """The issue's healthy 1.6 charger: 11 kW, the last periodic reading a minute before the
    stop (no transactionData), then idle readings at the meterStop register."""
    d = MeteringDetector(S, HandClock(T0))
    tx = uuid.uuid4()
    d.feed(started(tx))
    wh = 10_000.0
    for n in range(10):
        assert d.feed(register(minute(n), wh, w=11_000, tx=tx)) == []
        wh += 11_000 / 60
    stop_wh = wh + 11_000 / 60  # a minute more of charging, reported only as meterStop
    assert d.feed(ended(tx, minute(11), stop_wh)) == []
    for n in range(12, 120, 15):
        assert d.feed(register(minute(n), stop_wh, w=0)) == []


def test_transaction_end_samples_move_the_baseline_whatever_their_order() -> None:
    """1.6 transactionData holds the start's reading beside the end's: the newest counts, and
    a replayed older reading does not pull the baseline back."""
    d = MeteringDetector(S, HandClock(T0))
    tx = uuid.uuid4()
    d.feed(started(tx))
    assert d.feed(register(minute(0), 1_000, w=7_000, tx=tx)) == []
    end = Sample(
        at=minute(11), measurand="Energy.Active.Import.Register", value=2_300, unit="Wh", context="Transaction.End"
    )
    begin = Sample(
        at=minute(0), measurand="Energy.Active.Import.Register", value=1_000, unit="Wh", context="Transaction.Begin"
    )
    assert d.feed(MeterSampled(identity="CP1", evse=1, transaction_id=tx, samples=[end, begin])) == []
    assert d.feed(ended(tx, minute(11), None)) == []  # a 2.0.1 Ended: its reading came as samples
    assert d.feed(register(minute(5), 1_600, tx=tx)) == []  # a queued Updated, replayed late
    for n in range(12, 60, 15):
        assert d.feed(register(minute(n), 2_300)) == []


def test_a_stop_without_its_own_reading_leaves_the_sessions_tail_to_the_first_idle_reading() -> None:
    """A 2.0.1 Ended without meter values, the last Updated a minute before it: the first
    idle reading shows that minute at the last power, and it is the session's, not idle
    energy. More than the tail explains is still idle energy."""
    for tail_wh, told in ((11_000 / 60, False), (11_000 / 60 * 3, True)):
        d = MeteringDetector(S, HandClock(T0))
        tx = uuid.uuid4()
        d.feed(started(tx))
        d.feed(register(minute(0), 1_000, w=11_000, tx=tx))
        d.feed(register(minute(9), 1_000 + 9 * 11_000 / 60, w=11_000, tx=tx))
        last = 1_000 + 9 * 11_000 / 60
        assert d.feed(ended(tx, minute(10), last)) == []
        signals = d.feed(register(minute(15), last + tail_wh, w=0))
        assert [s.topic for s in signals] == (["idle_energy"] if told else [])
        if not told:
            [idle] = d.feed(register(minute(30), last + tail_wh + S.idle_energy_wh + 10))
            assert idle.topic == "idle_energy"


def test_energy_really_flowing_while_idle_is_still_told() -> None:
    d = MeteringDetector(S, HandClock(T0))
    tx = uuid.uuid4()
    d.feed(started(tx))
    d.feed(register(minute(0), 1_000, w=7_000, tx=tx))
    d.feed(ended(tx, minute(10), 2_160))
    assert d.feed(register(minute(15), 2_160)) == []
    [idle] = d.feed(register(minute(30), 2_160 + S.idle_energy_wh + 100))
    assert idle.topic == "idle_energy" and idle.evidence["sinceWh"] == 2_160


def test_the_charger_wide_meter_counts_a_running_session_not_idle_energy() -> None:
    """A 1.6 MeterValues on connector 0 is the charger's main meter: while EVSE 1 charges its
    register rises with that session."""
    d = MeteringDetector(S, HandClock(T0))
    tx = uuid.uuid4()
    d.feed(started(tx))
    for n in range(10):
        assert d.feed(register(minute(n), 5_000 + n * 180, evse=0)) == []


# -- offline: blips and announced reboots -------------------------------------------------------


def firmware(code: str) -> ChargerEventRecorded:
    return ChargerEventRecorded(
        identity="CP1", kind="firmware_status", code=code, evse=None, connector=None, at=T0, data={"status": code}
    )


def test_a_15_s_network_drop_is_no_outage_but_a_dead_charger_is_told_in_time() -> None:
    clock = HandClock(T0)
    d = OfflineDetector(S, 300, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="2.0.1", at=clock.now))
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="network"))
    for _ in range(15):
        assert d.tick(clock.advance(1)) == []
    assert d.feed(ChargerConnected(identity="CP1", ocpp_version="2.0.1", at=clock.now)) == []
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="dead"))
    told = []
    for second in range(1, 2 * 300 + 10 + 1):
        if signals := d.tick(clock.advance(1)):
            told.append((second, signals))
    [(second, [signal])] = told
    assert signal.kind == "offline" and signal.evidence["reason"] == "socket_closed"
    assert second <= 2 * 300 + 10


def test_a_firmware_update_announces_its_reboot() -> None:
    clock = HandClock(T0)
    d = OfflineDetector(S, 60, clock)  # a short heartbeat: 40 s down is more than it
    d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=clock.now))
    for code in ("Downloading", "Downloaded", "Installing"):
        d.feed(firmware(code))
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="reboot"))
    for _ in range(40):
        assert d.tick(clock.advance(1)) == []
    assert d.feed(ChargerConnected(identity="CP1", ocpp_version="1.6", at=clock.now)) == []
    d.feed(firmware("Installed"))
    # The reboot is over: the next closed socket has the ordinary reconnect window again.
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="dead"))
    assert d.tick(clock.advance(d.reconnect.total_seconds() - 1)) == []
    [signal] = d.tick(clock.advance(1))
    assert signal.evidence["reason"] == "socket_closed"


def test_an_announced_reboot_that_never_ends_is_still_an_outage() -> None:
    clock = HandClock(T0)
    d = OfflineDetector(S, 60, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="2.0.1", at=clock.now))
    d.feed(firmware("InstallRebooting"))
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="reboot"))
    assert d.tick(clock.advance(S.reboot_grace_s - 1)) == []
    [signal] = d.tick(clock.advance(1))
    assert signal.kind == "offline"


def test_a_failed_download_announces_no_reboot() -> None:
    clock = HandClock(T0)
    d = OfflineDetector(S, 60, clock)
    d.feed(ChargerConnected(identity="CP1", ocpp_version="2.0.1", at=clock.now))
    d.feed(firmware("Downloaded"))
    d.feed(firmware("InvalidSignature"))
    d.feed(ChargerDisconnected(identity="CP1", at=clock.now, reason="gone"))
    [signal] = d.tick(clock.advance(d.reconnect.total_seconds()))
    assert signal.kind == "offline"


# -- boots ---------------------------------------------------------------------------------------


def booted(reason: str | None) -> ChargerBooted:
    return ChargerBooted(
        identity="CP1",
        vendor="V",
        model="M",
        firmware_version="1.0",
        reason=reason,
        registration_status="Accepted",
        at=T0,
    )


def test_planned_boots_are_no_loop_but_crashes_are() -> None:
    clock = HandClock(T0)
    d = BootDetector(S, clock)
    d.feed(firmware("Installing"))
    assert d.feed(booted("PowerUp")) == []  # the update's reboot (1.6 has no reason)
    for reason in ("FirmwareUpdate", "RemoteReset", "ScheduledReset"):
        clock.advance(30)
        assert d.feed(booted(reason)) == []
    for _ in range(S.boot_loop_count - 1):
        clock.advance(30)
        assert d.feed(booted("Watchdog")) == []
    clock.advance(30)
    [loop] = d.feed(booted("Watchdog"))
    assert loop.kind == "boot_loop"
