"""`python -m bench` end to end with tiny numbers: it runs, cleans up and prints its table.

Never asserts on speed: only that every row is there with a number.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
    # The commands go through the API during the latency window of the last database.
    command_db = dbs[-1]
    p50 = _number(_row(table, f"Command round trip p50, {command_db} (ms)")[1])
    p99 = _number(_row(table, f"Command round trip p99, {command_db} (ms)")[1])
    assert 0 < p50 <= p99
    if pg_url:  # the bench database is gone again
        assert "could not drop" not in proc.stderr
