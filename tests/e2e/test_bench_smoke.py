"""`python -m bench` end to end with tiny numbers: it runs, cleans up and prints its table.

Never asserts on speed: only that every row is there with a number.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.nats import NATS_SERVER
from devtools.simulator.faults import FAULTS, HEALTHY

# Starts the bench's processes: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [pytest.mark.subprocess, pytest.mark.bench]

ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "LADDNAT_TEST_DATABASE_URL"


def _row(table: str, name: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{table}")


def _number(cell: str) -> float:
    match = re.fullmatch(r"[<>]?\s*(-?\d+(?:\.\d+)?)", cell)
    assert match, f"not a number: {cell!r}"
    return float(match.group(1))


def test_bench_runs_and_prints_its_table() -> None:
    pg_url = os.environ.get(PG_ENV)
    db = ["--db", "both", "--pg-url", pg_url] if pg_url else ["--db", "sqlite"]
    argv = [sys.executable, "-m", "bench", "--chargers", "120", "--active", "30", "--duration", "1.5"]
    argv += ["--workers", "2", "--rate", "60", "--storm-timeout", "20", "--connect-timeout", "30", *db]
    argv += ["--skip-health"]  # test_bench_health_phase runs it alone
    argv += ["--skip-scaleout"]  # test_bench_scaleout_phase runs it alone
    argv += ["--first-contact", "150", "--first-contact-timeout", "20"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = proc.stdout
    assert table.startswith("Laddnät bench:") and "cores" in table and "Python" in table

    dbs = ["SQLite", "PostgreSQL"] if pg_url else ["SQLite"]
    assert _number(_row(table, "Chargers connected + booted")[1]) == 120
    assert _number(_row(table, "Bridge RSS per connection (KiB)")[1]) > 0
    assert _number(_row(table, "Baseline raw websockets server (msg/s)")[1]) > 0
    for label in dbs:
        assert _number(_row(table, f"Throughput at saturation, {label} (msg/s)")[1]) > 0
        assert _number(_row(table, f"Throughput / baseline, {label}")[1]) > 0
        p50 = _number(_row(table, f"Reply latency p50 at 60 msg/s, {label} (ms)")[1])
        p99 = _number(_row(table, f"Reply latency p99 at 60 msg/s, {label} (ms)")[1])
        assert 0 < p50 <= p99
    _number(_row(table, "Reconnect storm: all Accepted after (s)")[1])
    assert _number(_row(table, "Reconnect storm: refused")[1]) >= 0
    assert _number(_row(table, "Reconnect storm: failed attempts")[1]) >= 0
    assert _number(_row(table, "First contact: 150 chargers onto a fresh bridge, all Accepted after (s)")[1]) > 0
    assert _number(_row(table, "First contact, baseline argon2id hashes: all Accepted after (s)")[1]) > 0
    # The commands go through the API during the latency window of the last database.
    command_db = dbs[-1]
    p50 = _number(_row(table, f"Command round trip p50, {command_db} (ms)")[1])
    p99 = _number(_row(table, f"Command round trip p99, {command_db} (ms)")[1])
    assert 0 < p50 <= p99
    if pg_url:  # the bench database is gone again
        assert "could not drop" not in proc.stderr


# Every fault kind once, a handful of healthy chargers, offline in seconds: a heartbeat
# interval of 1 s, 1 s of grace and site window, a tick of 0.25 s.
HEALTH_ARGV = [
    "--health-only",
    "--db",
    "sqlite",
    "--health-fleet",
    "6",
    "--health-duration",
    "4",
    "--health-reps",
    "1",
    "--health-heartbeat",
    "1",
    "--health-workers",
    "1",
    "--health-warmup",
    "1",
    "--health-timeout",
    "3",
    "--health-env",
    "LADDNAT_HEALTH_OFFLINE_GRACE_S=1",
    "--health-env",
    "LADDNAT_HEALTH_SITE_WINDOW_S=1",
    "--health-env",
    "LADDNAT_HEALTH_TICK_INTERVAL_S=0.25",
]


def test_bench_health_phase_prints_its_tables() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *HEALTH_ARGV],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert out.startswith("Laddnät bench:") and "Fault detection on SQLite" in out

    # Each fault kind has its row; the ones the monitor must see in time are seen, once each.
    for name in (
        "reported_error: 1.6 StatusNotification errorCode",
        "reported_error: 2.0.1 StatusNotification Faulted",
        "reported_error: 2.0.1 NotifyEvent Problem",
        "offline: socket closed",
        "offline: connected, heartbeats stop",
        "site_network: all 3 chargers of a site close their sockets",
    ):
        row = _row(out, name)
        assert row[1] == "1/1", row
        assert 0 < _number(row[2]) <= _number(row[3]) and row[5] in {"met", "missed"}, row
    for name in ("overheating: 2.0.1 TemperatureSensor event", "metering: register stuck while charging"):
        assert _row(out, name)[1] == "1/1"
    for name in ("overheating: 1.6 Temperature measurand", "power_supply: voltage under the band", "boot_loop:"):
        assert any(line.startswith(f"| {name}") for line in out.splitlines()), name

    # Each timed fault's cause is judged too.
    assert "| met | right cause | detail |" in out
    assert re.fullmatch(r"\d+/1", _row(out, "offline: socket closed")[6])

    # The corpus: every scripted fault and healthy routine once, scored against the fault's own truth.
    summary = next(
        _row(out, line.split("|")[1].strip()) for line in out.splitlines() if line.startswith("| all faults")
    )
    assert summary[1] == str(len(FAULTS)), summary
    assert all(re.fullmatch(r"\d+ \(\d+ %\)", cell) for cell in summary[2:5]), summary
    assert _row(out, "healthy routines with incidents")[1] == str(len(HEALTHY))
    # The confidence calibration: the >= 0.8 bin against its 0.8 target.
    confident = _row(out, ">= 0.8")
    assert int(confident[1]) >= int(confident[2]) >= 0 and confident[4:6] in (
        [">= 0.8", "met"],
        [">= 0.8", "missed"],
    ), confident
    assert _row(out, "all")[1] == str(sum(int(_row(out, label)[1]) for label in ("< 0.5", "0.5 - 0.8", ">= 0.8")))

    assert _number(_row(out, "False positives: incidents on healthy chargers")[1]) >= 0
    assert _number(_row(out, "False positives: offline on the faulty chargers")[1]) >= 0
    assert _number(_row(out, "Incidents the injected faults opened")[1]) >= 6
    assert _number(_row(out, "Server during the health run (cores)")[1]) > 0


@pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")
@pytest.mark.skipif(
    not os.environ.get(PG_ENV, "").startswith("postgresql"), reason="many processes share one database: PostgreSQL"
)
def test_bench_scaleout_phase_prints_its_rows() -> None:
    argv = [sys.executable, "-m", "bench", "--scaleout-only", "--db", "postgres", "--pg-url", os.environ[PG_ENV]]
    argv += ["--scaleout-chargers", "40", "--scaleout-pinned", "8", "--active", "8", "--duration", "1"]
    argv += ["--rate", "40", "--commands", "4", "--storm-timeout", "30"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = proc.stdout
    assert table.startswith("Laddnät bench:"), table
    assert "Scale-out: broke off" not in table, table

    assert _number(_row(table, "Scale-out: chargers on 2 bridges, connected + booted")[1]) == 40
    for label in ("raw websockets server, pinned", "1 bridge, pinned", "2 bridges pinned to the same core"):
        assert _number(_row(table, f"Pinned throughput, {label} (msg/s)")[1]) > 0
    assert _number(_row(table, "Pinned throughput / raw websockets, 1 bridge, pinned")[1]) > 0
    p50 = _number(_row(table, "Scale-out: command round trip p50, API -> NATS -> bridge (ms)")[1])
    p99 = _number(_row(table, "Scale-out: command round trip p99, API -> NATS -> bridge (ms)")[1])
    assert 0 < p50 <= p99
    assert _number(_row(table, "Scale-out: JetStream events stored (/s)")[1]) > 0
    assert _number(_row(table, "Scale-out: JetStream events handled by consumers (/s)")[1]) >= 0
    storm = _row(table, "Scale-out: kill -9 of a bridge, its chargers all Accepted on a fresh bridge after (s)")
    assert _number(storm[1]) > 0 and storm[3].startswith("20/20 Accepted"), storm
    assert "could not drop" not in proc.stderr
