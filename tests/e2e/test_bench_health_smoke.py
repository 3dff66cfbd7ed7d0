"""`python -m bench`'s health phase with tiny numbers: every table is printed, every row holds a number."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from devtools.simulator.faults import FAULTS, HEALTHY
from tests.e2e.bench_table import PG_ENV, ROOT, number, row_of

# Starts the bench's processes: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.bench,
    # The phase runs its monitors on a SQLite file of its own whatever the suite's database:
    # the PostgreSQL run would repeat the SQLite run's test.
    pytest.mark.skipif(bool(os.environ.get(PG_ENV)), reason="the health phase runs on SQLite only"),
]

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
        row = row_of(out, name)
        assert row[1] == "1/1", row
        assert 0 < number(row[2]) <= number(row[3]) and row[5] in {"met", "missed"}, row
    for name in ("overheating: 2.0.1 TemperatureSensor event", "metering: register stuck while charging"):
        assert row_of(out, name)[1] == "1/1"
    for name in ("overheating: 1.6 Temperature measurand", "power_supply: voltage under the band", "boot_loop:"):
        assert any(line.startswith(f"| {name}") for line in out.splitlines()), name

    # Each timed fault's cause is judged too.
    assert "| met | right cause | detail |" in out
    assert re.fullmatch(r"\d+/1", row_of(out, "offline: socket closed")[6])

    # The corpus: every scripted fault and healthy routine once, scored against the fault's own truth.
    summary = next(
        row_of(out, line.split("|")[1].strip()) for line in out.splitlines() if line.startswith("| all faults")
    )
    assert summary[1] == str(len(FAULTS)), summary
    assert all(re.fullmatch(r"\d+ \(\d+ %\)", cell) for cell in summary[2:5]), summary
    assert row_of(out, "healthy routines with incidents")[1] == str(len(HEALTHY))
    # The confidence calibration: the >= 0.8 bin against its 0.8 target.
    confident = row_of(out, ">= 0.8")
    assert int(confident[1]) >= int(confident[2]) >= 0 and confident[4:6] in (
        [">= 0.8", "met"],
        [">= 0.8", "missed"],
    ), confident
    assert row_of(out, "all")[1] == str(sum(int(row_of(out, label)[1]) for label in ("< 0.5", "0.5 - 0.8", ">= 0.8")))

    assert number(row_of(out, "False positives: incidents on healthy chargers")[1]) >= 0
    assert number(row_of(out, "False positives: offline on the faulty chargers")[1]) >= 0
    assert number(row_of(out, "Incidents the injected faults opened")[1]) >= 6
    assert number(row_of(out, "Server during the health run (cores)")[1]) > 0
