"""`python -m bench` end to end with tiny numbers: it runs, cleans up and prints its table.

Never asserts on speed: only that every row is there with a number. (The health and the
scale-out phases have modules of their own, so the test workers run the three side by side.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.bench_table import PG_ENV, ROOT, assert_all_accepted, number, row_of

# Starts the bench's processes: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [pytest.mark.subprocess, pytest.mark.bench, pytest.mark.one_database]


def test_bench_runs_and_prints_its_table() -> None:
    pg_url = os.environ.get(PG_ENV)
    # One database per run: CI's SQLite run covers the SQLite rows, its PostgreSQL run these.
    db = ["--db", "postgres", "--pg-url", pg_url] if pg_url else ["--db", "sqlite"]
    argv = [sys.executable, "-m", "bench", "--chargers", "120", "--active", "30", "--duration", "1.5"]
    argv += ["--workers", "2", "--rate", "60", "--storm-timeout", "20", "--connect-timeout", "30", *db]
    argv += ["--skip-health"]  # test_bench_health_phase runs it alone
    argv += ["--skip-scaleout"]  # test_bench_scaleout_phase runs it alone
    argv += ["--first-contact", "150", "--first-contact-timeout", "20"]
    # Its own phases have deadlines; this only stops a hang. It took 80-97 s on a slow 2-core
    # machine beside three other test workers, and 120 s with five.
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = proc.stdout
    assert table.startswith("Laddnät bench:") and "cores" in table and "Python" in table

    dbs = ["PostgreSQL"] if pg_url else ["SQLite"]
    assert number(row_of(table, "Chargers connected + booted")[1]) == 120
    assert number(row_of(table, "Bridge RSS per connection (KiB)")[1]) > 0
    assert number(row_of(table, "Baseline raw websockets server (msg/s)")[1]) > 0
    for label in dbs:
        assert number(row_of(table, f"Throughput at saturation, {label} (msg/s)")[1]) > 0
        assert number(row_of(table, f"Throughput / baseline, {label}")[1]) > 0
        p50 = number(row_of(table, f"Reply latency p50 at 60 msg/s, {label} (ms)")[1])
        p99 = number(row_of(table, f"Reply latency p99 at 60 msg/s, {label} (ms)")[1])
        assert 0 < p50 <= p99
    number(row_of(table, "Reconnect storm: all Accepted after (s)")[1])
    assert number(row_of(table, "Reconnect storm: refused")[1]) >= 0
    assert number(row_of(table, "Reconnect storm: failed attempts")[1]) >= 0
    assert_all_accepted(row_of(table, "First contact: 150 chargers onto a fresh bridge, all Accepted after (s)"), 150)
    assert_all_accepted(row_of(table, "First contact, baseline argon2id hashes: all Accepted after (s)"), 150)
    # The commands go through the API during the latency window of the last database.
    command_db = dbs[-1]
    p50 = number(row_of(table, f"Command round trip p50, {command_db} (ms)")[1])
    p99 = number(row_of(table, f"Command round trip p99, {command_db} (ms)")[1])
    assert 0 < p50 <= p99
    if pg_url:  # the bench database is gone again
        assert "could not drop" not in proc.stderr


# Every fault kind once, a handful of healthy chargers, offline in seconds: a heartbeat
# interval of 1 s, 1 s of grace and site window, a tick of 0.25 s.
