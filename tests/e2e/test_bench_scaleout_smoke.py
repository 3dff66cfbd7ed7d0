"""`python -m bench`'s scale-out phase with 40 chargers: two bridges, an API and a worker on
NATS and PostgreSQL, every row printed with a number."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.nats import NATS_SERVER
from tests.e2e.bench_table import PG_ENV, ROOT, assert_all_accepted, number, row_of

# Starts the bench's processes: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [pytest.mark.subprocess, pytest.mark.bench]


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

    assert number(row_of(table, "Scale-out: chargers on 2 bridges, connected + booted")[1]) == 40
    for label in ("raw websockets server, pinned", "1 bridge, pinned", "2 bridges pinned to the same core"):
        assert number(row_of(table, f"Pinned throughput, {label} (msg/s)")[1]) > 0
    assert number(row_of(table, "Pinned throughput / raw websockets, 1 bridge, pinned")[1]) > 0
    p50 = number(row_of(table, "Scale-out: command round trip p50, API -> NATS -> bridge (ms)")[1])
    p99 = number(row_of(table, "Scale-out: command round trip p99, API -> NATS -> bridge (ms)")[1])
    assert 0 < p50 <= p99
    assert number(row_of(table, "Scale-out: JetStream events stored (/s)")[1]) > 0
    assert number(row_of(table, "Scale-out: JetStream events handled by consumers (/s)")[1]) >= 0
    storm = row_of(table, "Scale-out: kill -9 of a bridge, its chargers all Accepted on a fresh bridge after (s)")
    assert_all_accepted(storm, 20)
    assert "could not drop" not in proc.stderr
